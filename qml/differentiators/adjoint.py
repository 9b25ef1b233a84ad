"""Exact gradients by the adjoint method, and plain automatic differentiation.

Example:
    >>> import cirq, sympy, tensorflow as tf, qml
    >>> q = cirq.LineQubit(0)
    >>> a = tf.Variable([[0.5]])
    >>> with tf.GradientTape() as tape:  # <Y> after rx(a) is -sin(a)
    ...     y = qml.layers.Expectation()(cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q)),
    ...         symbol_names=["a"], symbol_values=a, operators=cirq.Y(q))
    >>> round(float(tape.gradient(y, a)[0, 0]), 4)  # Adjoint, the default: -cos(0.5)
    -0.8776
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from qml.differentiators.base import Differentiator
from qml.executors.base import Batch, Executor
from qml.executors.default import DefaultExecutor
from qml.executors.tensorflow import TensorflowExecutor


class Adjoint(Differentiator):
    """The vector-Jacobian product of expectations in one backward sweep.

    From the final state ``psi`` and ``lambda = H psi``, where ``H`` is the
    upstream-weighted sum of the operators, the sweep un-applies one block at a time
    to both states. Each parameterized block ``U`` contributes
    ``2 Re <lambda| dU/dsymbol |psi>``, with ``dU/dsymbol`` the exact derivative of the
    block's matrix (gates are sums of ``exp(i phase) * matrix`` terms). The cost is
    about three forward passes, whatever the number of symbols.

    The sweep runs in the TensorFlow executor. After a qsim forward pass it starts
    from qsim's final states; with any other executor it simulates the forward pass
    itself in complex128.
    """

    def forward(self, executor: Executor, batch: Batch) -> tuple[np.ndarray, Batch]:
        """On the TensorFlow executor, the final states of the forward pass are kept
        for the sweep, which then does not simulate the circuits again."""
        chosen = executor.choose(batch) if isinstance(executor, DefaultExecutor) else executor
        if not isinstance(chosen, TensorflowExecutor) or batch.repetitions is not None \
                or batch.noisy:
            return super().forward(executor, batch)
        values, states = chosen.expectation_and_states(batch)
        return values, dataclasses.replace(batch, final_states=states)

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        if batch.repetitions is not None or batch.noisy:
            return self.differentiate_sampled(executor, batch, upstream)  # raises
        if isinstance(executor, DefaultExecutor):
            executor = executor.choose(batch)
        if isinstance(executor, TensorflowExecutor):
            return executor.adjoint_gradient(batch, upstream, batch.final_states)
        final_states = getattr(executor, "final_states", None)
        if final_states is not None:
            return _sweeper("complex64").adjoint_gradient(batch, upstream, final_states(batch))
        return _sweeper("complex128").adjoint_gradient(batch, upstream)

    def differentiate_sampled(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        raise TypeError(
            "Adjoint differentiates exact, noiseless expectations only: it needs the "
            "final state, which sampled and noisy runs do not have. Use "
            "qml.differentiators.ParameterShift(), CentralDifference() or "
            "ForwardDifference()"
        )


class Autodiff(Differentiator):
    """TensorFlow's own automatic differentiation through the TensorFlow executor.

    Only for ``backend='tensorflow'``. Unlike the other differentiators it supports
    derivatives of any order (nested ``tf.GradientTape`` s, Hessians), at the memory
    cost of keeping every intermediate state of the forward pass.
    """

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        raise TypeError(
            "Autodiff differentiates TensorFlow ops and needs backend='tensorflow'; "
            f"this layer's executor is {executor.name!r}"
        )


@functools.lru_cache(maxsize=None)
def _sweeper(precision: str) -> TensorflowExecutor:
    return TensorflowExecutor(precision=precision)
