"""TensorFlow arguments made uniform, and the bridge from TensorFlow to numpy.

Every op and differentiator takes circuits, symbol names, symbol values and operators
in any of the forms TFQ accepts (Cirq objects, lists, tensors) and turns them into
tensors here, with a typed error naming the argument when one is wrong.
:func:`numpy_call` runs numpy code on tensors, eagerly or inside a graph.

Example:
    >>> import cirq
    >>> as_circuit_tensor([cirq.Circuit()]).shape
    TensorShape([1])
"""

from __future__ import annotations

import functools
from typing import Any, Sequence, Union

import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

from qml.circuits import serialize
from qml.errors import NotACircuitError, ShapeError, SymbolNamesError, SymbolValuesError


def numpy_call(function, args: list, dtypes: list) -> list:
    """``function`` on the numpy values of ``args``: directly when eager (so errors
    keep their types), else as a ``tf.numpy_function``. ``dtypes`` holds each output's
    ``(dtype, rank)``."""
    if tf.executing_eagerly():
        return [tf.constant(out) for out in function(*(a.numpy() for a in args))]
    outputs = tf.numpy_function(function, args, [d for d, _ in dtypes], stateful=True)
    for output, (_, rank) in zip(outputs, dtypes):
        output.set_shape([None] * rank)
    return outputs


def eager_call(function, args: list, dtype: tf.DType, shape: list) -> tf.Tensor:
    """``function``, made of TensorFlow ops on eager tensors (so that its gradient is
    TensorFlow's): called directly when eager, else as a ``tf.py_function`` whose
    output has ``shape``."""
    if tf.executing_eagerly():
        return function(*args)
    out = tf.py_function(function, args, dtype)
    out.set_shape(shape)
    return out


def as_circuit_tensor(inputs: Any, argument: str = "inputs") -> tf.Tensor:
    """A ``tf.string [batch]`` tensor from circuits, a circuit tensor or a list."""
    if isinstance(inputs, keras.KerasTensor):  # a functional model being built
        return inputs
    if isinstance(inputs, cirq.AbstractCircuit):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)):
        if not all(isinstance(c, cirq.AbstractCircuit) for c in inputs):
            bad = next(c for c in inputs if not isinstance(c, cirq.AbstractCircuit))
            raise NotACircuitError(
                f"{argument} must hold cirq.Circuit objects, got "
                f"{type(bad).__name__}: {bad!r:.80}"
            )
        return serialize.convert_to_tensor(list(inputs))
    if isinstance(inputs, np.ndarray) and inputs.dtype == object and inputs.size \
            and isinstance(inputs.flat[0], cirq.AbstractCircuit):
        return serialize.convert_to_tensor(list(inputs))
    if not tf.is_tensor(inputs) and not isinstance(inputs, np.ndarray):
        raise NotACircuitError(
            f"{argument} must be a circuit tensor or a list of cirq.Circuit, got "
            f"{type(inputs).__name__}: {inputs!r:.80}"
        )
    tensor = tf.convert_to_tensor(inputs)
    if tensor.dtype != tf.string:
        raise NotACircuitError(
            f"{argument} must be a tf.string circuit tensor, got dtype {tensor.dtype.name}"
        )
    if tensor.shape.rank is not None and tensor.shape.rank != 1:
        raise ShapeError(f"{argument} must be 1-D [batch], got shape {tensor.shape}")
    return tensor


def symbol_list(symbol_names: Any) -> list[str]:
    """Symbol names (strings, bytes or ``sympy.Symbol`` s) as plain strings."""
    if symbol_names is None:
        return []
    if isinstance(symbol_names, (str, bytes, sympy.Symbol)) or not isinstance(
            symbol_names, (list, tuple, np.ndarray)):
        raise SymbolNamesError(
            f"symbol_names must be a list of names, got {type(symbol_names).__name__}: "
            f"{symbol_names!r:.80}")
    names = []
    for name in symbol_names:
        if isinstance(name, sympy.Symbol):
            names.append(name.name)
        elif isinstance(name, (str, bytes)):
            names.append(name.decode() if isinstance(name, bytes) else name)
        else:
            raise SymbolNamesError(
                f"symbol_names must hold strings or sympy.Symbol, got "
                f"{type(name).__name__}: {name!r:.80}"
            )
    return names


