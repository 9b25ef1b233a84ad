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

import dataclasses
import functools
import json
from typing import Mapping, Optional, Sequence, Union

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
    if any(d != 2 for d in cirq.qid_shape(gate)):
        raise UnsupportedGateError(
            f"gate {_describe(gate)} acts on qudits of shape {cirq.qid_shape(gate)}; qml "
            "simulates qubits only")
    if not 1 <= num_qubits <= MAX_MATRIX_QUBITS:
        raise UnsupportedGateError(
            f"gate {_describe(gate)} acts on {num_qubits} qubits; gates that are not "
            f"native are taken as matrices on 1 to {MAX_MATRIX_QUBITS} qubits: decompose it "
            "first, for example with cirq.decompose(circuit)")
    matrix = cirq.unitary(gate, None)
    if matrix is None:
        raise UnsupportedGateError(
            f"gate {_describe(gate)} is not supported: it is not a native gate and has no "
            "unitary (_unitary_); give it one, or decompose it first, for example with "
            "cirq.decompose(circuit)")
    return "Matrix", {"n": num_qubits, "m": _flatten_complex(matrix)}


def _describe(gate: cirq.Gate) -> str:
    """The gate's repr, or its type and size where the repr is long (a large matrix)."""
    text = repr(gate)
    if len(text) <= 120:
        return text
    return f"{type(gate).__name__} on {gate.num_qubits()} qubits"


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
    terms = fourier_terms(kind, fields)
    size = max([1] + [v.shape[0] for v in values.values()])
    phases = np.stack([np.broadcast_to(phase_value(term.phase, values), (size,))
                       for term in terms], axis=1)
    return np.einsum("bm,mij->bij", np.exp(1j * phases), np.array([t.matrix for t in terms]))


def constant_unitaries(kind: str, table: list[Mapping]) -> Sequence[np.ndarray]:
    """The ``[d, d]`` unitaries of gates of one ``kind`` without symbols, from their
    Fourier terms, all at once.

    Example:
        >>> u = constant_unitaries("Rx", [{"r": 0.3}, {"r": 1.0}])
        >>> np.allclose(u[1], cirq.unitary(cirq.rx(1.0)))
        True
    """
    if kind in ("I", "Matrix"):  # one fixed matrix each, of its own size
        return [fourier_terms(kind, fields)[0].matrix for fields in table]
    values = {name: np.array([value if type(value) is float  # plain floats, the usual case
                              else float(expressions.evaluate(value, {}))
                              for value in (fields[name] for fields in table)])
              for name in KIND_PARAMS[kind]}
    terms = fourier_terms(kind, {})
    phases = np.stack([np.broadcast_to(phase_value(term.phase, values), (len(table),))
                       for term in terms], axis=1)
    return np.einsum("nm,mij->nij", np.exp(1j * phases), _term_matrices(terms))


@functools.lru_cache(maxsize=1024)
def _term_matrices(terms: tuple) -> np.ndarray:
    return np.array([term.matrix for term in terms])


Number = Union[float, np.ndarray]
Phase = tuple[tuple[tuple[str, ...], float], ...]
"""A gate phase in radians: a sum of ``coefficient * product of parameter values``."""


@dataclasses.dataclass(frozen=True, eq=False)
class FourierTerm:
    """One term ``exp(i * phase) * matrix`` of a gate's unitary."""

    phase: Phase
    matrix: np.ndarray


def phase_value(phase: Phase, values: Mapping[str, Number]) -> Number:
    """Evaluates a phase for parameter values (numpy arrays or TensorFlow tensors)."""
    total = 0.0
    for names, coefficient in phase:
        product = coefficient
        for name in names:
            product = product * values[name]
        total = total + product
    return total


def phase_derivative(phase: Phase, name: str, values: Mapping[str, Number]) -> Number:
    """d(phase)/d(parameter ``name``) at parameter ``values``.

    Example:
        >>> phase_derivative(((("s", "t"), 2.0),), "t", {"s": 0.5, "t": 3.0})
        1.0
    """
    total = 0.0
    for names, coefficient in phase:
        for k, factor in enumerate(names):
            if factor != name:
                continue
            product = coefficient
            for other in names[:k] + names[k + 1:]:
                product = product * values[other]
            total = total + product
    return total


def phase_slope(phase: Phase, name: str, constants: Mapping[str, float]) -> Optional[float]:
    """d(phase)/d(parameter ``name``), or None if it depends on a non-constant parameter.

    ``constants`` holds the values of the gate's parameters that have no symbols.
    """
    slope = 0.0
    for names, coefficient in phase:
        if name not in names:
            continue
        rest = list(names)
        rest.remove(name)
        if any(other not in constants for other in rest) or name in rest:
            return None
        slope += coefficient * float(np.prod([constants[other] for other in rest]))
    return slope


