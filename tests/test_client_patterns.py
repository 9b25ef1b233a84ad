"""Patterns from TFQ clients' code: the gradient of an eagerly computed expectation
taken by ``tape.jacobian``, by nested tapes or inside a ``tf.function``, a sparse
(``tf.IndexedSlices``) upstream gradient, and ``repetitions`` given to ``Sample`` as an
int, a scalar tensor or a one-element tensor."""

import cirq
import numpy as np
import pytest
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, random_circuit, random_values, reference_gradient,
                      tfq_or_skip)

import qml

QUBITS = cirq.GridQubit.rect(1, 3)
OPERATORS = [cirq.Z(QUBITS[0]), cirq.X(QUBITS[1]) * cirq.Z(QUBITS[2])]


def batch(rng, rows: int = 3):
    circuits = [random_circuit(QUBITS, 10, rng) for _ in range(rows)]
    return circuits, random_values(rng, rows)


def reference_jacobian(circuits, values) -> np.ndarray:
    """``d out[r, k] / d values[r', j]``, ``[rows, ops, rows, symbols]``, from central
    differences of cirq.Simulator; rows do not depend on each other's values."""
    rows, ops = len(circuits), len(OPERATORS)
    jacobian = np.zeros((rows, ops, rows, values.shape[1]))
    for k in range(ops):
        upstream = np.zeros((rows, ops))
        upstream[:, k] = 1
        per_row = reference_gradient(circuits, values, [OPERATORS] * rows, upstream)
        for r in range(rows):
            jacobian[r, k, r] = per_row[r]
    return jacobian


@pytest.mark.parametrize("use_pfor", [True, False])
def test_tape_jacobian_of_an_eager_expectation(rng, use_pfor):
    circuits, values = batch(rng)
    variable = tf.Variable(values)
    layer = qml.layers.Expectation()
    with tf.GradientTape(persistent=True) as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=OPERATORS)
    jacobian = tape.jacobian(out, variable, experimental_use_pfor=use_pfor)
    np.testing.assert_allclose(jacobian.numpy(), reference_jacobian(circuits, values),
                               atol=2e-4)


def test_gradient_of_an_eager_expectation_traced_by_tf_function_and_nested_tapes(rng):
    circuits, values = batch(rng)
    variable = tf.Variable(values)
    layer = qml.layers.Expectation()
    upstream = rng.uniform(-1, 1, (len(circuits), len(OPERATORS))).astype(np.float32)
    expected = reference_gradient(circuits, values, [OPERATORS] * len(circuits), upstream)
    with tf.GradientTape() as outer:
        outer.watch(variable)
        with tf.GradientTape() as inner:
            out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                        operators=OPERATORS)
            loss = tf.reduce_sum(out * upstream)
        nested = inner.gradient(loss, variable)
    np.testing.assert_allclose(nested.numpy(), expected, atol=2e-4)
    del outer

    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_sum(layer(circuits, symbol_names=NAMES, symbol_values=variable,
                                   operators=OPERATORS) * upstream)
    traced = tf.function(lambda: tape.gradient(loss, variable))()
    np.testing.assert_allclose(traced.numpy(), expected, atol=2e-4)


def test_a_sparse_upstream_gradient_gives_the_dense_ones_result(rng):
    """tf.gather's gradient reaches the expectation as tf.IndexedSlices."""
    circuits, values = batch(rng, rows=4)
    variable = tf.Variable(values)
    layer = qml.layers.Expectation()
    picked = [0, 2, 2]
    with tf.GradientTape() as tape:
        out = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=OPERATORS)
        loss = tf.reduce_sum(tf.gather(out, picked))
    sparse = tape.gradient(loss, variable)
    upstream = np.zeros((len(circuits), len(OPERATORS)))
    for row in picked:
        upstream[row] += 1
    expected = reference_gradient(circuits, values, [OPERATORS] * len(circuits), upstream)
    np.testing.assert_allclose(tf.convert_to_tensor(sparse).numpy(), expected, atol=2e-4)


