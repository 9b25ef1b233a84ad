"""Differentiators: how a layer's expectation values are differentiated.

Every differentiator computes the vector-Jacobian product of an expectation with
respect to ``symbol_values``. ``ParameterShift`` gives exact gradients for gates whose
parameters enter with a single frequency; ``LinearCombination``, ``ForwardDifference``
and ``CentralDifference`` work with every gate. The default analytic differentiator,
``Adjoint``, is not available yet: layers whose ``differentiator`` is None raise a
clear error when asked for a gradient.

Example:
    >>> CentralDifference(error_order=2, grid_spacing=0.01).perturbations
    (-0.01, 0.01)
"""

from qml.differentiators.base import Differentiator
from qml.differentiators.finite_difference import (
    CentralDifference,
    ForwardDifference,
    LinearCombination,
)
from qml.differentiators.parameter_shift import ParameterShift

__all__ = [
    "CentralDifference",
    "Differentiator",
    "ForwardDifference",
    "LinearCombination",
    "ParameterShift",
]
