"""Keras layers: values against Cirq, TFQ's symbol order, save/load, fit, gradients."""


import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, cirq_expectations, keras_round_trip, random_circuit,
                      random_values, reference_gradient)

import qml


def check_layer(model: keras.Model, inputs, tmp_path, expected_weights: int):
    """Checks output shape and dtype, weight count, and an identical .keras round trip."""
    before = model(inputs)
    assert before.dtype == tf.float32 and before.shape[0] == _batch_of(inputs)
    assert len(model.trainable_weights) == expected_weights
    keras_round_trip(model, inputs, tmp_path, expected=before)
    return before


def _batch_of(inputs):
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return first.shape[0]


def test_expectation_layer_matches_cirq(rng):
    qubits = cirq.GridQubit.rect(2, 2)
    circuits = [random_circuit(qubits, 20, rng) for _ in range(4)]
    operators = [cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.Y(qubits[3]) + 0.5]
    values = random_values(rng, 4)
    got = qml.layers.Expectation()(circuits, symbol_names=SYMBOLS, symbol_values=values,
                                   operators=operators)
    expected = cirq_expectations(circuits, values, NAMES, [operators] * 4)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_expectation_with_a_cirq_backend(rng):
    qubits = cirq.LineQubit.range(3)
    circuit = random_circuit(qubits, 10, rng)
    values = random_values(rng, 3)
    layer = qml.layers.Expectation(backend=cirq.Simulator())
    got = layer(circuit, symbol_names=NAMES, symbol_values=values, operators=cirq.Z(qubits[1]))
    expected = cirq_expectations([circuit] * 3, values, NAMES, [[cirq.Z(qubits[1])]] * 3)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_expectation_inside_tf_function(rng):
    qubits = cirq.LineQubit.range(2)
    circuit = random_circuit(qubits, 8, rng)
    tensor = qml.convert_to_tensor([circuit] * 3)
    layer = qml.layers.Expectation()

    @tf.function
    def run(values):
        return layer(tensor, symbol_names=NAMES, symbol_values=values,
                     operators=[cirq.Z(qubits[0])])

    values = random_values(rng, 3)
    expected = cirq_expectations([circuit] * 3, values, NAMES, [[cirq.Z(qubits[0])]] * 3)
    np.testing.assert_allclose(run(tf.constant(values)).numpy(), expected, atol=1e-5)


def test_expectation_creates_weights_when_values_are_omitted(tmp_path):
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.rx(SYMBOLS[0])(q))
    layer = qml.layers.Expectation()
    out = layer(circuit, symbol_names=[SYMBOLS[0]], operators=cirq.Z(q),
                initializer=keras.initializers.Constant(np.pi))
    np.testing.assert_allclose(out.numpy(), [[-1.0]], atol=1e-6)
    assert [w.shape for w in layer.trainable_weights] == [(1,)]
    # build() creates them, as Keras calls it when it loads a layer from its config.
    restored = qml.layers.Expectation.from_config(layer.get_config())
    assert not restored.trainable_weights
    restored.build(None)
    assert [w.shape for w in restored.trainable_weights] == [(1,)]
    # In a model, the created weights save and load with it.
    inputs = keras.Input(shape=(), dtype="string")
    outputs = qml.layers.Expectation()(inputs, symbol_names=[SYMBOLS[0]],
                                       operators=cirq.Z(q),
                                       initializer=keras.initializers.Constant(2.0))
    got = check_layer(keras.Model(inputs, outputs), qml.convert_to_tensor([circuit]),
                      tmp_path, expected_weights=1)
    np.testing.assert_allclose(got.numpy(), [[np.cos(2.0)]], atol=1e-6)


