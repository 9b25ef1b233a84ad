"""TFQ's custom-differentiator contract: a subclass that implements only
``get_gradient_circuits``, checked against Cirq's finite differences, and saved in a
``.keras`` file through Keras's registry."""

import os

import cirq
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import NAMES, SYMBOLS, cirq_expectations, reference_gradient

import qml


class HalfPiShift(qml.differentiators.Differentiator):
    """The two-term shift rule of ``exp(-i t P / 2)`` gates, written in TensorFlow ops
    as a TFQ user writes it: per symbol, the circuit at ``value +- pi/2``."""

    def __init__(self):
        pass

    def get_gradient_circuits(self, programs, symbol_names, symbol_values):
        num_symbols = tf.shape(symbol_names)[0]
        batch = tf.shape(programs)[0]
        shifts = tf.eye(num_symbols) * (np.pi / 2)  # [n, n]
        shifted = tf.stack([shifts, -shifts], axis=1)  # [n, 2, n]
        shifted = tf.reshape(shifted, [2 * num_symbols, num_symbols])
        batch_values = symbol_values[:, None, :] + shifted[None]  # [b, 2n, n]
        batch_programs = tf.tile(programs[:, None], [1, 2 * num_symbols])
        weights = tf.tile(tf.constant([[[0.5, -0.5]]]), [batch, num_symbols, 1])
        mapper = tf.reshape(tf.range(2 * num_symbols), [1, num_symbols, 2])
        mapper = tf.tile(mapper, [batch, 1, 1])
        return batch_programs, symbol_names, batch_values, weights, mapper


def _rotation_circuits(rng, count):
    """Circuits in which each symbol drives one rotation, so the shift rule is exact."""
    qubits = cirq.LineQubit.range(3)
    rotations = [cirq.rx, cirq.ry, cirq.rz]
    circuits = []
    for _ in range(count):
        ops = [cirq.H(q) for q in qubits]
        for symbol in SYMBOLS:
            ops.append(rotations[rng.integers(3)](symbol)(qubits[rng.integers(3)]))
            ops.append(cirq.CZ(*rng.choice(qubits, 2, replace=False)))
            ops.append(cirq.ry(float(rng.uniform(0, 6)))(qubits[rng.integers(3)]))
        circuits.append(cirq.Circuit(ops))
    operators = [cirq.Z(qubits[0]) * cirq.X(qubits[2]), cirq.Y(qubits[1])]
    return circuits, operators


@pytest.mark.parametrize("graph", [False, True])
def test_a_differentiator_with_only_gradient_circuits_matches_finite_differences(graph):
    rng = np.random.default_rng(7)
    circuits, operators = _rotation_circuits(rng, 5)
    values = rng.uniform(-2, 2, (5, len(NAMES))).astype(np.float32)
    upstream = rng.normal(size=(5, 2))
    layer = qml.layers.Expectation(differentiator=HalfPiShift())
    variable = tf.Variable(values)

    def gradient():
        with tf.GradientTape() as tape:
            out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
            loss = tf.reduce_sum(out * tf.constant(upstream, tf.float32))
        return tape.gradient(loss, variable)

    got = (tf.function(gradient) if graph else gradient)().numpy()
    expected = reference_gradient(circuits, values, [operators] * 5, upstream, names=NAMES)
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_a_differentiator_with_only_gradient_circuits_differentiates_sampled_values():
    rng = np.random.default_rng(8)
    circuits, operators = _rotation_circuits(rng, 3)
    values = rng.uniform(-2, 2, (3, len(NAMES))).astype(np.float32)
    variable = tf.Variable(values)
    layer = qml.layers.SampledExpectation(differentiator=HalfPiShift(), seed=3)
    with tf.GradientTape() as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                    operators=operators[:1], repetitions=40000)
    got = tape.gradient(out, variable).numpy()
    expected = reference_gradient(circuits, values, [operators[:1]] * 3, np.ones((3, 1)),
                                  names=NAMES)
    # Each entry is half the difference of two 40000-shot means: sd <= 0.0036.
    np.testing.assert_allclose(got, expected, atol=0.025)


def test_a_differentiator_with_neither_method_says_what_is_missing():
    class Empty(qml.differentiators.Differentiator):
        pass

    q = cirq.LineQubit(0)
    variable = tf.Variable([[0.3]])
    with tf.GradientTape() as tape:
        out = qml.layers.Expectation(differentiator=Empty())(
            cirq.Circuit(cirq.rx(SYMBOLS[0])(q)), symbol_names=NAMES[:1],
            symbol_values=variable, operators=cirq.Z(q))
    with pytest.raises(NotImplementedError, match="neither get_gradient_circuits nor"):
        tape.gradient(out, variable)


