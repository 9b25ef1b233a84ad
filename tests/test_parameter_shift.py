"""ParameterShift against finite differences of cirq.Simulator."""

import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (
    NAMES,
    SYMBOLS,
    circuit_from_makers,
    random_parameter,
    random_paulisum,
    reference_gradient,
)

import qml


def shiftable_circuit(qubits, num_ops, rng):
    """Random circuits of gates whose parameters ParameterShift supports."""
    p = lambda: random_parameter(rng)  # noqa: E731
    c = lambda: float(rng.uniform(-1, 1))  # noqa: E731
    one = [lambda: cirq.XPowGate(exponent=p(), global_shift=c()),
           lambda: cirq.YPowGate(exponent=p()), lambda: cirq.ZPowGate(exponent=p()),
           lambda: cirq.HPowGate(exponent=p()), lambda: cirq.rx(p()), lambda: cirq.ry(p()),
           lambda: cirq.rz(p()),
           lambda: cirq.PhasedXPowGate(phase_exponent=c(), exponent=p()),
           lambda: cirq.PhasedXZGate(x_exponent=p(), z_exponent=p(), axis_phase_exponent=c())]
    two = [lambda: cirq.XXPowGate(exponent=p()), lambda: cirq.YYPowGate(exponent=p()),
           lambda: cirq.ZZPowGate(exponent=p(), global_shift=c()),
           lambda: cirq.CZPowGate(exponent=p()), lambda: cirq.CNotPowGate(exponent=p()),
           lambda: cirq.SwapPowGate(exponent=p()), lambda: cirq.FSimGate(theta=c(), phi=p()),
           lambda: cirq.ISWAP ** c()]

    def control(op, gate, arity, chosen):
        if rng.random() < 0.2:  # a controlled Z power: shiftable with no global shift
            return cirq.ZPowGate(exponent=p()).on(chosen[0]).controlled_by(chosen[-1])
        return op

    return circuit_from_makers(qubits, num_ops, rng, one, two, control)


def layer_gradient(differentiator, circuits, values, operators, upstream):
    layer = qml.layers.Expectation(differentiator=differentiator)
    variable = tf.Variable(values)
    with tf.GradientTape() as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                    operators=qml.convert_to_tensor(operators))
        loss = tf.reduce_sum(out * upstream)
    return tape.gradient(loss, variable).numpy()


@pytest.mark.parametrize("num_qubits", range(1, 7))
def test_parameter_shift_matches_finite_differences(num_qubits):
    rng = np.random.default_rng(40 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuits = [shiftable_circuit(qubits, 3 * num_qubits + 4, rng) for _ in range(3)]
    operators = [[random_paulisum(qubits, rng), cirq.Z(qubits[0])] for _ in range(3)]
    values = rng.uniform(-2, 2, (3, len(NAMES))).astype(np.float32)
    upstream = rng.normal(size=(3, 2)).astype(np.float32)
    got = layer_gradient(qml.differentiators.ParameterShift(), circuits, values, operators,
                         upstream)
    expected = reference_gradient(circuits, values, operators, upstream)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_parameter_shift_through_pqc_with_data_circuits(rng):
    qubits = cirq.GridQubit.rect(1, 3)
    model = shiftable_circuit(qubits, 12, rng)
    data = [cirq.Circuit(cirq.rx(float(x))(q) for x, q in zip(row, qubits))
            for row in rng.uniform(0, np.pi, (4, 3))]
    grads = {}
    for name, differentiator in [("shift", qml.differentiators.ParameterShift()),
                                 ("central", qml.differentiators.CentralDifference(
                                     error_order=4, grid_spacing=0.01))]:
        layer = qml.layers.PQC(model, [cirq.Z(qubits[0]), cirq.X(qubits[2])],
                               differentiator=differentiator,
                               initializer=keras.initializers.Constant(0.7))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(qml.convert_to_tensor(data)) * [[1.0, -2.0]])
        grads[name] = tape.gradient(loss, layer.trainable_weights)[0].numpy()
    np.testing.assert_allclose(grads["shift"], grads["central"], atol=2e-3)


@pytest.mark.parametrize("op", [
    cirq.ISwapPowGate(exponent=SYMBOLS[0]).on(*cirq.LineQubit.range(2)),
    cirq.rx(SYMBOLS[0]).on(cirq.LineQubit(0)).controlled_by(cirq.LineQubit(1)),
    cirq.PhasedXPowGate(phase_exponent=SYMBOLS[0], exponent=0.3).on(cirq.LineQubit(0)),
    cirq.FSimGate(theta=SYMBOLS[0], phi=0.2).on(*cirq.LineQubit.range(2)),
    # a controlled gate's global shift is a relative phase: two frequencies
    cirq.XPowGate(exponent=SYMBOLS[0], global_shift=0.3).on(cirq.LineQubit(0))
    .controlled_by(cirq.LineQubit(1)),
], ids=["iswap", "controlled-rx", "phased-x-phase", "fsim-theta", "controlled-shifted-x"])
def test_parameters_with_several_frequencies_are_exact(op):
    """Each of these needs two pairs of shifts; one pair would give a wrong gradient."""
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H.on_each(*q), cirq.ry(0.3)(q[1]), op, cirq.rx(0.4)(q[0]))
    values = np.full((1, len(NAMES)), 0.37, np.float32)
    operators = [[cirq.Z(q[0]) + cirq.X(q[0]) * cirq.Y(q[1]), cirq.Y(q[0])]]
    upstream = np.array([[1.0, -0.7]], np.float32)
    got = layer_gradient(qml.differentiators.ParameterShift(), [circuit], values, operators,
                         upstream)
    expected = reference_gradient([circuit], values, operators, upstream)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_pqc_trains_with_parameter_shift_under_fit():
    q = cirq.GridQubit(0, 0)
    layer = qml.layers.PQC(cirq.Circuit(cirq.ry(sympy.Symbol("theta"))(q)), cirq.Z(q),
                           differentiator=qml.differentiators.ParameterShift(),
                           initializer=keras.initializers.Constant(0.3))
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    history = model.fit(qml.convert_to_tensor([cirq.Circuit()] * 8), -np.ones((8, 1)),
                        epochs=40, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.01 < history.history["loss"][0]
