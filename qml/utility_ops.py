"""TFQ's utility ops on circuit tensors: appending circuits, resolving symbols,
unpadding ragged outputs, and the concurrent-op mode.

Example:
    >>> import cirq
    >>> q = cirq.GridQubit(0, 0)
    >>> joined = append_circuit(convert_to_tensor([cirq.Circuit(cirq.H(q))]),
    ...                         convert_to_tensor([cirq.Circuit(cirq.X(q))]))
    >>> print(from_tensor(joined)[0])
    (0, 0): ───H───X───
"""

from __future__ import annotations

from typing import Any

import cirq
import numpy as np
import tensorflow as tf

import qml.ops as ops
import qml.tensors as tensors
from qml.circuits import serialize
from qml.circuits.serialize import convert_to_tensor, from_tensor  # noqa: F401 (examples)
from qml.errors import BatchSizeError
from qml.executors.base import checked_symbol_names

__all__ = [
    "append_circuit",
    "get_quantum_concurrent_op_mode",
    "padded_to_ragged",
    "padded_to_ragged2d",
    "resolve_parameters",
    "set_quantum_concurrent_op_mode",
]

_concurrent_op_mode = True


def append_circuit(programs: Any, programs_to_append: Any) -> tf.Tensor:
    """TFQ's ``append_circuit``: each circuit followed by its partner.

    The moments of the appended circuit follow those of the first.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        programs_to_append: ``batch`` circuits in the same forms.

    Returns:
        ``tf.string [batch]``: row ``i`` is ``programs[i] + programs_to_append[i]``.

    Raises:
        BatchSizeError: if the two have different lengths.
        NotACircuitError: if either holds something other than circuits.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> joined = append_circuit([cirq.Circuit(cirq.X(q))], [cirq.Circuit(cirq.Y(q))])
        >>> print(from_tensor(joined)[0])
        0: ───X───Y───
    """
    return ops.join_circuits(tensors.as_circuit_tensor(programs, "programs"),
                             tensors.as_circuit_tensor(programs_to_append,
                                                       "programs_to_append"),
                             added_first=False, argument="programs_to_append")


def resolve_parameters(programs: Any, symbol_names: Any, symbol_values: Any) -> tf.Tensor:
    """TFQ's ``resolve_parameters``: symbols replaced by values.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names to resolve; other symbols stay symbolic.
        symbol_values: ``float [batch, n_symbols]``, one row per circuit.

    Returns:
        ``tf.string [batch]``: the resolved circuits.

    Raises:
        BatchSizeError: if ``symbol_values`` is not ``[batch, len(symbol_names)]``.
        SymbolNamesError: if the names are not distinct strings or symbols.
        SymbolValuesError: if the values are not a real 2-D array.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> tensor = convert_to_tensor([cirq.Circuit(cirq.H(q) ** sympy.Symbol("a"))])
        >>> print(from_tensor(resolve_parameters(tensor, ["a"], [[0.5]]))[0])
        (0, 0): ───H^0.5───
    """
    circuits = tensors.as_circuit_tensor(programs, "programs")
    names = tensors.as_symbol_names(symbol_names)
    values = tensors.as_symbol_values(symbol_values)

    def resolve(rows: np.ndarray, names: np.ndarray, values: np.ndarray) -> np.ndarray:
        if values.shape != (len(rows), len(names)):
            raise BatchSizeError(
                f"symbol_values has shape {values.shape}; expected ({len(rows)}, "
                f"{len(names)}) for {len(rows)} programs and {len(names)} symbol names")
        decoded = checked_symbol_names(names)
        out = []
        for row, row_values in zip(rows, values.astype(np.float64)):
            circuit = serialize.deserialize_circuit(bytes(row))
            resolver = cirq.ParamResolver(dict(zip(decoded, map(float, row_values))))
            out.append(serialize.serialize_circuit(cirq.resolve_parameters(circuit, resolver)))
        return np.array(out, dtype=object).reshape(len(rows))

    return ops.string_op(resolve, [circuits, names, values], circuits.shape)


def padded_to_ragged(masked_state: Any) -> tf.RaggedTensor:
    """TFQ's ``padded_to_ragged``: a padded ``State`` output made ragged.

    ``State`` pads the rows of narrower circuits with -2; amplitudes never exceed 1
    in magnitude, so every entry above 1.1 in magnitude is padding.

    Args:
        masked_state: ``[batch, dim]`` amplitudes padded with -2, or a ragged tensor.

    Returns:
        A ragged ``[batch, None]`` tensor of the same dtype, without the padding.

    Raises:
        ValueError: if ``masked_state`` is not numeric (TensorFlow's conversion error).

    Example:
        >>> padded_to_ragged(tf.constant([[1.0, 0.0], [0.5, -2.0]])).to_list()
        [[1.0, 0.0], [0.5]]
    """
    tensor = masked_state if isinstance(masked_state, tf.RaggedTensor) \
        else tf.convert_to_tensor(masked_state)
    keep = tf.abs(tf.cast(tensor, tf.float32)) < 1.1
    return tf.ragged.boolean_mask(tensor, keep)


def padded_to_ragged2d(masked_state: Any) -> tf.RaggedTensor:
    """TFQ's ``padded_to_ragged2d``: a padded ``Unitary`` output made ragged.

    Args:
        masked_state: ``[batch, dim, dim]`` matrices padded with -2 in the rows and
            columns of narrower circuits.

    Returns:
        A ragged ``[batch, None, None]`` tensor without the padding.

    Raises:
        ValueError: if ``masked_state`` is not a numeric 3-D tensor.

    Example:
        >>> padded = tf.constant([[[1.0, -2.0], [-2.0, -2.0]]])
        >>> padded_to_ragged2d(padded).to_list()
        [[[1.0]]]
    """
    tensor = tf.convert_to_tensor(masked_state)
    real_rows = tf.abs(tf.cast(tensor[:, :, 0], tf.float32)) < 1.1
    return padded_to_ragged(tf.ragged.boolean_mask(tensor, real_rows))


def set_quantum_concurrent_op_mode(mode: bool) -> None:
    """Accepted for TFQ's sake; the mode changes nothing in qml.

    TFQ uses the mode to keep circuit ops from running in parallel with each other.
    qml's simulation already runs outside the GIL on every core, one op at a time.

    Args:
        mode: a bool, remembered for :func:`get_quantum_concurrent_op_mode`.

    Returns:
        None.

    Raises:
        TypeError: if ``mode`` is not a bool.

    Example:
        >>> set_quantum_concurrent_op_mode(False)
        >>> get_quantum_concurrent_op_mode()
        False
        >>> set_quantum_concurrent_op_mode(True)
    """
    global _concurrent_op_mode
    if not isinstance(mode, bool):
        raise TypeError(f"mode must be a bool, got {mode!r}")
    _concurrent_op_mode = mode


def get_quantum_concurrent_op_mode() -> bool:
    """The mode last set by :func:`set_quantum_concurrent_op_mode`.

    Returns:
        The bool last set; True before any call.

    Raises:
        Nothing: it only reads the stored mode.

    Example:
        >>> get_quantum_concurrent_op_mode()
        True
    """
    return _concurrent_op_mode
