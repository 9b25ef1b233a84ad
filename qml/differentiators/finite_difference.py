"""Finite differences: ``LinearCombination`` and its special cases.

These work with every executor and every gate, at the cost of one extra evaluation
per symbol and grid point.

Example:
    >>> CentralDifference(error_order=2, grid_spacing=0.01).perturbations
    (-0.01, 0.01)
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import numpy as np

from qml.differentiators.base import Differentiator, RowGradient
from qml.executors.base import Batch, Executor, evaluate


@keras.saving.register_keras_serializable(package="qml")
class LinearCombination(Differentiator):
    """Differentiates with ``sum_i weights[i] * f(value + perturbations[i])``.

    Each symbol is perturbed on its own, so a batch of ``b`` rows with ``s`` symbols
    costs ``b * s * len(perturbations)`` extra circuit evaluations.

    Args:
        weights: the coefficients of the combination.
        perturbations: the offsets at which the expectation is evaluated.

    Raises:
        ValueError: for empty or unequal lengths, repeated perturbations or
            non-finite numbers.

    Example:
        >>> LinearCombination([0.5, -0.5], [1.0, -1.0]).weights
        (0.5, -0.5)
    """

    def __init__(self, weights: Sequence[float], perturbations: Sequence[float]) -> None:
        weights = tuple(float(w) for w in weights)
        perturbations = tuple(float(p) for p in perturbations)
        if len(weights) != len(perturbations) or not weights:
            raise ValueError(
                f"weights and perturbations must be non-empty and of equal length, got "
                f"{len(weights)} weights and {len(perturbations)} perturbations"
            )
        if len(set(perturbations)) != len(perturbations):
            raise ValueError(f"perturbations must be distinct, got {list(perturbations)}")
        if not all(np.isfinite(weights + perturbations)):
            raise ValueError("weights and perturbations must be finite")
        self.weights = weights
        self.perturbations = perturbations

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        size, num_symbols = batch.symbol_values.shape
        if num_symbols == 0 or size == 0:
            return np.zeros((size, num_symbols), np.float32)
        # The unperturbed batch runs once; then rows ordered [symbol, offset, row].
        zero_weight = sum(w for w, p in zip(self.weights, self.perturbations) if p == 0)
        moved = [(w, p) for w, p in zip(self.weights, self.perturbations) if p != 0]
        offsets = np.asarray([p for _, p in moved])
        values = np.tile(batch.symbol_values.astype(np.float64), (num_symbols * len(moved), 1))
        values = values.reshape(num_symbols, len(moved), size, num_symbols)
        for symbol in range(num_symbols):
            values[symbol, :, :, symbol] += offsets[:, None]
        values = values.reshape(-1, num_symbols)
        copies = num_symbols * len(moved)
        if zero_weight:
            values = np.concatenate([batch.symbol_values.astype(np.float64), values])
            copies += 1
        shifted = dataclasses.replace(
            batch,
            programs=batch.programs * copies,
            symbol_values=values.astype(np.float32),
            operators=batch.operators * copies,
            estimation=batch.estimation.for_rows(np.tile(np.arange(size), copies)),
        )
        expectations = evaluate(executor, shifted).astype(np.float64)
        if zero_weight:
            unmoved, expectations = expectations[:size], expectations[size:]
        expectations = expectations.reshape(num_symbols, len(moved), size, -1)
        derivative = np.einsum("i,sibk->bsk", np.asarray([w for w, _ in moved]), expectations)
        if zero_weight:
            derivative += zero_weight * unmoved[:, None, :]
        padded = np.array([not p.num_qubits for p in batch.programs])
        derivative[padded] = 0.0
        return np.einsum("bk,bsk->bs", upstream.astype(np.float64), derivative).astype(
            np.float32
        )

    def _row_gradient(self, row: bytes, names: tuple[str, ...],
                      values: np.ndarray) -> RowGradient:
        gradient = RowGradient([], [], [[] for _ in names])
        if 0.0 in self.perturbations:  # the unperturbed circuit serves every symbol
            gradient.circuits.append(row)
            gradient.values.append(values)
        for symbol, terms in enumerate(gradient.terms):
            for weight, offset in zip(self.weights, self.perturbations):
                if offset == 0.0:  # listed first, as in TFQ
                    terms.insert(0, (0, weight))
                    continue
                moved = values.copy()
                moved[symbol] += offset
                terms.append((len(gradient.circuits), weight))
                gradient.circuits.append(row)
                gradient.values.append(moved)
        return gradient

    def get_config(self) -> dict:
        return {"weights": list(self.weights), "perturbations": list(self.perturbations)}


def _finite_difference_weights(offsets: Sequence[int], spacing: float) -> list[float]:
    """Weights ``w`` with ``sum_i w_i f(x + offsets_i h) ~ f'(x)``, exact to the order."""
    offsets = np.asarray(offsets, dtype=np.float64)
    vandermonde = np.vander(offsets, increasing=True).T
    target = np.zeros(len(offsets))
    target[1] = 1.0
    return list(np.linalg.solve(vandermonde, target) / spacing)


