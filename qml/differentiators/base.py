"""The differentiator interface.

A differentiator computes the vector-Jacobian product of an expectation with respect
to ``symbol_values``: given the upstream gradient ``[batch, n_ops]`` it returns
``[batch, n_symbols]``. As in TFQ, :meth:`Differentiator.generate_differentiable_op`
turns an op from :func:`qml.get_expectation_op` into one differentiated this way.
"""

from __future__ import annotations

import abc

import numpy as np

from qml.executors.base import Batch, Executor


class Differentiator(abc.ABC):
    """Base class: turns an upstream gradient into gradients of symbol values."""

    def generate_differentiable_op(self, *, sampled_op=None, analytic_op=None):
        """An expectation op whose gradient comes from this differentiator.

        Args:
            analytic_op: an op from :func:`qml.get_expectation_op`.
            sampled_op: not supported: sampled expectations are not part of qml yet.

        Returns:
            ``op(programs, symbol_names, symbol_values, pauli_sums)`` returning
            ``[batch, n_ops]`` float32 values.

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
        if sampled_op is not None:
            raise NotImplementedError("sampled expectation ops are not supported by qml yet")
        executor = getattr(analytic_op, "executor", None)
        if not isinstance(executor, Executor):
            raise TypeError(
                "analytic_op must be an op made by qml.get_expectation_op(backend), got "
                f"{analytic_op!r}"
            )
        from qml.layers.ops import ExpectationOp

        return ExpectationOp(executor, self)

    @abc.abstractmethod
    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation(batch))``."""

    def get_config(self) -> dict:
        return {}
