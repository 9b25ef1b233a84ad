"""Every layer passes the same Keras checks (``run_layer_test`` in conftest): output
spec against the real output, weights, config round trip and ``.keras`` round trip."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import cirq_expectations, run_layer_test

import qml

QUBITS = cirq.GridQubit.rect(1, 2)
A = sympy.Symbol("a")
MODEL = cirq.Circuit(cirq.rx(A)(QUBITS[0]), cirq.CNOT(*QUBITS))
NOISY_MODEL = MODEL + cirq.depolarize(0.05)(QUBITS[1])
OPERATORS = [cirq.Z(QUBITS[0]), cirq.X(QUBITS[1]) * cirq.Z(QUBITS[0])]
DATA = [cirq.Circuit(cirq.H(QUBITS[0]), cirq.I(QUBITS[1])),
        cirq.Circuit(cirq.X(QUBITS[1]), cirq.ry(0.3)(QUBITS[0]))]
CIRCUITS = qml.convert_to_tensor(DATA)
VALUES = tf.constant([[0.4], [1.3]])

# name: (make the layer, call it, inputs, trainable weights)
CASES = {
    "Expectation": (qml.layers.Expectation,
                    lambda layer, x: layer(x, operators=OPERATORS), CIRCUITS, 0),
    "Expectation with weights": (
        qml.layers.Expectation,
        lambda layer, x: layer(x, symbol_names=[A], operators=OPERATORS,
                               initializer="ones"),
        qml.convert_to_tensor([c + MODEL for c in DATA]), 1),
    "SampledExpectation": (lambda: qml.layers.SampledExpectation(seed=1),
                           lambda layer, x: layer(x, operators=OPERATORS, repetitions=20),
                           CIRCUITS, 0),
    "Sample": (lambda: qml.layers.Sample(seed=1),
               lambda layer, x: layer(x, repetitions=4), CIRCUITS, 0),
    "State": (qml.layers.State, lambda layer, x: layer(x), CIRCUITS, 0),
    "Unitary": (qml.layers.Unitary, lambda layer, x: layer(x), CIRCUITS, 0),
    "AddCircuit": (qml.layers.AddCircuit,
                   lambda layer, x: layer(x, append=cirq.Circuit(cirq.X(QUBITS[0]))),
                   CIRCUITS, 0),
    "PQC": (lambda: qml.layers.PQC(MODEL, OPERATORS), lambda layer, x: layer(x),
            CIRCUITS, 1),
    "ControlledPQC": (lambda: qml.layers.ControlledPQC(MODEL, OPERATORS),
                      lambda layer, x: layer(x), [CIRCUITS, VALUES], 0),
    "NoisyPQC": (lambda: qml.layers.NoisyPQC(NOISY_MODEL, OPERATORS, repetitions=30,
                                             sample_based=False, seed=2),
                 lambda layer, x: layer(x), CIRCUITS, 1),
    "NoisyControlledPQC": (
        lambda: qml.layers.NoisyControlledPQC(NOISY_MODEL, OPERATORS, repetitions=30,
                                              sample_based=True, seed=2),
        lambda layer, x: layer(x), [CIRCUITS, VALUES], 0),
}


def test_every_layer_has_a_case():
    covered = {name.split()[0] for name in CASES}
    assert covered == set(qml.layers.__all__)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_follows_keras_conventions(name, tmp_path):
    make, call, inputs, weights = CASES[name]
    out = run_layer_test(make, call, inputs, tmp_path, expected_weights=weights)
    if name == "ControlledPQC":  # and the values are right
        reference = cirq_expectations([c + MODEL for c in DATA], VALUES.numpy(), ["a"],
                                      [OPERATORS] * len(DATA))
        np.testing.assert_allclose(out.numpy(), reference, atol=1e-5)
