"""get_gradient_circuits: the circuits, values and weights behind a gradient.

The gradient is rebuilt from the returned circuits with cirq.Simulator and compared
with complex128 finite differences of Cirq, and with TFQ's own gradient circuits."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, cirq_expectations, random_circuit, random_paulisum,
                      random_values, reference_gradient)

import qml
from qml.errors import MissingSymbolError, UnsupportedGateError


DIFFERENTIATORS = {
    "parameter-shift": qml.differentiators.ParameterShift(),
    "central-difference": qml.differentiators.CentralDifference(4, 0.01),
    "forward-difference": qml.differentiators.ForwardDifference(4, 0.01),
    "linear-combination": qml.differentiators.LinearCombination(  # 4th order, h = 0.01
        np.array([1.0, -8.0, 8.0, -1.0]) / 0.12, [-0.02, -0.01, 0.01, 0.02]),
}


def rebuilt_gradient(outputs, operators, upstream: np.ndarray) -> np.ndarray:
    """``sum_j weights * E(circuit, values)`` per row and symbol, by cirq.Simulator."""
    programs, names, values, weights, mapper = (x.numpy() for x in outputs)
    names = [n.decode() for n in names]
    circuits = qml.from_tensor(programs)
    gradient = np.zeros(weights.shape[:2])
    for row in range(weights.shape[0]):
        used = sorted({int(j) for j in mapper[row][weights[row] != 0]})
        energies = {}
        for j in used:
            expectation = cirq_expectations([circuits[row, j]], values[row, j][None], names,
                                            [operators[row]])[0]
            energies[j] = float(np.sum(upstream[row] * expectation))
        for symbol in range(weights.shape[1]):
            gradient[row, symbol] = sum(
                float(w) * energies[int(j)] for w, j in zip(weights[row, symbol],
                                                           mapper[row, symbol]) if w != 0)
    return gradient


@pytest.mark.parametrize("name", DIFFERENTIATORS)
@pytest.mark.parametrize("num_qubits", [1, 3, 5])
def test_gradient_circuits_rebuild_the_gradient(name, num_qubits):
    rng = np.random.default_rng(40 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuits = [random_circuit(qubits, 2 * num_qubits + 3, rng) for _ in range(2)]
    operators = [[random_paulisum(qubits, rng)] for _ in range(2)]
    values = random_values(rng, 2).astype(np.float64)
    upstream = np.array([[1.0], [-0.5]])
    outputs = DIFFERENTIATORS[name].get_gradient_circuits(circuits, NAMES, values)
    expected = reference_gradient(circuits, values, operators, upstream)
    assert np.abs(expected).max() > 1e-3  # the circuits do depend on their symbols
    rebuilt = rebuilt_gradient(outputs, operators, upstream)
    # Finite differences of float32 values: rounding and truncation near 1e-4 relative.
    rtol = 1e-4 if name == "parameter-shift" else 1e-3
    np.testing.assert_allclose(rebuilt, expected, atol=1e-4, rtol=rtol)
    # The layer's gradient with the same differentiator follows the same rule.
    layer = qml.layers.Expectation(differentiator=DIFFERENTIATORS[name])
    variable = tf.Variable(values.astype(np.float32))
    with tf.GradientTape() as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                    operators=qml.convert_to_tensor(operators))
        loss = tf.reduce_sum(tf.constant(upstream, tf.float32) * out)
    np.testing.assert_allclose(tape.gradient(loss, variable).numpy(), rebuilt,
                               atol=2e-4, rtol=1e-4)


def test_gradient_circuits_shapes_and_padding():
    a, b = SYMBOLS[:2]
    q = cirq.LineQubit.range(2)
    circuits = [cirq.Circuit(cirq.rx(a)(q[0]), cirq.ISwapPowGate(exponent=b)(*q)),
                cirq.Circuit(cirq.ry(2 * a)(q[1])), cirq.Circuit()]
    values = np.full((3, 4), 0.3, np.float32)
    programs, names, new_values, weights, mapper = \
        qml.differentiators.ParameterShift().get_gradient_circuits(circuits, NAMES, values)
    # rx: one frequency, two circuits; ISwapPow: two frequencies, four circuits.
    assert programs.shape == (3, 6) and new_values.shape == (3, 6, 5)
    assert names.numpy()[-1].decode() not in NAMES
    assert weights.shape == mapper.shape == (3, 4, 4)
    assert np.count_nonzero(weights[1]) == 2 and np.count_nonzero(weights[2]) == 0
    assert all(c == cirq.Circuit() for c in qml.from_tensor(programs[1, 2:]))
    np.testing.assert_allclose(new_values[1, :2, -1], [np.pi / 2, -np.pi / 2], rtol=1e-6)
    np.testing.assert_allclose(weights[1, 0, :2], [1.0, -1.0], rtol=1e-6)  # 2 * 1/2

    programs, names, new_values, weights, mapper = \
        qml.differentiators.ForwardDifference(1, 0.1).get_gradient_circuits(
            circuits, NAMES, values)
    assert programs.shape == (3, 5) and new_values.shape == (3, 5, 4)
    np.testing.assert_array_equal(mapper[0], [[0, 1], [0, 2], [0, 3], [0, 4]])
    np.testing.assert_allclose(new_values[0, 2], [0.3, 0.4, 0.3, 0.3], rtol=1e-6)


def test_gradient_circuits_in_a_tf_function():
    circuit = cirq.Circuit(cirq.rx(SYMBOLS[0])(cirq.LineQubit(0)))
    differentiator = qml.differentiators.ParameterShift()
    tensor = qml.convert_to_tensor([circuit, circuit])
    values = tf.constant([[0.1, 0, 0, 0], [0.2, 0, 0, 0]])
    eager = differentiator.get_gradient_circuits(tensor, NAMES, values)
    traced = tf.function(differentiator.get_gradient_circuits)(tensor, tf.constant(NAMES),
                                                              values)
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gradient_circuits_errors():
    a = SYMBOLS[0]
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.rx(a)(q))
    for differentiator in (qml.differentiators.Adjoint(), qml.differentiators.Autodiff()):
        with pytest.raises(NotImplementedError, match="no gradient circuits"):
            differentiator.get_gradient_circuits([circuit], ["alpha"], [[0.1]])
    shift = qml.differentiators.ParameterShift()
    with pytest.raises(MissingSymbolError, match="alpha"):
        shift.get_gradient_circuits([circuit], ["beta"], [[0.1]])
    with pytest.raises(ValueError, match="reserved"):
        shift.get_gradient_circuits([circuit], ["alpha", "__qml_parameter_shift__"],
                                    [[0.1, 0.2]])
    nonlinear = cirq.Circuit(cirq.XPowGate(exponent=a, global_shift=sympy.Symbol("s"))(q))
    with pytest.raises(UnsupportedGateError, match="not linear"):
        shift.get_gradient_circuits([nonlinear], ["alpha", "s"], [[0.1, 0.2]])


def test_finite_differences_match_tfq_gradient_circuits():
    tfq = pytest.importorskip("tensorflow_quantum")
    a, b = sympy.symbols("a b")
    q = cirq.GridQubit.rect(1, 2)
    circuits = [cirq.Circuit(cirq.rx(a)(q[0]), cirq.ry(2 * b)(q[1]), cirq.CZ(*q)),
                cirq.Circuit(cirq.X(q[0]) ** b)]
    values = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    for ours, theirs in [
        (qml.differentiators.ForwardDifference(2, 0.01),
         tfq.differentiators.ForwardDifference(2, 0.01)),
        (qml.differentiators.CentralDifference(4, 0.01),
         tfq.differentiators.CentralDifference(4, 0.01)),
        (qml.differentiators.LinearCombination([1.0, 0.5, -1.5], [0.1, 0.0, -0.2]),
         tfq.differentiators.LinearCombination([1.0, 0.5, -1.5], [0.1, 0.0, -0.2])),
    ]:
        mine = ours.get_gradient_circuits(circuits, ["a", "b"], values)
        reference = theirs.get_gradient_circuits(tfq.convert_to_tensor(circuits),
                                                 tf.constant(["a", "b"]), values)
        assert mine[0].shape == reference[0].shape
        np.testing.assert_array_equal(mine[1].numpy(), reference[1].numpy())
        for got, expected in zip(mine[2:], reference[2:]):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        for row, circuit in enumerate(circuits):
            assert all(c == circuit for c in qml.from_tensor(mine[0][row]))


def test_parameter_shift_gradient_circuits_agree_with_tfq():
    """TFQ shifts whole exponents and qml shifts gate parameters, so the circuits
    differ; the gradients rebuilt from each must agree."""
    tfq = pytest.importorskip("tensorflow_quantum")
    rng = np.random.default_rng(5)
    q = cirq.GridQubit.rect(1, 3)
    a, b = sympy.symbols("a b")
    circuits = [cirq.Circuit(cirq.H.on_each(*q), cirq.rx(a)(q[0]), cirq.ry(-1.5 * b)(q[1]),
                             cirq.CZ(q[0], q[2]), cirq.XX(q[1], q[2]) ** a,
                             cirq.Z(q[2]) ** (0.7 * b)),
                cirq.Circuit(cirq.H(q[0]), cirq.Y(q[1]) ** b, cirq.CNOT(q[0], q[1]),
                             cirq.I(q[2]))]
    operators = [[random_paulisum(q, rng)] for _ in circuits]
    values = np.array([[0.4, -0.9], [1.1, 0.3]], np.float32)
    upstream = np.ones((2, 1))
    mine = rebuilt_gradient(qml.differentiators.ParameterShift().get_gradient_circuits(
        circuits, ["a", "b"], values), operators, upstream)
    programs, names, new_values, weights, mapper = \
        tfq.differentiators.ParameterShift().get_gradient_circuits(
            tfq.convert_to_tensor(circuits), tf.constant(["a", "b"]), values)
    theirs = np.zeros_like(mine)
    for row in range(2):
        flat = tf.gather(programs[row], mapper[row].numpy().reshape(-1))
        energies = tfq.layers.Expectation()(
            flat, symbol_names=names,
            operators=tfq.convert_to_tensor(operators[row:row + 1] * int(tf.size(flat))),
            symbol_values=tf.gather(new_values[row], mapper[row].numpy().reshape(-1)))
        theirs[row] = np.sum(weights[row].numpy() * np.reshape(energies, weights.shape[1:]),
                             axis=1)
    np.testing.assert_allclose(mine, theirs, atol=1e-4)
    np.testing.assert_allclose(mine, reference_gradient(circuits, values.astype(np.float64),
                                                        operators, upstream, names=["a", "b"]),
                               atol=1e-4)
