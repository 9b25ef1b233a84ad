"""The differentiator interface.

A differentiator computes the vector-Jacobian product of an expectation with respect
to ``symbol_values``: given the upstream gradient ``[batch, n_ops]`` it returns
``[batch, n_symbols]``. As in TFQ, :meth:`Differentiator.generate_differentiable_op`
turns an op from :func:`qml.get_expectation_op` or
:func:`qml.get_sampled_expectation_op` into one differentiated this way.

Differentiators that work from evaluations of the expectation (parameter shift,
finite differences) handle sampled and noisy expectations the same way as exact
ones: each shifted batch is estimated as the original was (see
:func:`qml.executors.base.evaluate`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cirq
import numpy as np
import tensorflow as tf

import qml.tensors as tensors
from qml.circuits import compiler, serialize
from qml.executors.base import Batch, Executor, checked_symbol_names, evaluate, prepare


@dataclasses.dataclass
class RowGradient:
    """The circuits whose expectations give one batch row's gradient.

    Circuit ``i`` runs with ``values[i]``; the derivative in symbol ``s`` is
    ``sum(weight * E(circuits[i], values[i]) for i, weight in terms[s])``.
    """

    circuits: list[bytes]
    values: list[np.ndarray]
    terms: list[list[tuple[int, float]]]


class Differentiator:
    """Base class: turns an upstream gradient into gradients of symbol values.

    A differentiator is handed to a layer (``differentiator=``) or wraps an op
    (:meth:`generate_differentiable_op`). Subclass it as in TFQ: implement
    :meth:`get_gradient_circuits` (the circuits and weights a gradient is read from),
    or override :meth:`differentiate_analytic` and :meth:`differentiate_sampled` to
    compute the vector-Jacobian product directly. Register a subclass with
    ``@keras.saving.register_keras_serializable()`` so that saved models load it.

    Raises:
        NotImplementedError: from a gradient, when a subclass implements neither
            :meth:`get_gradient_circuits` nor :meth:`differentiate_analytic`.

    Example:
        >>> import keras, qml
        >>> @keras.saving.register_keras_serializable(package="docs")
        ... class Halfway(qml.differentiators.LinearCombination):
        ...     '''A one-sided difference with a fixed step of 0.01.'''
        ...     def __init__(self):
        ...         super().__init__([-100.0, 100.0], [0.0, 0.01])
        ...     def get_config(self):
        ...         return {}
        >>> Halfway().perturbations
        (0.0, 0.01)
    """

    def generate_differentiable_op(self, *, sampled_op=None, analytic_op=None):
        """An expectation op whose gradient comes from this differentiator.

        Args:
            analytic_op: an op from :func:`qml.get_expectation_op`, or None.
            sampled_op: an op from :func:`qml.get_sampled_expectation_op`, or None.
                Exactly one of the two is given.

        Returns:
            An op with the same call signature, whose gradient comes from this
            differentiator.

        Raises:
            TypeError: unless exactly one op is given, made by qml's factory.

        Example:
            >>> import cirq, sympy, tensorflow as tf, qml
            >>> q = cirq.LineQubit(0)
            >>> op = qml.differentiators.ParameterShift().generate_differentiable_op(
            ...     analytic_op=qml.get_expectation_op())
            >>> values = tf.Variable([[0.5]])
            >>> with tf.GradientTape() as tape:
            ...     z = op(qml.convert_to_tensor([cirq.Circuit(cirq.ry(sympy.Symbol("a"))(q))]),
            ...            ["a"], values, qml.convert_to_tensor([[cirq.Z(q)]]))
            >>> round(float(tape.gradient(z, values)[0, 0]), 4)
            -0.4794
        """
        if (sampled_op is None) == (analytic_op is None):
            raise TypeError("give exactly one of sampled_op= and analytic_op=")
        sampled = sampled_op is not None
        op, argument, factory = (
            (sampled_op, "sampled_op", "qml.get_sampled_expectation_op") if sampled
            else (analytic_op, "analytic_op", "qml.get_expectation_op"))
        if getattr(op, "sampled_op", None) is not sampled \
                or not hasattr(op, "with_differentiator"):
            raise TypeError(f"{argument} must be an op made by {factory}, got {op!r}")
        return op.with_differentiator(self)

    def refresh(self) -> "Differentiator":
        """Returns this differentiator, ready for another op, as TFQ's ``refresh`` does.

        qml's differentiators keep no state between ops, so one instance may serve
        any number of them; this exists so that TFQ code runs unchanged.

        Example:
            >>> import qml
            >>> d = qml.differentiators.ParameterShift()
            >>> d.refresh() is d
            True
        """
        return self

    def forward(self, executor: Executor, batch: Batch) -> tuple[np.ndarray, Batch]:
        """The expectations of ``batch``, and the batch to differentiate them with:
        ``batch`` itself, or ``batch`` with what the forward pass kept for the
        gradient."""
        return evaluate(executor, batch), batch

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation(batch))``.

        By default it is read from :meth:`get_gradient_circuits`, TFQ's contract: a
        subclass that implements only that method differentiates exact, sampled and
        noisy expectations. The built-in differentiators override this method.

        Raises:
            NotImplementedError: if the subclass implements neither method.
        """
        return self._differentiate_from_gradient_circuits(executor, batch, upstream)

    def differentiate_sampled(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """The gradient of a sampled or noisy expectation (an inexact ``batch.estimation``).

        By default the same rule as :meth:`differentiate_analytic`, with every shifted
        evaluation estimated as ``batch`` asks.
        """
        return self.differentiate_analytic(executor, batch, upstream)

    def get_gradient_circuits(
        self, programs: Any, symbol_names: Any, symbol_values: Any
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The circuits, values and weights that this differentiator's gradient is
        read from, in TFQ's layout.

        For a batch of ``b`` circuits and ``n`` symbols it returns

        - ``batch_programs``: ``tf.string [b, m]`` circuits,
        - ``new_symbol_names``: ``tf.string [n']``, ``symbol_names`` plus any symbol
          the differentiator adds,
        - ``batch_symbol_values``: ``float32 [b, m, n']``,
        - ``batch_weights``: ``float32 [b, n, k]``,
        - ``batch_mapper``: ``int32 [b, n, k]``,

        such that the derivative of an expectation ``E`` of row ``r`` in symbol ``s`` is
        ``sum_j weights[r, s, j] * E(programs[r, mapper[r, s, j]],
        values[r, mapper[r, s, j]])``. Rows with fewer circuits are padded with empty
        circuits, and unused terms have weight 0.

        Example:
            >>> import cirq, sympy, qml
            >>> q = cirq.LineQubit(0)
            >>> differentiator = qml.differentiators.CentralDifference(2, 0.5)
            >>> programs, names, values, weights, mapper = differentiator.get_gradient_circuits(
            ...     [cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q))], ["a"], [[0.25]])
            >>> values.numpy()[0, :, 0]  # a - 0.5 and a + 0.5
            array([-0.25,  0.75], dtype=float32)
            >>> weights.numpy()[0, 0], mapper.numpy()[0, 0]
            (array([-1.,  1.], dtype=float32), array([0, 1], dtype=int32))
        """
        programs = tensors.as_circuit_tensor(programs, "programs")
        names = tensors.as_symbol_names(symbol_names)
        values = tensors.as_symbol_values(symbol_values)

        def run(rows, names, values) -> tuple[np.ndarray, ...]:
            names = list(checked_symbol_names(names))
            rows = list(rows)
            prepare(rows, names, values, [()] * len(rows))  # checks names and values
            return self._pack_gradient_circuits(rows, names, values)

        dtypes = [(tf.string, 2), (tf.string, 1), (tf.float32, 3), (tf.float32, 3),
                  (tf.int32, 3)]
        return tuple(tensors.numpy_call(run, [programs, names, values], dtypes))

    def _differentiate_from_gradient_circuits(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """The gradient as the weighted sum, over :meth:`get_gradient_circuits`, of
        each circuit's expectations times ``upstream``, all circuits evaluated in one
        batch estimated as ``batch`` is."""
        size, num_symbols = batch.symbol_values.shape
        if size == 0 or num_symbols == 0:
            return np.zeros((size, num_symbols), np.float32)
        rows = np.array([compiler.row_of(p) for p in batch.programs], dtype=object)
        outputs = self.get_gradient_circuits(
            tf.constant(rows, tf.string), tf.constant(batch.symbol_names, tf.string),
            tf.constant(batch.symbol_values, tf.float32))
        programs, names, values, weights, mapper = (
            np.asarray(tf.convert_to_tensor(t)) for t in outputs)
        copies = programs.shape[1] if programs.ndim == 2 else -1
        if (programs.shape[:1] != (size,) or copies < 0 or values.shape[:2] != (size, copies)
                or weights.shape[:2] != (size, num_symbols) or mapper.shape != weights.shape):
            raise ValueError(
                f"{type(self).__name__}.get_gradient_circuits returned programs "
                f"{programs.shape}, symbol values {values.shape}, weights {weights.shape} "
                f"and mapper {mapper.shape}; expected [{size}, m], [{size}, m, n'], "
                f"[{size}, {num_symbols}, k] and the same for mapper")
        if copies == 0:
            return np.zeros((size, num_symbols), np.float32)
        if mapper.size and (mapper.min() < 0 or mapper.max() >= copies):
            raise ValueError(f"{type(self).__name__}.get_gradient_circuits returned a "
                             f"batch_mapper index outside [0, {copies})")
        shifted = prepare(
            list(programs.reshape(-1)),
            checked_symbol_names(names),
            values.reshape(size * copies, -1).astype(np.float32),
            [ops for ops in batch.operators for _ in range(copies)],
            state_vectors=executor.simulates_state_vectors)
        shifted = dataclasses.replace(
            shifted, estimation=batch.estimation.for_rows(np.repeat(np.arange(size), copies)))
        expectations = evaluate(executor, shifted).reshape(size, copies, -1)
        per_circuit = np.einsum("rco,ro->rc", expectations.astype(np.float64), upstream)
        picked = np.take_along_axis(per_circuit[:, None, :], mapper.astype(np.int64), axis=2)
        return np.einsum("rsk,rsk->rs", weights.astype(np.float64), picked).astype(np.float32)

    def _pack_gradient_circuits(self, rows: list[bytes], names: list[str],
                                values: np.ndarray) -> tuple[np.ndarray, ...]:
        new_names = self._gradient_symbol_names(tuple(names))
        per_row = [self._row_gradient(row, tuple(names), values[r].astype(np.float64))
                   for r, row in enumerate(rows)]
        width = max((len(g.circuits) for g in per_row), default=0)
        depth = max((len(t) for g in per_row for t in g.terms), default=0)
        empty = serialize.serialize_circuit(cirq.Circuit())  # a padding row
        programs = np.full((len(rows), width), empty, dtype=object)
        new_values = np.zeros((len(rows), width, len(new_names)), np.float32)
        weights = np.zeros((len(rows), len(names), depth), np.float32)
        mapper = np.zeros((len(rows), len(names), depth), np.int32)
        for r, gradient in enumerate(per_row):
            programs[r, :len(gradient.circuits)] = gradient.circuits
            if gradient.values:
                new_values[r, :len(gradient.values)] = np.stack(gradient.values)
            for s, terms in enumerate(gradient.terms):
                for j, (index, weight) in enumerate(terms):
                    mapper[r, s, j], weights[r, s, j] = index, weight
        encoded = np.array([name.encode() for name in new_names], dtype=object)
        return programs, encoded, new_values, weights, mapper

    def _gradient_symbol_names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The symbol names of the gradient circuits."""
        return names

    def _row_gradient(self, row: bytes, names: tuple[str, ...],
                      values: np.ndarray) -> RowGradient:
        """The gradient circuits of one serialized circuit at float64 ``values``."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither get_gradient_circuits nor "
            "differentiate_analytic; a custom differentiator implements one of them"
        )

    def get_config(self) -> dict:
        """The constructor arguments, for Keras serialization (``model.save``)."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Differentiator":
        """Rebuilds a differentiator from :meth:`get_config`.

        A custom differentiator saves and loads in a ``.keras`` file when its class
        is registered with ``@keras.saving.register_keras_serializable()``, as any
        custom Keras object is.
        """
        return cls(**config)
