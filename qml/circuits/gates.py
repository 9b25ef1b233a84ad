"""The native gate table: encoding Cirq gates, rebuilding them, and batched unitaries.

Each native gate kind has a short name (the ``"g"`` field of the circuit format), named
parameters, and a function that computes its unitary for a whole batch of parameter
values at once. The table is the single source of truth for the serializer and the
compiler.

Example:
    >>> import cirq
    >>> kind, params = encode_gate(cirq.X**0.5)
    >>> kind, params
    ('XPow', {'t': 0.5, 's': 0.0})
    >>> np.allclose(batched_unitary(kind, params, {})[0], cirq.unitary(cirq.X**0.5))
    True
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping, Union

import cirq
import numpy as np
import sympy

from qml.circuits import expressions
from qml.errors import UnsupportedGateError

Params = dict[str, expressions.Tree]

# Gates whose unitary is sum_k exp(i pi t (theta_k + s)) P_k, from cirq.EigenGate.
EIGEN_GATES: dict[str, type] = {
    "XPow": cirq.XPowGate,
    "YPow": cirq.YPowGate,
    "ZPow": cirq.ZPowGate,
    "HPow": cirq.HPowGate,
    "XXPow": cirq.XXPowGate,
    "YYPow": cirq.YYPowGate,
    "ZZPow": cirq.ZZPowGate,
    "CZPow": cirq.CZPowGate,
    "CXPow": cirq.CXPowGate,
    "SwapPow": cirq.SwapPowGate,
    "ISwapPow": cirq.ISwapPowGate,
    "CCXPow": cirq.CCXPowGate,
    "CCZPow": cirq.CCZPowGate,
}
# Rotations keep their own kind so that a round trip gives back cirq.Rx, not XPowGate.
ROTATIONS: dict[str, tuple[type, str]] = {
    "Rx": (cirq.Rx, "XPow"),
    "Ry": (cirq.Ry, "YPow"),
    "Rz": (cirq.Rz, "ZPow"),
}
# Every kind and the parameter names it carries; expressions may use symbols in these.
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    **{kind: ("t", "s") for kind in EIGEN_GATES},
    **{kind: ("r",) for kind in ROTATIONS},
    "PhasedXPow": ("p", "t", "s"),
    "PhasedXZ": ("x", "z", "a"),
    "PhasedISwapPow": ("p", "t"),
    "FSim": ("theta", "phi"),
    "I": (),
    "CSwap": (),
    "Matrix": (),
}
_KIND_BY_TYPE = {cls: kind for kind, cls in EIGEN_GATES.items()}
_KIND_BY_TYPE.update({cls: kind for kind, (cls, _) in ROTATIONS.items()})
_EIGEN_GATE_QUBITS = {kind: cirq.num_qubits(cls()) for kind, cls in EIGEN_GATES.items()}
MAX_MATRIX_QUBITS = 4


def encode_gate(gate: cirq.Gate) -> tuple[str, dict]:
    """Returns the kind and the JSON fields of a Cirq gate.

    A gate outside the native set that has a constant unitary on up to
    ``MAX_MATRIX_QUBITS`` qubits is stored as a ``Matrix`` gate.

    Raises:
        UnsupportedGateError: for a gate that qml cannot represent.
    """
    gate_type = type(gate)
    # Walk the class hierarchy so that subclasses (cirq.X is a _PauliX, an XPowGate)
    # map to their native kind, while cirq.Rx finds its own entry before XPowGate's.
    kind = next((_KIND_BY_TYPE[c] for c in gate_type.__mro__ if c in _KIND_BY_TYPE), None)
    enc = expressions.encode
    if kind in EIGEN_GATES:
        return kind, {"t": enc(gate.exponent), "s": enc(gate.global_shift)}
    if kind in ROTATIONS:
        return kind, {"r": enc(gate.exponent * sympy.pi if _symbolic(gate.exponent)
                               else float(gate.exponent) * np.pi)}
    if gate_type is cirq.PhasedXPowGate:
        return "PhasedXPow", {
            "p": enc(gate.phase_exponent),
            "t": enc(gate.exponent),
            "s": enc(gate.global_shift),
        }
    if gate_type is cirq.PhasedXZGate:
        return "PhasedXZ", {
            "x": enc(gate.x_exponent),
            "z": enc(gate.z_exponent),
            "a": enc(gate.axis_phase_exponent),
        }
    if gate_type is cirq.PhasedISwapPowGate:
        return "PhasedISwapPow", {"p": enc(gate.phase_exponent), "t": enc(gate.exponent)}
    if gate_type is cirq.FSimGate:
        return "FSim", {"theta": enc(gate.theta), "phi": enc(gate.phi)}
    if gate_type is cirq.IdentityGate:
        return "I", {"n": gate.num_qubits()}
    if gate_type is cirq.CSwapGate:
        return "CSwap", {}
    if isinstance(gate, cirq.MeasurementGate):
        raise UnsupportedGateError("measurement gates are encoded by the serializer")
    if cirq.is_parameterized(gate):
        raise UnsupportedGateError(
            f"gate {gate!r} is not supported with symbolic parameters; supported "
            f"parameterized gates are {', '.join(sorted(KIND_PARAMS))}"
        )
    num_qubits = gate.num_qubits()
    matrix = cirq.unitary(gate, None) if num_qubits <= MAX_MATRIX_QUBITS else None
    if matrix is None or any(d != 2 for d in cirq.qid_shape(gate)) or num_qubits == 0:
        raise UnsupportedGateError(
            f"gate {gate!r} is not supported: it is not a native gate and has no "
            f"unitary on 1 to {MAX_MATRIX_QUBITS} qubits"
        )
    return "Matrix", {"n": num_qubits, "m": _flatten_complex(matrix)}


def decode_gate(kind: str, fields: Mapping) -> cirq.Gate:
    """Rebuilds the Cirq gate that ``encode_gate`` encoded."""
    params = {name: expressions.decode(fields[name]) for name in KIND_PARAMS[kind]}
    if kind in EIGEN_GATES:
        return EIGEN_GATES[kind](exponent=params["t"], global_shift=params["s"])
    if kind in ROTATIONS:
        return ROTATIONS[kind][0](rads=params["r"])
    if kind == "PhasedXPow":
        return cirq.PhasedXPowGate(
            phase_exponent=params["p"], exponent=params["t"], global_shift=params["s"]
        )
    if kind == "PhasedXZ":
        return cirq.PhasedXZGate(
            x_exponent=params["x"], z_exponent=params["z"], axis_phase_exponent=params["a"]
        )
    if kind == "PhasedISwapPow":
        return cirq.PhasedISwapPowGate(phase_exponent=params["p"], exponent=params["t"])
    if kind == "FSim":
        return cirq.FSimGate(theta=params["theta"], phi=params["phi"])
    if kind == "I":
        return cirq.IdentityGate(int(fields["n"]))
    if kind == "CSwap":
        return cirq.CSWAP
    return cirq.MatrixGate(matrix_of(fields))


def num_qubits_of(kind: str, fields: Mapping) -> int:
    """How many qubits a gate of ``kind`` acts on."""
    if kind in ("I", "Matrix"):
        return int(fields["n"])
    if kind in EIGEN_GATES:
        return _EIGEN_GATE_QUBITS[kind]
    if kind in ("PhasedISwapPow", "FSim"):
        return 2
    if kind == "CSwap":
        return 3
    return 1


def matrix_of(fields: Mapping) -> np.ndarray:
    """The constant matrix of a ``Matrix`` gate."""
    dim = 2 ** int(fields["n"])
    flat = np.asarray(fields["m"], dtype=np.float64).reshape(dim, dim, 2)
    return flat[..., 0] + 1j * flat[..., 1]


def batched_unitary(
    kind: str, fields: Mapping, columns: Mapping[str, np.ndarray]
) -> np.ndarray:
    """The unitary of one gate for a batch of symbol values.

    Args:
        kind: the gate kind.
        fields: the gate's fields, as in the circuit format.
        columns: symbol name to a 1-D array of values, one per batch row.

    Returns:
        complex128 array ``[batch, 2**k, 2**k]``, with batch 1 for a constant gate.
    """
    values = {
        name: np.atleast_1d(np.asarray(expressions.evaluate(fields[name], columns), float))
        for name in KIND_PARAMS[kind]
    }
    return _UNITARIES[kind](values, fields)


Number = Union[float, np.ndarray]


def eigen_shifts(kind: str) -> np.ndarray:
    """The eigen-shifts theta_k of an EigenGate kind: its unitary is
    ``sum_k exp(i pi t (theta_k + s)) P_k`` for exponent t and global shift s."""
    return _eigen_parts(kind)[0]


def _eigen_unitary(base_kind: str, t: Number, s: Number) -> np.ndarray:
    shifts, projectors = _eigen_parts(base_kind)
    t, s = np.broadcast_arrays(np.atleast_1d(t), np.atleast_1d(s))
    phases = np.exp(1j * np.pi * t[:, None] * (shifts[None, :] + s[:, None]))
    return np.einsum("bk,kij->bij", phases, projectors)


@functools.lru_cache(maxsize=None)
def _eigen_parts(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-shifts theta_k in (-1, 1] and projectors P_k of a gate at exponent 1.

    Computed from the public unitary with Sylvester's formula, so the projectors are
    exact even where eigenvalues repeat.
    """
    unitary = cirq.unitary(EIGEN_GATES[kind]())
    angles = np.angle(np.linalg.eigvals(unitary)) / np.pi
    shifts = sorted({(round(2 * a) / 2) if round(2 * a) / 2 != -1 else 1.0 for a in angles})
    eigenvalues = [np.exp(1j * np.pi * theta) for theta in shifts]
    identity = np.eye(unitary.shape[0])
    projectors = []
    for k, lam in enumerate(eigenvalues):
        projector = identity.astype(complex)
        for j, other in enumerate(eigenvalues):
            if j != k:
                projector = projector @ (unitary - other * identity) / (lam - other)
        projectors.append(projector)
    return np.array(shifts), np.array(projectors)


