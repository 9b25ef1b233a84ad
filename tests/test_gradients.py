"""Gradients of every differentiator against complex128 finite differences of Cirq."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, cirq_expectations, random_circuit, random_paulisum,
                      random_values, reference_gradient)

import qml
from qml.errors import UnsupportedGateError

UPSTREAM = np.array([[1.0, -0.5], [0.25, 2.0]])


@pytest.fixture(autouse=True)
def eager(eager_functions):
    """Every test here runs the TensorFlow executor's functions eagerly."""


def reference_loss(circuit, operators, values: np.ndarray) -> float:
    """sum(UPSTREAM * expectations) of one circuit by cirq.Simulator in complex128."""
    return float(np.sum(UPSTREAM[:1] * cirq_expectations([circuit], values, NAMES,
                                                         [operators])))


def layer_gradient(backend, differentiator, circuits, operators, values) -> np.ndarray:
    layer = qml.layers.Expectation(backend=backend, differentiator=differentiator)
    variable = tf.Variable(values.astype(np.float32))
    with tf.GradientTape() as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=operators)
        loss = tf.reduce_sum(tf.constant(UPSTREAM, tf.float32) * out)
    return tf.convert_to_tensor(tape.gradient(loss, variable)).numpy()


COMBINATIONS = {
    "adjoint-qsim": (None, None),
    "adjoint-tensorflow": ("tensorflow", qml.differentiators.Adjoint()),
    "adjoint-tensorflow-runs": (qml.executors.TensorflowExecutor(block_qubits=1),
                                qml.differentiators.Adjoint()),
    "adjoint-tensorflow-blocks": (qml.executors.TensorflowExecutor(block_qubits=2),
                                  qml.differentiators.Adjoint()),
    "adjoint-cirq": (cirq.Simulator(), qml.differentiators.Adjoint()),
    "parameter-shift-qsim": ("qsim", qml.differentiators.ParameterShift()),
    "central-difference-tf128": (qml.executors.TensorflowExecutor("complex128"),
                                 qml.differentiators.CentralDifference(4, 0.01)),
    "autodiff-tensorflow": ("tensorflow", qml.differentiators.Autodiff()),
}


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4, 6, 8, 10])
def test_differentiators_match_finite_differences(num_qubits):
    rng = np.random.default_rng(300 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuits = [random_circuit(qubits, 3 * num_qubits + 4, rng) for _ in range(2)]
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    values = random_values(rng, 2).astype(np.float64)
    expected = reference_gradient(circuits, values, [operators] * 2, UPSTREAM)
    assert np.abs(expected).max() > 1e-3  # the circuits do depend on their symbols
    for name, (backend, differentiator) in COMBINATIONS.items():
        got = layer_gradient(backend, differentiator, circuits, operators, values)
        # rtol: finite differences of float32 symbol values lose ~1e-5 relative.
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4, err_msg=name)


