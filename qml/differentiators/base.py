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

import abc

import numpy as np

from qml.executors.base import Batch, Executor


class Differentiator(abc.ABC):
    """Base class: turns an upstream gradient into gradients of symbol values."""

    def generate_differentiable_op(self, *, sampled_op=None, analytic_op=None):
        """An expectation op whose gradient comes from this differentiator.

        Args:
            analytic_op: an op from :func:`qml.get_expectation_op`.
            sampled_op: an op from :func:`qml.get_sampled_expectation_op`.
            Exactly one is given.

        Returns:
            An op with the same call signature, whose gradient comes from this
            differentiator.

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
        from qml.layers.ops import ExpectationOp, SampledExpectationOp

        if (sampled_op is None) == (analytic_op is None):
            raise TypeError("give exactly one of sampled_op= and analytic_op=")
        if sampled_op is not None:
            if not isinstance(sampled_op, SampledExpectationOp):
                raise TypeError(
                    "sampled_op must be an op made by qml.get_sampled_expectation_op, "
                    f"got {sampled_op!r}")
            return SampledExpectationOp(sampled_op.executor, self, sampled_op.seed,
                                        sampled_op.sampled)
        if not isinstance(analytic_op, ExpectationOp):
            raise TypeError(
                "analytic_op must be an op made by qml.get_expectation_op(backend), got "
                f"{analytic_op!r}"
            )
        return ExpectationOp(analytic_op.executor, self)

    @abc.abstractmethod
    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation(batch))``."""

    def differentiate_sampled(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """The gradient of a sampled or noisy expectation (``batch.repetitions`` set).

        By default the same rule as :meth:`differentiate_analytic`, with every shifted
        evaluation estimated as ``batch`` asks.
        """
        return self.differentiate_analytic(executor, batch, upstream)

    def get_config(self) -> dict:
        return {}
