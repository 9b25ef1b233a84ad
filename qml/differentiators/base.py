"""The differentiator interface.

A differentiator computes the vector-Jacobian product of an expectation with respect
to ``symbol_values``: given the upstream gradient ``[batch, n_ops]`` it returns
``[batch, n_symbols]``.
"""

from __future__ import annotations

import abc

import numpy as np

from qml.executors.base import Batch, Executor


class Differentiator(abc.ABC):
    """Base class: turns an upstream gradient into gradients of symbol values."""

    @abc.abstractmethod
    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation(batch))``."""

    def get_config(self) -> dict:
        return {}