def test_every_parameterized_gate_alone():
    """One gate at a time, controlled and not, so that no gate hides behind others."""
    a, b = SYMBOLS[:2]
    q = cirq.LineQubit.range(3)
    gates = [cirq.XPowGate(exponent=a, global_shift=0.3), cirq.YPowGate(exponent=2 * a),
             cirq.ZPowGate(exponent=a), cirq.HPowGate(exponent=a), cirq.rx(a), cirq.ry(a),
             cirq.rz(sympy.sin(a) + b), cirq.PhasedXPowGate(phase_exponent=a, exponent=b),
             cirq.PhasedXZGate(x_exponent=a, z_exponent=b, axis_phase_exponent=a * b),
             cirq.XXPowGate(exponent=a), cirq.YYPowGate(exponent=a),
             cirq.ZZPowGate(exponent=a), cirq.CZPowGate(exponent=a),
             cirq.CNotPowGate(exponent=a), cirq.SwapPowGate(exponent=a),
             cirq.ISwapPowGate(exponent=a), cirq.FSimGate(theta=a, phi=b),
             cirq.PhasedISwapPowGate(phase_exponent=a, exponent=b),
             cirq.CCXPowGate(exponent=a), cirq.CCZPowGate(exponent=a)]
    prepare = [cirq.H(q[0]), cirq.ry(0.4)(q[1]), cirq.rx(1.1)(q[2]), cirq.CZ(q[0], q[2])]
    operators = [cirq.X(q[0]) * cirq.Y(q[1]) + 0.5 * cirq.Z(q[2]), cirq.Y(q[0]) * cirq.X(q[2])]
    rng = np.random.default_rng(5)
    for gate in gates:
        ops = gate.on(*q[:cirq.num_qubits(gate)])
        for op in [ops] + ([ops.controlled_by(q[2])] if cirq.num_qubits(gate) < 3 else []):
            circuits = [cirq.Circuit(prepare, op, cirq.rx(0.2)(q[0]))] * 2
            values = random_values(rng, 2).astype(np.float64)
            expected = reference_gradient(circuits, values, [operators] * 2, UPSTREAM)
            for name, (backend, differentiator) in COMBINATIONS.items():
                got = layer_gradient(backend, differentiator, circuits, operators, values)
                np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=f"{op}: {name}")