REPETITION_FORMS = {
    "int": 7,
    "numpy int": np.int64(7),
    "scalar tensor": tf.constant(7),
    "one-element tensor": tf.constant([7]),
    "one-element int64 tensor": tf.constant([7], tf.int64),
}


@pytest.mark.parametrize("form", list(REPETITION_FORMS))
def test_sample_takes_repetitions_as_tfq_does(form):
    circuit = cirq.Circuit(cirq.X(QUBITS[0]), cirq.H(QUBITS[1]), cirq.I(QUBITS[2]))
    repetitions = REPETITION_FORMS[form]
    bits = qml.layers.Sample(seed=3)([circuit] * 2, repetitions=repetitions).to_tensor()
    expected = qml.layers.Sample(seed=3)([circuit] * 2, repetitions=7).to_tensor()
    assert bits.shape == (2, 7, 3)
    np.testing.assert_array_equal(bits.numpy(), expected.numpy())
    assert np.all(bits.numpy()[..., 0] == 1) and np.all(bits.numpy()[..., 2] == 0)
    op_bits = qml.get_sampling_op(seed=3)([circuit] * 2, [], tf.zeros([2, 0]), repetitions)
    assert op_bits.to_tensor().shape == (2, 7, 3)


@pytest.mark.parametrize("repetitions", [tf.constant([7, 7]), tf.constant([[7]]),
                                         tf.constant(7.0), "7"])
def test_sample_refuses_other_repetitions(repetitions):
    with pytest.raises(TypeError, match="repetitions"):
        qml.layers.Sample()([cirq.Circuit(cirq.X(QUBITS[0]))], repetitions=repetitions)


def tfq_circuit(rng) -> cirq.Circuit:
    """Rotations by number * symbol and CZs: gates and expressions TFQ serializes."""
    ops = [cirq.H(q) for q in QUBITS]
    for _ in range(10):
        gate = (cirq.rx, cirq.ry, cirq.rz)[rng.integers(3)]
        ops.append(gate(float(rng.uniform(-2, 2)) * SYMBOLS[rng.integers(len(SYMBOLS))])(
            QUBITS[rng.integers(len(QUBITS))]))
        if rng.random() < 0.4:
            a, b = rng.choice(len(QUBITS), 2, replace=False)
            ops.append(cirq.CZ(QUBITS[a], QUBITS[b]))
    return cirq.Circuit(ops)


def test_the_client_patterns_agree_with_tfq(rng):
    tfq = tfq_or_skip()
    circuits = [tfq_circuit(rng) for _ in range(3)]
    variable = tf.Variable(random_values(rng, 3))
    results = {}
    for name, module in (("qml", qml), ("tfq", tfq)):
        layer = module.layers.Expectation()
        with tf.GradientTape(persistent=True) as tape:
            out = layer(module.convert_to_tensor(circuits), symbol_names=NAMES,
                        symbol_values=variable, operators=OPERATORS)
            loss = tf.reduce_sum(tf.gather(out, [0, 2, 2]))
        results[name] = (tape.jacobian(out, variable).numpy(),
                         tf.convert_to_tensor(tape.gradient(loss, variable)).numpy())
        circuit = cirq.Circuit(cirq.X(QUBITS[0]), cirq.I(QUBITS[1]))
        # TFQ's Sample takes an int or [n]; a scalar tensor it refuses, and qml takes.
        for repetitions in (5, tf.constant([5])) + ((tf.constant(5),) if name == "qml" else ()):
            bits = module.layers.Sample()(module.convert_to_tensor([circuit] * 2),
                                          repetitions=repetitions)
            assert bits.to_tensor().shape == (2, 5, 2), (name, repetitions)
    np.testing.assert_allclose(results["qml"][0], results["tfq"][0], atol=1e-3)
    np.testing.assert_allclose(results["qml"][1], results["tfq"][1], atol=1e-3)
