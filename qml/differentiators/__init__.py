"""Differentiators: how a layer's expectation values are differentiated.

Every differentiator computes the vector-Jacobian product of an expectation with
respect to ``symbol_values``. ``Adjoint``, the default, gives exact gradients in one
backward sweep on every executor; ``ParameterShift`` gives exact gradients from
shifted evaluations; ``LinearCombination``, ``ForwardDifference`` and
``CentralDifference`` work with every gate. ``Autodiff`` uses TensorFlow's automatic
differentiation through ``backend='tensorflow'``, to any order.

Example:
    >>> CentralDifference(error_order=2, grid_spacing=0.01).perturbations
    (-0.01, 0.01)
"""

from qml.differentiators.adjoint import Adjoint, Autodiff
from qml.differentiators.base import Differentiator
from qml.differentiators.finite_difference import (
    CentralDifference,
    ForwardDifference,
    LinearCombination,
)
from qml.differentiators.parameter_shift import ParameterShift

__all__ = [
    "Adjoint",
    "Autodiff",
    "CentralDifference",
    "Differentiator",
    "ForwardDifference",
    "LinearCombination",
    "ParameterShift",
]