def test_hessian_with_autodiff_matches_finite_differences():
    rng = np.random.default_rng(11)
    qubits = cirq.LineQubit.range(3)
    circuit = random_circuit(qubits, 12, rng)
    operators = [random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
    values = random_values(rng, 1).astype(np.float64)
    layer = qml.layers.Expectation(backend=qml.executors.TensorflowExecutor("complex128"),
                                   differentiator=qml.differentiators.Autodiff())
    variable = tf.Variable(values)
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            out = layer([circuit], symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
            loss = tf.reduce_sum(tf.constant(UPSTREAM[:1], tf.float32) * out)
        gradient = inner.gradient(loss, variable)
    hessian = outer.jacobian(gradient, variable, experimental_use_pfor=False)
    hessian = hessian.numpy().reshape(4, 4)

    step = 1e-4
    expected = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            total = 0.0
            for si, sj in [(1, 1), (1, -1), (-1, 1), (-1, -1)]:
                shifted = values.copy()
                shifted[0, i] += si * step
                shifted[0, j] += sj * step
                total += si * sj * reference_loss(circuit, operators, shifted)
            expected[i, j] = total / (4 * step**2)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(hessian, expected, atol=1e-4)


def test_adjoint_after_qsim_sweeps_in_the_native_core(monkeypatch):
    """With qsim for the values, the sweep runs in the native core."""
    rng = np.random.default_rng(2)
    qubits = cirq.LineQubit.range(4)
    circuits = [random_circuit(qubits, 16, rng)] * 2
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    values = random_values(rng, 2).astype(np.float64)
    calls = []
    original = qml.executors.NativeExecutor.adjoint_gradient
    monkeypatch.setattr(qml.executors.NativeExecutor, "adjoint_gradient",
                        lambda self, *args: calls.append(1) or original(self, *args))
    got = layer_gradient("qsim", qml.differentiators.Adjoint(), circuits, operators, values)
    assert calls
    expected = reference_gradient(circuits, values, [operators] * 2, UPSTREAM)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_adjoint_reuses_the_tensorflow_forward_states(monkeypatch):
    """Executing eagerly, the sweep starts from the forward pass's states instead of
    simulating the circuits again."""
    rng = np.random.default_rng(3)
    qubits = cirq.LineQubit.range(3)
    circuits = [random_circuit(qubits, 12, rng), random_circuit(qubits, 12, rng)]
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    values = random_values(rng, 2).astype(np.float64)
    kept = []
    original = qml.executors.TensorflowExecutor.adjoint_gradient
    monkeypatch.setattr(qml.executors.TensorflowExecutor, "adjoint_gradient",
                        lambda self, batch, upstream, states=None:
                        kept.append(states is not None) or original(self, batch, upstream,
                                                                    states))
    expected = reference_gradient(circuits, values, [operators] * 2, UPSTREAM)
    # One row, traced (not run eagerly) first: its block matrices broadcast over rows.
    layer = qml.layers.Expectation(backend=qml.executors.TensorflowExecutor())
    variable = tf.Variable(values[:1].astype(np.float32))
    tf.config.run_functions_eagerly(False)
    try:
        with tf.GradientTape() as tape:
            out = layer(circuits[:1], symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
            loss = tf.reduce_sum(tf.constant(UPSTREAM[:1], tf.float32) * out)
        one_row = tape.gradient(loss, variable).numpy()
    finally:
        tf.config.run_functions_eagerly(True)
    np.testing.assert_allclose(one_row, expected[:1], atol=1e-4)
    got = layer_gradient("tensorflow", qml.differentiators.Adjoint(), circuits, operators,
                         values)
    assert kept == [True, True]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_an_untaped_eager_forward_pass_keeps_no_states(monkeypatch):
    """Called eagerly with no gradient tape, the layer computes values only; under a
    tape it keeps the final states, and the gradient still matches Cirq's."""
    rng = np.random.default_rng(4)
    qubits = cirq.LineQubit.range(5)
    circuits = [random_circuit(qubits, 20, rng) for _ in range(2)]
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    values = random_values(rng, 2).astype(np.float64)
    keeping = []
    original = qml.executors.NativeExecutor.expectation_and_kept
    monkeypatch.setattr(qml.executors.NativeExecutor, "expectation_and_kept",
                        lambda self, batch: keeping.append(1) or original(self, batch))
    layer = qml.layers.Expectation(backend="native")
    variable = tf.Variable(values.astype(np.float32))
    out = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=operators)
    np.testing.assert_allclose(out.numpy(), cirq_expectations(circuits, values, NAMES,
                                                              [operators] * 2), atol=1e-5)
    assert keeping == []
    got = layer_gradient("native", None, circuits, operators, values)
    assert keeping == [1]
    np.testing.assert_allclose(got, reference_gradient(circuits, values, [operators] * 2,
                                                       UPSTREAM), atol=1e-4)


def test_autodiff_needs_the_tensorflow_backend():
    q = cirq.LineQubit(0)
    layer = qml.layers.Expectation(differentiator=qml.differentiators.Autodiff())
    with pytest.raises(TypeError, match="backend='tensorflow'"):
        layer(cirq.Circuit(cirq.rx(SYMBOLS[0])(q)), symbol_names=NAMES[:1],
              symbol_values=[[0.1]], operators=cirq.Z(q))


def test_parameter_shift_refuses_nonlinear_phases():
    """A controlled gate whose exponent and global shift are both symbols."""
    a, b = SYMBOLS[:2]
    q = cirq.LineQubit.range(2)
    gate = cirq.XPowGate(exponent=a, global_shift=b)
    circuit = cirq.Circuit(gate.on(q[0]).controlled_by(q[1]))
    with pytest.raises(UnsupportedGateError, match="of a controlled XPow gate"):
        layer_gradient("qsim", qml.differentiators.ParameterShift(), [circuit] * 2,
                       [cirq.Z(q[0])] * 2, np.zeros((2, 4)))


@pytest.mark.parametrize("frequencies", [(np.pi,), (np.pi / 2, np.pi), (1.0, 2.5, 4.0)])
def test_shift_rule_differentiates_trigonometric_polynomials(frequencies):
    from qml.differentiators.parameter_shift import shift_rule

    rng = np.random.default_rng(len(frequencies))
    a, b = rng.normal(size=(2, len(frequencies)))
    w = np.asarray(frequencies)
    f = lambda x: np.sum(a * np.cos(w * x) + b * np.sin(w * x))  # noqa: E731
    shifts, coefficients = shift_rule(tuple(frequencies))
    x = 0.37
    got = sum(c * (f(x + s) - f(x - s)) for s, c in zip(shifts, coefficients))
    np.testing.assert_allclose(got, np.sum(w * (b * np.cos(w * x) - a * np.sin(w * x))),
                               atol=1e-12)
