"""Keras 3 layers with TFQ's names: circuit executors and high-level layers."""

from qml.layers.circuit_executors import AddCircuit, Expectation
from qml.layers.high_level import PQC, ControlledPQC

__all__ = ["AddCircuit", "ControlledPQC", "Expectation", "PQC"]