def test_a_registered_custom_differentiator_saves_and_loads(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Registered(HalfPiShift):
        pass

    registered = Registered
    rng = np.random.default_rng(9)
    circuits, operators = _rotation_circuits(rng, 2)
    circuits = [cirq.resolve_parameters(c, dict(zip(NAMES, rng.uniform(0, 6, 4))))
                for c in circuits]  # data circuits
    inputs = keras.Input(shape=(), dtype="string")
    model_circuit = cirq.Circuit(cirq.rx(SYMBOLS[0])(cirq.LineQubit(0)))
    outputs = qml.layers.PQC(model_circuit, operators[0], differentiator=registered())(inputs)
    model = keras.Model(inputs, outputs)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    layer = restored.layers[-1]
    assert type(layer.differentiator) is registered
    data = qml.convert_to_tensor(circuits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(restored(data))
    got = tape.gradient(loss, layer.trainable_weights[0]).numpy()
    theta = float(layer.trainable_weights[0].numpy()[0])
    joined = [c + model_circuit for c in circuits]
    step = 1e-5
    plus = cirq_expectations(joined, np.array([[theta + step]] * 2), NAMES[:1],
                             [[operators[0]]] * 2)
    minus = cirq_expectations(joined, np.array([[theta - step]] * 2), NAMES[:1],
                              [[operators[0]]] * 2)
    np.testing.assert_allclose(got, [np.sum(plus - minus) / (2 * step)], atol=2e-4)


def test_an_unregistered_custom_differentiator_fails_to_load_with_keras_advice(tmp_path):
    class Unregistered(HalfPiShift):
        pass

    inputs = keras.Input(shape=(), dtype="string")
    q = cirq.LineQubit(0)
    outputs = qml.layers.PQC(cirq.Circuit(cirq.rx(SYMBOLS[0])(q)), cirq.Z(q),
                             differentiator=Unregistered())(inputs)
    path = os.path.join(tmp_path, "model.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(TypeError, match="register_keras_serializable"):
        keras.models.load_model(path)


class ExponentShift(qml.differentiators.Differentiator):
    """The shift rule of ``Y ** alpha`` in its exponent: ``pi/2 * (E(a + 1/2) -
    E(a - 1/2))``, for one symbol."""

    def get_gradient_circuits(self, programs, symbol_names, symbol_values):
        batch_programs = tf.stack([programs, programs], axis=1)
        batch_values = tf.stack([symbol_values + 0.5, symbol_values - 0.5], axis=1)
        count = tf.shape(batch_programs)[0]
        weights = tf.tile(tf.constant([[[np.pi / 2, -np.pi / 2]]]), [count, 1, 1])
        mapper = tf.tile(tf.constant([[[0, 1]]]), [count, 1, 1])
        return batch_programs, symbol_names, batch_values, weights, mapper


def test_a_custom_differentiator_on_a_noisy_cirq_sampler():
    """A sampled expectation op on a Cirq density-matrix simulator, made
    differentiable by a custom differentiator: values and gradients of ``<X>`` after
    ``Y ** alpha`` and a depolarizing channel against the closed form
    ``(1 - 4p/3) sin(pi alpha)``."""
    q = cirq.GridQubit(0, 0)
    noise = 0.05
    op = qml.get_sampled_expectation_op(cirq.DensityMatrixSimulator(seed=3))
    differentiable = ExponentShift().generate_differentiable_op(sampled_op=op)
    alphas = tf.constant([[0.3], [-0.7]])
    circuit = qml.convert_to_tensor(
        [cirq.Circuit(cirq.Y(q) ** SYMBOLS[0], cirq.depolarize(noise)(q))] * 2)
    with tf.GradientTape() as tape:
        tape.watch(alphas)
        out = differentiable(circuit, NAMES[:1], alphas, qml.convert_to_tensor(
            [[cirq.X(q), cirq.Y(q) + 0.5]] * 2), [[20000, 20000]] * 2)
    shrink = 1 - 4 * noise / 3
    expected = np.stack([shrink * np.sin(np.pi * alphas.numpy()[:, 0]),
                         np.full(2, 0.5)], axis=1)
    np.testing.assert_allclose(out.numpy(), expected, atol=0.03)
    gradient = tape.gradient(out, alphas).numpy()[:, 0]
    np.testing.assert_allclose(gradient, shrink * np.pi * np.cos(np.pi * alphas.numpy()[:, 0]),
                               atol=0.1)
