"""Keras 3 layers with TFQ's names: circuit executors and high-level layers."""

from qml.layers.circuit_executors import (
    AddCircuit,
    Expectation,
    Sample,
    SampledExpectation,
    State,
    Unitary,
)
from qml.layers.high_level import PQC, ControlledPQC, NoisyControlledPQC, NoisyPQC

__all__ = ["AddCircuit", "ControlledPQC", "Expectation", "NoisyControlledPQC", "NoisyPQC",
           "PQC", "Sample", "SampledExpectation", "State", "Unitary"]