def as_symbol_names(symbol_names: Any) -> tf.Tensor:
    """A ``tf.string [n_symbols]`` tensor from names, sympy symbols or a tensor."""
    if tf.is_tensor(symbol_names):
        if symbol_names.dtype != tf.string or symbol_names.shape.rank not in (None, 1):
            raise SymbolNamesError(
                f"symbol_names must be a 1-D tf.string tensor, got {symbol_names.dtype.name} "
                f"of shape {symbol_names.shape}")
        return symbol_names
    return string_tensor(symbol_list(symbol_names))


def string_tensor(strings: Sequence[Union[str, bytes]]) -> tf.Tensor:
    """A 1-D ``tf.string`` tensor of ``strings``. Eager tensors never change, so a
    recent one with the same strings is reused (a layer called again and again with
    the same names and operators converts them once).

    Example:
        >>> string_tensor(["a", "b"]) is string_tensor(["a", "b"])
        True
    """
    if tf.executing_eagerly():
        return _eager_string_tensor(tuple(strings))
    return tf.constant(strings, dtype=tf.string, shape=[len(strings)])


@functools.lru_cache(maxsize=256)
def _eager_string_tensor(strings: tuple[Union[str, bytes], ...]) -> tf.Tensor:
    return tf.constant(strings, dtype=tf.string, shape=[len(strings)])


def operator_strings(operators: Any) -> Any:
    """Operators as (nested) lists of serialized strings, or a tensor left as it is.

    Strings keep a layer's recorded call arguments JSON-safe in a saved model.
    """
    if operators is None:
        raise ValueError("operators is required: a PauliSum, a list of them, or a tensor")
    if tf.is_tensor(operators) or isinstance(operators, keras.KerasTensor):
        return operators
    if isinstance(operators, (cirq.PauliSum, cirq.PauliString)):
        operators = [operators]
    if isinstance(operators, (list, tuple)) and operators and all(
            isinstance(o, str) for o in operators):
        return list(operators)
    if isinstance(operators, (list, tuple)) and operators and all(
            isinstance(o, list) and all(isinstance(x, str) for x in o) for o in operators):
        return [list(o) for o in operators]
    decode = lambda rows: [decode(r) for r in rows] if isinstance(rows, list) else rows.decode()  # noqa: E731
    return decode(serialize.to_rows(operators))


def as_operator_tensor(operators: Any) -> tf.Tensor:
    """A ``tf.string`` tensor of operators: ``[batch, n_ops]``, or ``[n_ops]`` for the
    same operators on every circuit (not tiled: the executors share that one row)."""
    operators = operator_strings(operators)
    operators = tf.convert_to_tensor(operators)
    if operators.dtype != tf.string:
        raise NotACircuitError(
            f"operators must be a tf.string tensor of Pauli sums, got {operators.dtype.name}"
        )
    if operators.shape.rank not in (1, 2):
        raise ShapeError(f"operators must be 1-D or 2-D, got shape {operators.shape}")
    return operators


def as_symbol_values(symbol_values: Any) -> tf.Tensor:
    """``float32 [batch, n_symbols]`` symbol values.

    Raises:
        SymbolValuesError: for values that are not real numbers, or not 2-D.
    """
    try:
        values = tf.convert_to_tensor(symbol_values)
    except (ValueError, TypeError) as error:
        raise SymbolValuesError(
            f"symbol_values must be a real [batch, n_symbols] array, got "
            f"{symbol_values!r:.80} ({error})") from None
    if not (values.dtype.is_floating or values.dtype.is_integer):
        raise SymbolValuesError(
            f"symbol_values must hold real numbers, got dtype {values.dtype.name}")
    values = tf.cast(values, tf.float32)
    if values.shape.rank is not None and values.shape.rank != 2:
        raise SymbolValuesError(
            f"symbol_values must be 2-D [batch, n_symbols], got shape {values.shape}"
        )
    return values
