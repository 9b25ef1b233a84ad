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

import keras
import numpy as np

from qml.differentiators.base import Differentiator
from qml.executors.base import Batch, Executor
from qml.executors.native import NativeExecutor


def _no_gradient_circuits(differentiator: Differentiator, *args: object) -> None:
    raise NotImplementedError(
        f"{type(differentiator).__name__} differentiates without evaluating circuits, "
        "so it has no gradient circuits; ParameterShift, LinearCombination, "
        "ForwardDifference and CentralDifference have them")


@keras.saving.register_keras_serializable(package="qml")
class Adjoint(Differentiator):
    """The vector-Jacobian product of expectations in one backward sweep.

    From the final state ``psi`` and ``lambda = H psi``, where ``H`` is the
    upstream-weighted sum of the operators, the sweep un-applies one block at a time
    to both states. Each parameterized block ``U`` contributes
    ``2 Re <lambda| dU/dsymbol |psi>``, with ``dU/dsymbol`` the exact derivative of the
    block's matrix (gates are sums of ``exp(i phase) * matrix`` terms). The cost is
    about three forward passes, whatever the number of symbols.

    The sweep runs in the native core, or in the TensorFlow executor when that is the
    layer's executor (and, in complex128, after a Cirq simulator's forward pass). A
    forward pass on the native core or the TensorFlow executor keeps its final states,
    so the sweep does not simulate the circuits again. ``Adjoint`` is the default for
    exact expectations.

    Raises:
        TypeError: from a gradient of sampled or noisy expectations, which have no
            final state.
        NotImplementedError: from :meth:`get_gradient_circuits`; it evaluates no
            circuits.

    Example:
        >>> import cirq, sympy, tensorflow as tf, qml
        >>> q = cirq.LineQubit(0)
        >>> layer = qml.layers.Expectation(differentiator=qml.differentiators.Adjoint())
        >>> angle = tf.Variable([[0.5]])
        >>> with tf.GradientTape() as tape:
        ...     z = layer(cirq.Circuit(cirq.ry(sympy.Symbol("a"))(q)), symbol_names=["a"],
        ...               symbol_values=angle, operators=cirq.Z(q))
        >>> round(float(tape.gradient(z, angle)[0, 0]), 4)  # d cos(a) / da = -sin(0.5)
        -0.4794
    """

    def forward(self, executor: Executor, batch: Batch) -> tuple[np.ndarray, Batch]:
        if (not batch.estimation.exact or batch.noisy
                or "adjoint_gradient" not in executor.capabilities):
            return super().forward(executor, batch)
        values, kept = executor.expectation_and_kept(batch)
        return values, dataclasses.replace(batch, kept=kept)

    _row_gradient = _no_gradient_circuits

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        if not batch.estimation.exact or batch.noisy:
            return self.differentiate_sampled(executor, batch, upstream)  # raises
        if "adjoint_gradient" in executor.capabilities:
            return executor.adjoint_gradient(batch, upstream, batch.kept)
        return _NATIVE.adjoint_gradient(batch, upstream)  # qsim's forward, the core's sweep

    def differentiate_sampled(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        raise TypeError(
            "Adjoint differentiates exact, noiseless expectations only: it needs the "
            "final state, which sampled and noisy runs do not have. Use "
            "qml.differentiators.ParameterShift(), CentralDifference() or "
            "ForwardDifference()"
        )


@keras.saving.register_keras_serializable(package="qml")
class Autodiff(Differentiator):
    """TensorFlow's own automatic differentiation through the TensorFlow executor.

    Only for ``backend='tensorflow'``. Unlike the other differentiators it supports
    derivatives of any order (nested ``tf.GradientTape`` s, Hessians), at the memory
    cost of keeping every intermediate state of the forward pass.

    Raises:
        TypeError: for sampled or noisy expectations.
        NotImplementedError: from :meth:`get_gradient_circuits`; it evaluates no
            circuits.

    Example:
        >>> import cirq, sympy, tensorflow as tf, qml
        >>> q = cirq.LineQubit(0)
        >>> layer = qml.layers.Expectation(backend="tensorflow",
        ...                                differentiator=qml.differentiators.Autodiff())
        >>> angle = tf.Variable([[0.5]])
        >>> with tf.GradientTape() as outer:
        ...     with tf.GradientTape() as inner:
        ...         z = layer(cirq.Circuit(cirq.ry(sympy.Symbol("a"))(q)), symbol_names=["a"],
        ...                   symbol_values=angle, operators=cirq.Z(q))
        ...     slope = inner.gradient(z, angle)
        >>> round(float(outer.gradient(slope, angle)[0, 0]), 4)  # -cos(0.5)
        -0.8776
    """

    _row_gradient = _no_gradient_circuits

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        raise TypeError(
            "Autodiff differentiates TensorFlow ops and needs backend='tensorflow'; "
            f"this layer's executor is {executor.name!r}"
        )


_NATIVE = NativeExecutor()