def test_functional_model_reads_the_created_weights_when_it_runs():
    """The model follows its weights, as they are set or trained, not their value
    when the model was built."""
    q = cirq.LineQubit(0)
    circuit = qml.convert_to_tensor([cirq.Circuit(cirq.rx(SYMBOLS[0])(q))] * 4)
    inputs = keras.Input(shape=(), dtype="string")
    layer = qml.layers.Expectation()
    model = keras.Model(inputs, layer(inputs, symbol_names=[SYMBOLS[0]], operators=cirq.Z(q),
                                      initializer=keras.initializers.Constant(0.3)))
    layer.symbol_weights.assign([1.1])
    np.testing.assert_allclose(model(circuit).numpy(), np.full((4, 1), np.cos(1.1)), atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    model.fit(circuit, -np.ones((4, 1)), epochs=20, verbose=0)
    angle = float(layer.symbol_weights.numpy()[0])
    assert angle > 2.0  # moved towards pi, where <Z> = -1
    np.testing.assert_allclose(model(circuit).numpy(), np.full((4, 1), np.cos(angle)), atol=1e-5)


def test_pqc_orders_symbols_by_name_and_saves(tmp_path):
    q = cirq.GridQubit.rect(1, 2)
    b, a, x10, x2 = sympy.symbols("b a x10 x2")
    model_circuit = cirq.Circuit(cirq.rx(b)(q[0]), cirq.ry(a)(q[1]), cirq.rz(x10)(q[0]),
                                 cirq.rx(x2)(q[1]), cirq.CZ(*q))
    layer = qml.layers.PQC(model_circuit, [cirq.Z(q[0]), cirq.X(q[1])])
    assert [s.name for s in layer.symbols] == ["a", "b", "x10", "x2"]
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    data = qml.convert_to_tensor([cirq.Circuit(), cirq.Circuit(cirq.X(q[0]), cirq.H(q[1]))])
    got = check_layer(model, data, tmp_path, expected_weights=1)
    weights = layer.get_weights()[0]
    resolver = dict(zip(["a", "b", "x10", "x2"], weights))
    sim = cirq.Simulator(dtype=np.complex128)
    for row, data_circuit in enumerate(qml.from_tensor(data)):
        full = data_circuit + model_circuit
        expected = np.real(sim.simulate_expectation_values(
            full, [cirq.Z(q[0]), cirq.X(q[1])], resolver, qubit_order=q))
        np.testing.assert_allclose(got.numpy()[row], expected, atol=1e-5)


def test_controlled_pqc_round_trip(tmp_path, rng):
    qubits = cirq.GridQubit.rect(1, 3)
    model_circuit = random_circuit(qubits, 15, rng)
    symbols = qml.util.get_circuit_symbols(model_circuit)
    circuits_in = keras.Input(shape=(), dtype="string")
    values_in = keras.Input(shape=(3,))
    controller = keras.layers.Dense(len(symbols))
    layer = qml.layers.ControlledPQC(model_circuit, [cirq.Z(qubits[0]), cirq.Y(qubits[2])],
                                     differentiator=qml.differentiators.CentralDifference())
    model = keras.Model([circuits_in, values_in], layer([circuits_in, controller(values_in)]))
    data = qml.convert_to_tensor([cirq.Circuit()] * 4)
    features = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    got = check_layer(model, [data, features], tmp_path, expected_weights=2)
    values = controller(features).numpy()
    expected = cirq_expectations([model_circuit] * 4, values, symbols,
                                 [[cirq.Z(qubits[0]), cirq.Y(qubits[2])]] * 4)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_add_circuit_round_trip(tmp_path):
    q = cirq.LineQubit.range(2)
    extra = cirq.Circuit(cirq.CNOT(*q))
    inputs = keras.Input(shape=(), dtype="string")
    added = qml.layers.AddCircuit()(inputs, append=extra)
    expectation = qml.layers.Expectation()(added, operators=[cirq.Z(q[1])])
    model = keras.Model(inputs, expectation)
    data = qml.convert_to_tensor([cirq.Circuit(cirq.X(q[0])), cirq.Circuit(cirq.I(q[0]))])
    got = check_layer(model, data, tmp_path, expected_weights=0)
    np.testing.assert_allclose(got.numpy(), [[-1.0], [1.0]], atol=1e-6)
    prepended = qml.layers.AddCircuit()(data, prepend=cirq.Circuit(cirq.H(q[1])))
    assert qml.from_tensor(prepended)[0] == cirq.Circuit(
        [cirq.Moment(cirq.H(q[1])), cirq.Moment(cirq.X(q[0]))])


@pytest.mark.parametrize("differentiator", [
    qml.differentiators.CentralDifference(error_order=4, grid_spacing=0.01),
    qml.differentiators.ForwardDifference(error_order=2, grid_spacing=0.005),
])
def test_finite_difference_gradients_match_cirq(differentiator, rng):
    qubits = cirq.LineQubit.range(3)
    circuit = random_circuit(qubits, 12, rng)
    operators = [cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.X(qubits[2])]
    values = tf.Variable(random_values(rng, 2))
    layer = qml.layers.Expectation(differentiator=differentiator)
    weights = tf.constant([[1.0, -0.5], [0.3, 2.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * layer(circuit, symbol_names=NAMES,
                                             symbol_values=values, operators=operators))
    got = tape.gradient(loss, values).numpy()
    expected = reference_gradient([circuit] * 2, values.numpy(), [operators] * 2,
                                  weights.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=2e-2)


def test_pqc_trains_under_fit():
    q = cirq.GridQubit(0, 0)
    theta = sympy.Symbol("theta")
    layer = qml.layers.PQC(cirq.Circuit(cirq.ry(theta)(q)), cirq.Z(q),
                           differentiator=qml.differentiators.CentralDifference(),
                           initializer=keras.initializers.Constant(0.3))
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    data = qml.convert_to_tensor([cirq.Circuit()] * 8)
    history = model.fit(data, -np.ones((8, 1)), epochs=40, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.01 < history.history["loss"][0]


def test_empty_batch_keeps_the_operator_dimension():
    q = cirq.GridQubit(0, 0)
    out = qml.layers.Expectation()(tf.zeros([0], tf.string), symbol_names=[],
                                   symbol_values=np.zeros((0, 0)),
                                   operators=[cirq.Z(q), cirq.X(q)])
    assert out.shape == (0, 2)