def fourier_terms(kind: str, fields: Mapping) -> tuple[FourierTerm, ...]:
    """The unitary of a gate kind as ``sum_m exp(i * phase_m) * matrix_m``.

    Every native gate has this form with phases that are sums of products of its
    parameters, which gives its exact derivative, its frequencies for parameter
    shifts, and the same unitary in numpy and in TensorFlow.

    Example:
        >>> [t.phase for t in fourier_terms("Rz", {"r": 0.1})]
        [((('r',), -0.5),), ((('r',), 0.5),)]
    """
    if kind in ("I", "Matrix"):
        return _fixed_terms(kind, json.dumps(fields, sort_keys=True))
    return _kind_terms(kind)


@functools.lru_cache(maxsize=1024)
def _fixed_terms(kind: str, fields_key: str) -> tuple[FourierTerm, ...]:
    fields = json.loads(fields_key)
    matrix = np.eye(2 ** int(fields["n"]), dtype=complex) if kind == "I" else matrix_of(fields)
    return (FourierTerm((), matrix),)


def _eigen_terms(kind: str) -> list[tuple[dict, np.ndarray]]:
    """``exp(i pi t (theta_k + s)) P_k`` as (phase monomials, projector) pairs."""
    shifts, projectors = _eigen_parts(kind)
    return [({("t",): np.pi * theta, ("s", "t"): np.pi}, projector)
            for theta, projector in zip(shifts, projectors)]


def _entrywise(terms: list[tuple[dict, np.ndarray]], extra) -> list[tuple[dict, np.ndarray]]:
    """Splits each term's matrix into entries, adding ``extra(i, j)`` to their phases."""
    out = []
    for phase, matrix in terms:
        for (i, j), value in np.ndenumerate(matrix):
            if abs(value) > 1e-12:
                entry = np.zeros_like(matrix)
                entry[i, j] = value
                combined = dict(phase)
                for names, coefficient in extra(i, j).items():
                    combined[names] = combined.get(names, 0.0) + coefficient
                out.append((combined, entry))
    return out


@functools.lru_cache(maxsize=None)
def _kind_terms(kind: str) -> tuple[FourierTerm, ...]:
    z_exponent = (0, 1)  # Z**p multiplies |1> by exp(i pi p)
    if kind in EIGEN_GATES:
        terms = _eigen_terms(kind)
    elif kind in ROTATIONS:  # exponent r / pi with global shift -1/2
        base = ROTATIONS[kind][1]
        terms = [({("r",): theta - 0.5}, projector)
                 for theta, projector in zip(*_eigen_parts(base))]
    elif kind == "PhasedXPow":  # Z**p X**t Z**-p
        terms = _entrywise(_eigen_terms("XPow"), lambda i, j: {
            ("p",): np.pi * (z_exponent[i] - z_exponent[j])})
    elif kind == "PhasedXZ":  # Z**(z + a) X**x Z**-a
        x_terms = [({("x",): phase[("t",)]}, matrix) for phase, matrix in _eigen_terms("XPow")]
        terms = _entrywise(x_terms, lambda i, j: {
            ("z",): np.pi * z_exponent[i],
            ("a",): np.pi * (z_exponent[i] - z_exponent[j])})
    elif kind == "PhasedISwapPow":  # (Z**-p x Z**p) ISWAP**t (Z**p x Z**-p)
        iswap = [({("t",): phase[("t",)]}, matrix) for phase, matrix in _eigen_terms("ISwapPow")]
        weight = [0, 1, -1, 0]  # b - a for the basis state |ab>
        terms = _entrywise(iswap, lambda i, j: {("p",): np.pi * (weight[i] - weight[j])})
    elif kind == "FSim":
        diagonal, swap = np.diag([0, 1, 1, 0]).astype(complex), np.zeros((4, 4), complex)
        swap[1, 2] = swap[2, 1] = 1
        corner = np.zeros((4, 4), complex)
        corner[3, 3] = 1
        first = np.zeros((4, 4), complex)
        first[0, 0] = 1
        terms = [({}, first), ({("theta",): 1.0}, (diagonal - swap) / 2),
                 ({("theta",): -1.0}, (diagonal + swap) / 2), ({("phi",): -1.0}, corner)]
    elif kind == "CSwap":
        terms = [({}, cirq.unitary(cirq.CSWAP).astype(complex))]
    else:
        raise UnsupportedGateError(f"unknown gate kind {kind!r}")
    merged: dict[Phase, np.ndarray] = {}
    for phase, matrix in terms:
        key = tuple(sorted((names, float(c)) for names, c in phase.items() if c != 0))
        merged[key] = merged.get(key, 0) + matrix
    return tuple(FourierTerm(phase, matrix) for phase, matrix in merged.items())


def eigen_shifts(kind: str) -> np.ndarray:
    """The eigen-shifts theta_k of an EigenGate kind: its unitary is
    ``sum_k exp(i pi t (theta_k + s)) P_k`` for exponent t and global shift s."""
    return _eigen_parts(kind)[0]


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


def _symbolic(value: object) -> bool:
    return isinstance(value, sympy.Basic) and not isinstance(value, sympy.Number)


def _flatten_complex(matrix: np.ndarray) -> list[list[float]]:
    return [[float(z.real), float(z.imag)] for z in np.asarray(matrix).reshape(-1)]
