"""Noise channels in the circuit format: TFQ's named channels and any Kraus channel.

A channel is stored by its name and parameters, so that a row turns back into the same
Cirq object, and by its Kraus operators, which is all a simulator needs. Channels on 1
or 2 qubits are supported. Their parameters must be numbers, not symbols.

Example:
    >>> import cirq
    >>> fields = encode_channel(cirq.bit_flip(0.1))
    >>> fields["name"], decode_channel(fields) == cirq.bit_flip(0.1)
    ('BitFlip', True)
    >>> [k.shape for k in kraus_of(fields)]
    [(2, 2), (2, 2)]
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import cirq
import numpy as np

from qml.errors import CircuitFormatError, UnsupportedGateError

MAX_CHANNEL_QUBITS = 2
_COMPLETENESS_TOLERANCE = 1e-6

# name -> (Cirq class, parameter attributes, constructor from those parameters)
_NAMED: dict[str, tuple[type, tuple[str, ...], Callable[..., cirq.Gate]]] = {
    "Depolarize": (cirq.DepolarizingChannel, ("p", "n_qubits"),
                   lambda p, n_qubits: cirq.depolarize(p, n_qubits=int(n_qubits))),
    "AsymmetricDepolarize": (cirq.AsymmetricDepolarizingChannel, ("p_x", "p_y", "p_z"),
                             cirq.asymmetric_depolarize),
    "AmplitudeDamp": (cirq.AmplitudeDampingChannel, ("gamma",), cirq.amplitude_damp),
    "GeneralizedAmplitudeDamp": (cirq.GeneralizedAmplitudeDampingChannel, ("p", "gamma"),
                                 cirq.generalized_amplitude_damp),
    "PhaseDamp": (cirq.PhaseDampingChannel, ("gamma",), cirq.phase_damp),
    "PhaseFlip": (cirq.PhaseFlipChannel, ("p",), cirq.phase_flip),
    "BitFlip": (cirq.BitFlipChannel, ("p",), cirq.bit_flip),
    "Reset": (cirq.ResetChannel, (), lambda: cirq.ResetChannel()),
}
NAMED_CHANNELS = tuple(_NAMED)


def is_channel(gate: cirq.Gate) -> bool:
    """Whether ``gate`` is a non-unitary channel (one with Kraus operators).

    A gate with symbols is never one: it has neither a unitary nor Kraus operators
    until resolved, and is encoded as a gate.
    """
    return (not cirq.is_parameterized(gate) and not cirq.has_unitary(gate)
            and cirq.has_kraus(gate))


def encode_channel(gate: cirq.Gate) -> dict:
    """The JSON fields of a channel: ``g``, ``name``, ``n``, ``params`` and ``kraus``.

    Raises:
        UnsupportedGateError: for symbolic parameters, qudits, or more than two qubits.
    """
    if cirq.is_parameterized(gate):
        raise UnsupportedGateError(
            f"channel {gate!r} has symbolic parameters; qml supports channels with "
            "numeric parameters only"
        )
    shape = cirq.qid_shape(gate)
    if any(d != 2 for d in shape) or not 1 <= len(shape) <= MAX_CHANNEL_QUBITS:
        raise UnsupportedGateError(
            f"channel {gate!r} acts on qid shape {shape}; qml supports channels on 1 to "
            f"{MAX_CHANNEL_QUBITS} qubits"
        )
    name, params = "Kraus", {}
    for candidate, (cls, attributes, _) in _NAMED.items():
        if type(gate) is cls:
            values = {a: getattr(gate, a) for a in attributes}
            if all(isinstance(v, (int, float, np.number)) for v in values.values()):
                name, params = candidate, {a: float(v) for a, v in values.items()}
            break
    kraus = [np.asarray(k, dtype=complex) for k in cirq.kraus(gate)]
    return {
        "g": "Channel",
        "name": name,
        "n": len(shape),
        "params": params,
        "kraus": [np.stack([k.real, k.imag], axis=-1).tolist() for k in kraus],
    }


def decode_channel(fields: Mapping[str, Any]) -> cirq.Gate:
    """The Cirq channel that ``encode_channel`` encoded."""
    name = fields["name"]
    if name == "Kraus":
        return cirq.KrausChannel(list(kraus_of(fields)))
    if name not in _NAMED:
        raise CircuitFormatError(f"unknown channel name {name!r}")
    _, attributes, build = _NAMED[name]
    params = fields["params"]
    return build(*(float(params[a]) for a in attributes))


def mixture_weights(kraus: Sequence[np.ndarray]) -> Optional[tuple[float, ...]]:
    """The weights ``p_k`` of a channel whose Kraus operators are multiples of unitaries
    (``K_k^dagger K_k = p_k I``), whose draws then do not depend on the state; None for
    any other channel.

    Example:
        >>> [round(w, 6) for w in mixture_weights(cirq.kraus(cirq.bit_flip(0.25)))]
        [0.75, 0.25]
        >>> mixture_weights(cirq.kraus(cirq.amplitude_damp(0.5))) is None
        True
    """
    dim = kraus[0].shape[0]
    products = [k.conj().T @ k for k in kraus]
    weights = tuple(float(np.real(np.trace(p))) / dim for p in products)
    if all(np.allclose(p, w * np.eye(dim), atol=1e-8) for p, w in zip(products, weights)):
        return weights
    return None


def kraus_of(fields: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """The channel's Kraus operators, checked for shape and completeness.

    Raises:
        CircuitFormatError: if the operators are malformed or do not sum to a
            trace-preserving channel.
    """
    size = int(fields["n"])
    if not 1 <= size <= MAX_CHANNEL_QUBITS:
        raise CircuitFormatError(f"channel on {size} qubits; qml takes 1 to 2")
    dim = 2**size
    operators = []
    for entry in fields["kraus"]:
        pairs = np.asarray(entry, dtype=np.float64)
        if pairs.shape != (dim, dim, 2) or not np.isfinite(pairs).all():
            raise CircuitFormatError(
                f"a {fields['name']} channel on {size} qubits needs finite {dim}x{dim} "
                f"Kraus operators, got shape {pairs.shape}"
            )
        operators.append(pairs[..., 0] + 1j * pairs[..., 1])
    if not operators:
        raise CircuitFormatError(f"{fields['name']} channel without Kraus operators")
    total = sum(k.conj().T @ k for k in operators)
    if not np.allclose(total, np.eye(dim), atol=_COMPLETENESS_TOLERANCE):
        raise CircuitFormatError(
            f"the Kraus operators of a {fields['name']} channel do not sum to the "
            "identity (sum of K^dagger K), so it is not trace preserving"
        )
    return tuple(operators)