def _z_phase(t: Number) -> np.ndarray:
    t = np.atleast_1d(t)
    out = np.zeros((t.shape[0], 2, 2), complex)
    out[:, 0, 0] = 1
    out[:, 1, 1] = np.exp(1j * np.pi * t)
    return out


def _phased_x(v: Mapping[str, np.ndarray], _: Mapping) -> np.ndarray:
    p = v["p"]
    return _z_phase(p) @ _eigen_unitary("XPow", v["t"], v["s"]) @ _z_phase(-p)


def _phased_xz(v: Mapping[str, np.ndarray], _: Mapping) -> np.ndarray:
    x_gate = _eigen_unitary("XPow", v["x"], 0.0)
    return _z_phase(v["z"] + v["a"]) @ x_gate @ _z_phase(-v["a"])


def _phased_iswap(v: Mapping[str, np.ndarray], _: Mapping) -> np.ndarray:
    p = v["p"]
    iswap = _eigen_unitary("ISwapPow", v["t"], 0.0)
    z_p, z_minus_p = _z_phase(p), _z_phase(-p)
    before = np.einsum("bij,bkl->bikjl", z_p, z_minus_p).reshape(-1, 4, 4)
    after = np.einsum("bij,bkl->bikjl", z_minus_p, z_p).reshape(-1, 4, 4)
    return after @ iswap @ before