@dataclasses.dataclass(frozen=True)
class _GridOptions:
    error_order: int
    grid_spacing: float


def _check_grid(error_order: object, grid_spacing: object, even: bool) -> _GridOptions:
    if not isinstance(error_order, int) or isinstance(error_order, bool) or error_order < 1:
        raise ValueError(f"error_order must be a positive int, got {error_order!r}")
    if even and error_order % 2:
        raise ValueError(f"error_order must be even for CentralDifference, got {error_order}")
    if not isinstance(grid_spacing, (int, float)) or not 0 < grid_spacing < np.inf:
        raise ValueError(f"grid_spacing must be a positive number, got {grid_spacing!r}")
    return _GridOptions(error_order, float(grid_spacing))


@keras.saving.register_keras_serializable(package="qml")
class ForwardDifference(LinearCombination):
    """Forward finite differences of the given error order.

    Args:
        error_order: the order of the truncation error, a positive int.
        grid_spacing: the step ``h``.

    Raises:
        ValueError: for an ``error_order`` below 1 or a ``grid_spacing`` that is not
            positive and finite.

    Example:
        >>> ForwardDifference(error_order=1, grid_spacing=0.5).perturbations
        (0.0, 0.5)
    """

    def __init__(self, error_order: int = 1, grid_spacing: float = 0.001) -> None:
        grid = _check_grid(error_order, grid_spacing, even=False)
        offsets = list(range(grid.error_order + 1))
        super().__init__(
            _finite_difference_weights(offsets, grid.grid_spacing),
            [k * grid.grid_spacing for k in offsets],
        )
        self.error_order, self.grid_spacing = grid.error_order, grid.grid_spacing

    def get_config(self) -> dict:
        return {"error_order": self.error_order, "grid_spacing": self.grid_spacing}


@keras.saving.register_keras_serializable(package="qml")
class CentralDifference(LinearCombination):
    """Central finite differences of the given (even) error order.

    Args:
        error_order: the order of the truncation error, a positive even int.
        grid_spacing: the step ``h``.

    Raises:
        ValueError: for an odd or non-positive ``error_order``, or a
            ``grid_spacing`` that is not positive and finite.

    Example:
        >>> CentralDifference(error_order=2, grid_spacing=0.5).weights
        (-1.0, 1.0)
    """

    def __init__(self, error_order: int = 2, grid_spacing: float = 0.001) -> None:
        grid = _check_grid(error_order, grid_spacing, even=True)
        half = grid.error_order // 2
        offsets = [k for k in range(-half, half + 1) if k != 0]
        super().__init__(
            _finite_difference_weights([0] + offsets, grid.grid_spacing)[1:],
            [k * grid.grid_spacing for k in offsets],
        )
        self.error_order, self.grid_spacing = grid.error_order, grid.grid_spacing

    def get_config(self) -> dict:
        return {"error_order": self.error_order, "grid_spacing": self.grid_spacing}
