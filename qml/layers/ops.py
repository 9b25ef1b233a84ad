"""The TensorFlow op behind the expectation layers, and argument normalisation.

:func:`expectation` runs an executor on string tensors of circuits and operators.
Executing eagerly it calls the executor directly, so bad input raises qml's typed
errors; inside ``tf.function`` and ``model.fit`` it runs as a ``tf.numpy_function``.
Its gradient with respect to ``symbol_values`` comes from the layer's differentiator,
``Adjoint`` by default. With ``Autodiff`` and the TensorFlow executor the simulation
itself is made of TensorFlow ops (inside a ``tf.py_function`` in graph mode).

Example:
    >>> import cirq
    >>> from qml.executors import get_executor
    >>> q = cirq.LineQubit(0)
    >>> out = expectation(get_executor(None), None, as_circuit_tensor([cirq.Circuit(cirq.X(q))]),
    ...                   as_symbol_names([]), tf.zeros([1, 0]), as_operator_tensor([cirq.Z(q)], 1))
    >>> out.numpy()
    array([[-1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Optional

import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

from qml.circuits import serialize
from qml.differentiators import Adjoint, Autodiff, Differentiator
from qml.errors import NotACircuitError
from qml.executors.base import Batch, Executor, prepare
from qml.executors.tensorflow import TensorflowExecutor


def expectation(
    executor: Executor,
    differentiator: Optional[Differentiator],
    circuits: tf.Tensor,
    symbol_names: tf.Tensor,
    symbol_values: tf.Tensor,
    operators: tf.Tensor,
    appended: Optional[tf.Tensor] = None,
) -> tf.Tensor:
    """``[batch, n_ops]`` float32 expectation values, differentiable in symbol_values.

    Args:
        executor: the executor that simulates.
        differentiator: computes gradients; None means ``Adjoint``.
        circuits: ``tf.string [batch]`` serialized circuits.
        symbol_names: ``tf.string [n_symbols]``.
        symbol_values: ``float32 [batch, n_symbols]``.
        operators: ``tf.string [batch, n_ops]`` serialized Pauli sums.
        appended: optional ``tf.string [batch]`` circuits appended to ``circuits``.
    """
    differentiator = differentiator if differentiator is not None else Adjoint()
    extra = appended if appended is not None else tf.zeros([0], tf.string)
    num_ops = operators.shape[1] if operators.shape.rank == 2 else None
    if isinstance(differentiator, Autodiff):
        return _autodiff_expectation(executor, circuits, symbol_names,
                                     tf.cast(symbol_values, tf.float32), operators, extra,
                                     num_ops)

    def batch_of(rows, names, values, ops, extra_rows) -> Optional[Batch]:
        if len(rows) == 0:
            return None
        return prepare(list(rows), list(names), values, ops, list(extra_rows))

    def value(batch: Optional[Batch], ops: np.ndarray) -> np.ndarray:
        if batch is None:
            return np.zeros((0, ops.shape[1]), np.float32)
        return np.asarray(executor.expectation(batch), np.float32)

    def gradient(batch: Optional[Batch], names: np.ndarray, upstream: np.ndarray) -> np.ndarray:
        if batch is None:
            return np.zeros((0, len(names)), np.float32)
        return differentiator.differentiate_analytic(executor, batch, upstream)

    @tf.custom_gradient
    def op(values: tf.Tensor) -> tf.Tensor:
        args = [circuits, symbol_names, values, operators, extra]
        if tf.executing_eagerly():  # one checked batch serves the value and its gradient
            arrays = [a.numpy() for a in args]
            batch = batch_of(*arrays)

            def eager_grad(upstream: tf.Tensor) -> tf.Tensor:
                upstream = upstream.numpy().astype(np.float32)
                return tf.constant(gradient(batch, arrays[1], upstream), tf.float32)

            return tf.constant(value(batch, arrays[3]), tf.float32), eager_grad

        result = tf.numpy_function(lambda *a: value(batch_of(*a), a[3]), args, tf.float32,
                                   stateful=False)
        result.set_shape([circuits.shape[0], num_ops])

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            out = tf.numpy_function(lambda *a: gradient(batch_of(*a[:5]), a[1], a[5]),
                                    args + [tf.cast(upstream, tf.float32)], tf.float32,
                                    stateful=False)
            out.set_shape(values.shape)
            return out

        return result, grad

    return op(tf.cast(symbol_values, tf.float32))


class ExpectationOp:
    """``op(programs, symbol_names, symbol_values, pauli_sums)``, as TFQ's ops.

    Made by :func:`qml.get_expectation_op` (differentiated by ``Adjoint``) or by a
    differentiator's ``generate_differentiable_op``.
    """

    def __init__(self, executor: Executor, differentiator: Optional[Differentiator]) -> None:
        self.executor = executor
        self.differentiator = differentiator

    def __call__(self, programs: Any, symbol_names: Any, symbol_values: Any,
                 pauli_sums: Any) -> tf.Tensor:
        circuits = as_circuit_tensor(programs, "programs")
        values = as_symbol_values(symbol_values)
        operators = as_operator_tensor(pauli_sums, tf.shape(circuits)[0])
        return expectation(self.executor, self.differentiator, circuits,
                           as_symbol_names(symbol_names), values, operators)


def get_expectation_op(backend: Any = None) -> ExpectationOp:
    """TFQ's ``get_expectation_op``: an expectation op on the given backend.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> op = get_expectation_op("tensorflow")
        >>> op([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]), [[cirq.Z(q)]]).numpy()
        array([[-1.]], dtype=float32)
    """
    from qml.executors import get_executor

    return ExpectationOp(get_executor(backend), None)


def _autodiff_expectation(executor: Executor, circuits, symbol_names, symbol_values,
                          operators, extra, num_ops) -> tf.Tensor:
    """Expectations as TensorFlow ops of ``symbol_values``, for automatic differentiation."""
    if not isinstance(executor, TensorflowExecutor):
        raise TypeError(
            "differentiator=Autodiff() needs backend='tensorflow', whose simulation is "
            f"made of TensorFlow ops; this layer's executor is {executor.name!r}"
        )

    def simulate(values, rows, names, ops, extra_rows) -> tf.Tensor:
        rows, names, ops, extra_rows = (t.numpy() for t in (rows, names, ops, extra_rows))
        if len(rows) == 0:
            return tf.zeros((0, ops.shape[1]), tf.float32)
        batch = prepare(list(rows), list(names), values.numpy(), ops, list(extra_rows))
        return tf.cast(executor.expectation_tensor(batch, values), tf.float32)

    args = [symbol_values, circuits, symbol_names, operators, extra]
    if tf.executing_eagerly():
        return simulate(*args)
    out = tf.py_function(simulate, args, tf.float32)
    out.set_shape([circuits.shape[0], num_ops])
    return out


# ----------------------------------------------------------- argument normalisation
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
        raise ValueError(f"{argument} must be 1-D [batch], got shape {tensor.shape}")
    return tensor


def symbol_list(symbol_names: Any) -> list[str]:
    """Symbol names (strings, bytes or ``sympy.Symbol`` s) as plain strings."""
    if symbol_names is None:
        return []
    names = []
    for name in symbol_names:
        if isinstance(name, sympy.Symbol):
            names.append(name.name)
        elif isinstance(name, (str, bytes)):
            names.append(name.decode() if isinstance(name, bytes) else name)
        else:
            raise TypeError(
                f"symbol_names must hold strings or sympy.Symbol, got "
                f"{type(name).__name__}: {name!r}"
            )
    return names


def as_symbol_names(symbol_names: Any) -> tf.Tensor:
    """A ``tf.string [n_symbols]`` tensor from names, sympy symbols or a tensor."""
    if tf.is_tensor(symbol_names):
        return tf.convert_to_tensor(symbol_names, tf.string)
    names = symbol_list(symbol_names)
    return tf.constant(names, dtype=tf.string, shape=[len(names)])


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


def as_operator_tensor(operators: Any, batch: Any) -> tf.Tensor:
    """A ``tf.string [batch, n_ops]`` tensor, tiling a 1-D list of operators."""
    operators = operator_strings(operators)
    operators = tf.convert_to_tensor(operators)
    if operators.dtype != tf.string:
        raise NotACircuitError(
            f"operators must be a tf.string tensor of Pauli sums, got {operators.dtype.name}"
        )
    if operators.shape.rank == 1:
        operators = tf.tile(operators[None, :], tf.stack([batch, 1]))
    elif operators.shape.rank != 2:
        raise ValueError(f"operators must be 1-D or 2-D, got shape {operators.shape}")
    return operators


def as_symbol_values(symbol_values: Any) -> tf.Tensor:
    """``float32 [batch, n_symbols]`` symbol values."""
    values = tf.cast(tf.convert_to_tensor(symbol_values), tf.float32)
    if values.shape.rank is not None and values.shape.rank != 2:
        raise ValueError(
            f"symbol_values must be 2-D [batch, n_symbols], got shape {values.shape}"
        )
    return values
