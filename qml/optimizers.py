"""Gradient-free minimizers of expectation values, named as in ``tfq.optimizers``.

``rotosolve_minimize`` sets one parameter at a time to the exact minimum of the
sinusoid it traces (arXiv:1903.12166, arXiv:1905.09692); it needs a function whose
parameters each enter as ``exp(-i theta P / 2)`` with ``P**2 = 1``, such as an
expectation of a circuit of rotations. ``spsa_minimize`` follows a random
two-point gradient estimate (Spall's SPSA) and tolerates noisy functions, such as
sampled expectations.

Both run eagerly, and return their state as a result object whose fields are
tensors, as TFQ's do.

Example:
    >>> import tensorflow as tf
    >>> result = rotosolve_minimize(lambda x: tf.reduce_sum(tf.sin(x)), [0.1, 0.2])
    >>> bool(result.converged), round(float(result.objective_value), 4)
    (True, -2.0)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

__all__ = ["RotosolveOptimizerResults", "SPSAOptimizerResults", "rotosolve_minimize",
           "spsa_minimize"]

Objective = Callable[[tf.Tensor], Any]


@dataclasses.dataclass(frozen=True)
class _MinimizerResults:
    """Where a minimizer stopped.

    Attributes:
        converged: whether the last sweep or step changed the objective by less than
            ``tolerance``.
        num_iterations: sweeps (Rotosolve) or steps (SPSA) taken.
        num_objective_evaluations: calls of the objective.
        position: the last parameters.
        objective_value_prev: the objective before the last sweep or accepted step.
        objective_value: the objective at ``position``.
        tolerance: the stopping tolerance.
    """

    converged: tf.Tensor
    num_iterations: tf.Tensor
    num_objective_evaluations: tf.Tensor
    position: tf.Tensor
    objective_value_prev: tf.Tensor
    objective_value: tf.Tensor
    tolerance: tf.Tensor


@dataclasses.dataclass(frozen=True)
class RotosolveOptimizerResults(_MinimizerResults):
    """Where :func:`rotosolve_minimize` stopped: the fields of every minimizer's
    result (``position`` in [0, 2 pi)), and

    Attributes:
        solve_param_i: the number of parameters, each solved once per sweep.

    Example:
        >>> result = rotosolve_minimize(lambda x: tf.cos(x[0]), [0.3])
        >>> round(float(result.position[0]), 4), int(result.solve_param_i)
        (3.1416, 1)
    """

    solve_param_i: tf.Tensor


@dataclasses.dataclass(frozen=True)
class SPSAOptimizerResults(_MinimizerResults):
    """Where :func:`spsa_minimize` stopped: the fields of every minimizer's result,
    and

    Attributes:
        learning_rate: the step size's numerator, as in the last step.
        alpha: the step size's decay exponent.
        perturb: the perturbation's size, as in the last step.
        gamma: the perturbation's decay exponent.
        blocking: whether steps that raise the objective were refused.
        allowed_increase: the rise that ``blocking`` allowed.

    Example:
        >>> result = spsa_minimize(lambda x: tf.reduce_sum(x ** 2), [0.5], seed=1)
        >>> bool(result.converged), round(float(result.alpha), 3)
        (True, 0.602)
    """

    learning_rate: tf.Tensor
    alpha: tf.Tensor
    perturb: tf.Tensor
    gamma: tf.Tensor
    blocking: tf.Tensor
    allowed_increase: tf.Tensor


def _start(initial_position: Any, max_iterations: Any, **finite: Any) -> np.ndarray:
    if not tf.executing_eagerly():
        raise RuntimeError("qml's minimizers run eagerly; call them outside tf.function")
    position = np.array(tf.convert_to_tensor(initial_position, tf.float32), np.float32)
    if position.ndim != 1 or not np.isfinite(position).all():
        raise ValueError(f"initial_position must be a finite vector [n], got shape "
                         f"{position.shape}")
    if isinstance(max_iterations, bool) or not isinstance(
            max_iterations, (int, np.integer)) or max_iterations < 0:
        raise ValueError(f"max_iterations must be a non-negative int, got "
                         f"{max_iterations!r}")
    for name, value in finite.items():
        if not np.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value!r}")
    return position


def _evaluator(function: Objective) -> Callable[[np.ndarray], float]:
    """The objective as float32 vector -> float, checked to be a finite scalar."""
    def evaluate(position: np.ndarray) -> float:
        value = np.asarray(function(tf.constant(position, tf.float32)))
        if value.size != 1 or not np.isfinite(value).all():
            raise ValueError(f"expectation_value_function must return one finite "
                             f"number, got {value!r:.80}")
        return float(value.reshape(()))

    return evaluate


def rotosolve_minimize(expectation_value_function: Objective, initial_position: Any,
                       tolerance: float = 1e-5, max_iterations: int = 50,
                       name: Optional[str] = None) -> RotosolveOptimizerResults:
    """Minimizes a sum of expectations one parameter at a time.

    Along parameter ``d`` the function is ``A sin(theta_d + B) + C``; three values,
    at ``theta_d`` and ``theta_d +- pi/2``, fix ``A``, ``B`` and ``C``, and the
    parameter moves to the minimum, ``theta_d = -pi/2 - B`` (mod 2 pi). A sweep solves
    every parameter once; sweeps stop when one changes the objective by less than
    ``tolerance``, or after ``max_iterations``.

    Args:
        expectation_value_function: maps a float32 ``[n]`` tensor to a scalar.
        initial_position: the ``[n]`` starting parameters.
        tolerance: the change of objective per sweep below which it stops.
        max_iterations: the most sweeps.
        name: accepted for TFQ's sake.

    Returns:
        A :class:`RotosolveOptimizerResults`.

    Raises:
        ValueError: for a non-finite start or objective value, or a bad count.
        RuntimeError: inside ``tf.function``.

    Example:
        >>> import numpy as np
        >>> result = rotosolve_minimize(lambda x: tf.sin(x[0]) + tf.cos(x[1]), [0.1, 0.2])
        >>> np.round(result.position.numpy(), 4)  # sin is least at 3 pi / 2, cos at pi
        array([4.7124, 3.1416], dtype=float32)
    """
    del name
    position = _start(initial_position, max_iterations, tolerance=tolerance)
    evaluate = _evaluator(expectation_value_function)
    value, previous, evaluations = evaluate(position), np.inf, 1
    sweeps, converged = 0, False
    while sweeps < max_iterations and not converged:
        previous = value
        for d in range(len(position)):
            shift = np.zeros_like(position)
            shift[d] = np.pi / 2
            minus, plus = evaluate(position - shift), evaluate(position + shift)
            position[d] = np.mod(position[d] - np.pi / 2
                                 - np.arctan2(2 * value - minus - plus, plus - minus),
                                 2 * np.pi)
            value = evaluate(position)
            evaluations += 3
        sweeps += 1
        converged = abs(value - previous) < tolerance
    return RotosolveOptimizerResults(
        converged=tf.constant(converged), num_iterations=tf.constant(sweeps),
        num_objective_evaluations=tf.constant(evaluations),
        position=tf.constant(position), objective_value_prev=tf.constant(previous,
                                                                         tf.float32),
        objective_value=tf.constant(value, tf.float32),
        tolerance=tf.constant(tolerance, tf.float32),
        solve_param_i=tf.constant(len(position)))


def spsa_minimize(expectation_value_function: Objective, initial_position: Any,
                  tolerance: float = 1e-5, max_iterations: int = 200,
                  alpha: float = 0.602, learning_rate: float = 1.0, perturb: float = 1.0,
                  gamma: float = 0.101, blocking: bool = False,
                  allowed_increase: float = 0.5, seed: Optional[int] = None,
                  name: Optional[str] = None) -> SPSAOptimizerResults:
    """Minimizes a (possibly noisy) function by simultaneous perturbation.

    Step ``k`` (from 0) draws ``delta`` of random signs and estimates the gradient as
    ``(f(x + c_k delta) - f(x - c_k delta)) / (2 c_k) * delta``, with
    ``c_k = perturb / (k + 1)**gamma``, then steps by ``a_k = learning_rate /
    (k + 1 + 0.01 max_iterations)**alpha`` times that estimate. With ``blocking``, a
    step that raises the objective by more than ``allowed_increase`` is refused. It
    stops when a step changes the objective by less than ``tolerance``, or after
    ``max_iterations``.

    Args:
        expectation_value_function: maps a float32 ``[n]`` tensor to a scalar.
        initial_position: the ``[n]`` starting parameters.
        tolerance: the change of objective per step below which it stops.
        max_iterations: the most steps.
        alpha: the decay exponent of the step size ``a_k``.
        learning_rate: the numerator of ``a_k``.
        perturb: the numerator of the perturbation size ``c_k``.
        gamma: the decay exponent of ``c_k``.
        blocking: refuse steps that raise the objective by more than
            ``allowed_increase``.
        allowed_increase: the rise that ``blocking`` allows.
        seed: seeds the perturbations; None follows NumPy's global generator.
        name: accepted for TFQ's sake.

    Returns:
        A :class:`SPSAOptimizerResults`.

    Raises:
        ValueError: for a non-finite start, setting or objective value, or a bad count.
        RuntimeError: inside ``tf.function``.

    Example:
        >>> result = spsa_minimize(lambda x: tf.reduce_sum(x ** 2), [1.0, -0.5], seed=1)
        >>> float(result.objective_value) < 1e-3
        True
    """
    del name
    position = _start(initial_position, max_iterations, tolerance=tolerance, alpha=alpha,
                      learning_rate=learning_rate, perturb=perturb, gamma=gamma,
                      allowed_increase=allowed_increase)
    rng = np.random.default_rng(seed) if seed is not None else np.random.default_rng(
        np.random.randint(2**31))
    evaluate = _evaluator(expectation_value_function)
    value, previous, evaluations = evaluate(position), np.inf, 1
    step, converged = 0, False
    a_k = c_k = 0.0
    while step < max_iterations and not converged:
        a_k = learning_rate / (step + 1 + 0.01 * max_iterations) ** alpha
        c_k = perturb / (step + 1) ** gamma
        delta = rng.choice(np.array([-1.0, 1.0], np.float32), len(position))
        estimate = (evaluate(position + c_k * delta) - evaluate(position - c_k * delta)) \
            / (2 * c_k) * delta
        candidate = (position - a_k * estimate).astype(np.float32)
        candidate_value = evaluate(candidate)
        evaluations += 3
        step += 1
        if not blocking or candidate_value <= value + allowed_increase:
            converged = abs(candidate_value - value) < tolerance
            previous, value, position = value, candidate_value, candidate
    return SPSAOptimizerResults(
        converged=tf.constant(converged), num_iterations=tf.constant(step),
        num_objective_evaluations=tf.constant(evaluations),
        position=tf.constant(position), objective_value_prev=tf.constant(previous,
                                                                         tf.float32),
        objective_value=tf.constant(value, tf.float32),
        tolerance=tf.constant(tolerance, tf.float32),
        learning_rate=tf.constant(a_k, tf.float32), alpha=tf.constant(alpha, tf.float32),
        perturb=tf.constant(c_k, tf.float32), gamma=tf.constant(gamma, tf.float32),
        blocking=tf.constant(blocking),
        allowed_increase=tf.constant(allowed_increase, tf.float32))