def _fsim(v: Mapping[str, np.ndarray], _: Mapping) -> np.ndarray:
    theta, phi = np.broadcast_arrays(v["theta"], v["phi"])
    out = np.zeros((theta.shape[0], 4, 4), complex)
    out[:, 0, 0] = 1
    out[:, 1, 1] = out[:, 2, 2] = np.cos(theta)
    out[:, 1, 2] = out[:, 2, 1] = -1j * np.sin(theta)
    out[:, 3, 3] = np.exp(-1j * phi)
    return out


_UNITARIES: dict[str, Callable[[Mapping[str, np.ndarray], Mapping], np.ndarray]] = {
    **{
        kind: functools.partial(lambda k, v, _: _eigen_unitary(k, v["t"], v["s"]), kind)
        for kind in EIGEN_GATES
    },
    **{
        kind: functools.partial(lambda k, v, _: _eigen_unitary(k, v["r"] / np.pi, -0.5), base)
        for kind, (_, base) in ROTATIONS.items()
    },
    "PhasedXPow": _phased_x,
    "PhasedXZ": _phased_xz,
    "PhasedISwapPow": _phased_iswap,
    "FSim": _fsim,
    "I": lambda _, fields: np.eye(2 ** int(fields["n"]), dtype=complex)[None],
    "CSwap": lambda _, __: cirq.unitary(cirq.CSWAP).astype(complex)[None],
    "Matrix": lambda _, fields: matrix_of(fields)[None],
}


def _symbolic(value: object) -> bool:
    return isinstance(value, sympy.Basic) and not isinstance(value, sympy.Number)


def _flatten_complex(matrix: np.ndarray) -> list[list[float]]:
    return [[float(z.real), float(z.imag)] for z in np.asarray(matrix).reshape(-1)]
