"""Cross-checks against TensorFlow Quantum, where it is installed (the compat stack)."""

import cirq
import numpy as np
import pytest
import sympy
from conftest import NAMES, SYMBOLS, circuit_from_makers, random_paulisum, tfq_or_skip

import qml


def _tfq_parameter(rng):
    symbol = SYMBOLS[rng.integers(len(SYMBOLS))]
    return [float(rng.uniform(-2, 2)), symbol, float(rng.uniform(-2, 2)) * symbol][
        rng.integers(3)]


def tfq_random_circuit(qubits, num_ops, rng):
    """Random circuits over TFQ's gate set, with TFQ's symbol or number*symbol."""
    p = lambda: _tfq_parameter(rng)  # noqa: E731
    one = [lambda: cirq.XPowGate(exponent=p()), lambda: cirq.YPowGate(exponent=p()),
           lambda: cirq.ZPowGate(exponent=p()), lambda: cirq.HPowGate(exponent=p()),
           lambda: cirq.PhasedXPowGate(phase_exponent=p(), exponent=p()), lambda: cirq.I]
    two = [lambda: cirq.XXPowGate(exponent=p()), lambda: cirq.YYPowGate(exponent=p()),
           lambda: cirq.ZZPowGate(exponent=p()), lambda: cirq.CZPowGate(exponent=p()),
           lambda: cirq.CNotPowGate(exponent=p()), lambda: cirq.SwapPowGate(exponent=p()),
           lambda: cirq.ISwapPowGate(exponent=p()),
           lambda: cirq.PhasedISwapPowGate(phase_exponent=p(), exponent=p()),
           lambda: cirq.FSimGate(theta=p(), phi=p())]

    def control(op, gate, arity, chosen):
        # Cirq turns a controlled two-qubit gate into CCZ or CCX, which TFQ lacks.
        if arity == 1 and gate != cirq.I and rng.random() < 0.3:
            return op.controlled_by(chosen[arity])
        return op

    return circuit_from_makers(qubits, num_ops, rng, one, two, control)


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 5, 8, 10, 12])
def test_expectation_matches_tfq(num_qubits):
    tfq = tfq_or_skip()
    rng = np.random.default_rng(7 + num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [tfq_random_circuit(qubits, 3 * num_qubits + 5, rng) for _ in range(4)]
    operators = [random_paulisum(qubits, rng) for _ in range(3)]
    values = rng.uniform(-2, 2, (4, len(SYMBOLS))).astype(np.float32)
    ours = qml.layers.Expectation()(circuits, symbol_names=NAMES, symbol_values=values,
                                    operators=operators)
    theirs = tfq.layers.Expectation()(tfq.convert_to_tensor(circuits), symbol_names=NAMES,
                                      symbol_values=values, operators=operators)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_padding_matches_tfq():
    tfq = tfq_or_skip()
    q = cirq.GridQubit.rect(1, 2)
    circuits = [cirq.Circuit(cirq.X(q[0]), cirq.I(q[1])), cirq.Circuit()]
    operators = [[cirq.Z(q[0]), cirq.PauliSum()], [cirq.Z(q[0]), cirq.PauliSum()]]
    ours = qml.layers.Expectation()(qml.convert_to_tensor(circuits),
                                    operators=qml.convert_to_tensor(operators))
    theirs = tfq.layers.Expectation()(tfq.convert_to_tensor(circuits),
                                      operators=tfq.convert_to_tensor(operators))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_pqc_symbol_order_matches_tfq():
    tfq = tfq_or_skip()
    q = cirq.GridQubit.rect(1, 2)
    circuit = cirq.Circuit(*(cirq.rx(sympy.Symbol(n))(q[i % 2])
                             for i, n in enumerate(["b", "a", "x10", "x2", "B"])))
    ours = qml.layers.PQC(circuit, cirq.Z(q[0]))
    theirs = tfq.layers.PQC(circuit, cirq.Z(q[0]))
    assert ours.symbols == theirs.symbols


def test_parameter_shift_gradients_match_tfq_adjoint():
    tfq = tfq_or_skip()
    import tensorflow as tf

    rng = np.random.default_rng(11)
    qubits = cirq.GridQubit.rect(1, 4)
    p = lambda: _tfq_parameter(rng)  # noqa: E731
    makers = [lambda: cirq.XPowGate(exponent=p()), lambda: cirq.YPowGate(exponent=p()),
              lambda: cirq.ZPowGate(exponent=p()), lambda: cirq.HPowGate(exponent=p())]
    pairs = [lambda: cirq.XXPowGate(exponent=p()), lambda: cirq.ZZPowGate(exponent=p()),
             lambda: cirq.CZPowGate(exponent=p()), lambda: cirq.CNotPowGate(exponent=p())]
    circuits = []
    for _ in range(3):
        ops = [cirq.H(q) for q in qubits]
        for _ in range(16):
            i, j = rng.choice(4, 2, replace=False)
            if rng.random() < 0.4:
                ops.append(pairs[rng.integers(len(pairs))]().on(qubits[i], qubits[j]))
            else:
                ops.append(makers[rng.integers(len(makers))]().on(qubits[i]))
        circuits.append(cirq.Circuit(ops))
    operators = [random_paulisum(qubits, rng), cirq.Z(qubits[1])]
    values = rng.uniform(-2, 2, (3, len(SYMBOLS))).astype(np.float32)

    def gradient(layer, tensor):
        variable = tf.Variable(values)
        with tf.GradientTape() as tape:
            out = layer(tensor, symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
            loss = tf.reduce_sum(out * [[1.0, -0.5]])
        return tape.gradient(loss, variable).numpy()

    ours = gradient(qml.layers.Expectation(
        differentiator=qml.differentiators.ParameterShift()), qml.convert_to_tensor(circuits))
    theirs = gradient(tfq.layers.Expectation(differentiator=tfq.differentiators.Adjoint()),
                      tfq.convert_to_tensor(circuits))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


@pytest.mark.parametrize("num_qubits", [1, 2, 4, 6, 8])
@pytest.mark.parametrize("backend", ["qsim", "tensorflow"])
def test_adjoint_gradients_match_tfq(num_qubits, backend, eager_functions):
    tfq = tfq_or_skip()
    import tensorflow as tf

    rng = np.random.default_rng(40 + num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [tfq_random_circuit(qubits, 3 * num_qubits + 5, rng) for _ in range(3)]
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    values = rng.uniform(-2, 2, (3, len(SYMBOLS))).astype(np.float32)
    upstream = tf.constant(rng.normal(size=(3, 2)), tf.float32)

    def gradient(layer, circuit_tensor):
        variable = tf.Variable(values)
        with tf.GradientTape() as tape:
            out = layer(circuit_tensor, symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
            loss = tf.reduce_sum(upstream * out)
        return tf.convert_to_tensor(tape.gradient(loss, variable)).numpy()

    ours = gradient(qml.layers.Expectation(backend=backend), circuits)
    theirs = gradient(tfq.layers.Expectation(differentiator=tfq.differentiators.Adjoint()),
                      tfq.convert_to_tensor(circuits))
    assert np.abs(theirs).max() > 1e-2
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


# ------------------------------------------------- sampling, states, unitaries and noise
def _tfq_circuits(num_qubits, count, seed):
    rng = np.random.default_rng(seed)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [tfq_random_circuit(qubits, 3 * num_qubits + 3, rng) for _ in range(count)]
    values = rng.uniform(-2, 2, (count, len(SYMBOLS))).astype(np.float32)
    return qubits, circuits, values


@pytest.mark.parametrize("num_qubits", [1, 3, 5])
def test_states_and_unitaries_match_tfq(num_qubits):
    tfq = tfq_or_skip()
    _, circuits, values = _tfq_circuits(num_qubits, 3, 60 + num_qubits)
    tensor = tfq.convert_to_tensor(circuits)
    ours = qml.layers.State()(circuits, symbol_names=NAMES, symbol_values=values)
    theirs = tfq.layers.State()(tensor, symbol_names=NAMES, symbol_values=values)
    np.testing.assert_allclose(ours.to_tensor().numpy(), theirs.to_tensor().numpy(), atol=1e-5)
    ours = qml.layers.Unitary()(circuits, symbol_names=NAMES, symbol_values=values)
    theirs = tfq.layers.Unitary()(tensor, symbol_names=NAMES, symbol_values=values)
    np.testing.assert_allclose(ours.to_tensor().numpy(), theirs.to_tensor().numpy(), atol=1e-5)


def test_sample_shapes_and_frequencies_agree_with_tfq():
    tfq = tfq_or_skip()
    qubits, circuits, values = _tfq_circuits(3, 2, 70)
    circuits.append(cirq.Circuit(cirq.X(qubits[0])))  # fewer qubits: a ragged row
    values = np.concatenate([values, values[:1]])
    reps = 3000
    ours = qml.layers.Sample(seed=1)(circuits, symbol_names=NAMES, symbol_values=values,
                                     repetitions=reps)
    theirs = tfq.layers.Sample()(tfq.convert_to_tensor(circuits), symbol_names=NAMES,
                                 symbol_values=values, repetitions=reps)
    assert ours.dtype == theirs.dtype
    assert ours.shape.as_list() == theirs.shape.as_list()
    assert ours.nested_row_lengths()[1].numpy().tolist() == \
        theirs.nested_row_lengths()[1].numpy().tolist()
    for row in range(len(circuits)):
        a, b = ours[row].to_tensor().numpy(), theirs[row].to_tensor().numpy()
        # Per-qubit frequencies of two independent samples: their difference has a
        # standard deviation of at most sqrt(2 * 0.25 / reps).
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4 * np.sqrt(0.5 / reps))


def test_sampled_and_noisy_expectations_agree_with_tfq():
    tfq = tfq_or_skip()
    qubits, circuits, values = _tfq_circuits(3, 2, 80)
    operators = [cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.Z(qubits[2])]
    reps = 4000
    bound = 4 * np.sqrt(2.0 / reps)  # two estimates, each with variance at most 1 / reps
    ours = qml.layers.SampledExpectation(seed=2)(
        circuits, symbol_names=NAMES, symbol_values=values, operators=operators,
        repetitions=reps)
    theirs = tfq.layers.SampledExpectation()(
        tfq.convert_to_tensor(circuits), symbol_names=NAMES, symbol_values=values,
        operators=operators, repetitions=reps)
    assert np.all(np.abs(ours.numpy() - theirs.numpy()) < bound)

    resolved = [cirq.resolve_parameters(c, dict(zip(NAMES, map(float, v))))
                for c, v in zip(circuits, values)]
    noisy = [c.with_noise(cirq.depolarize(0.05)) + cirq.amplitude_damp(0.2).on_each(*qubits)
             for c in resolved]
    counts = np.full((len(noisy), len(operators)), reps, np.int32)
    ours = qml.noise.expectation(noisy, [], np.zeros((2, 0), np.float32), [operators] * 2,
                                 counts, seed=3)
    theirs = tfq.noise.expectation(tfq.convert_to_tensor(noisy), [],
                                   np.zeros((2, 0), np.float32),
                                   tfq.convert_to_tensor([operators] * 2), counts)
    assert np.all(np.abs(ours.numpy() - theirs.numpy()) < bound)


def test_inner_product_matches_tfq():
    tfq = tfq_or_skip()
    qubits, circuits, values = _tfq_circuits(3, 2, 90)
    rng = np.random.default_rng(91)
    others = [[cirq.resolve_parameters(tfq_random_circuit(qubits, 8, rng),
                                       {n: 0.3 for n in NAMES}) for _ in range(2)]
              for _ in range(2)]
    ours = qml.math.inner_product(circuits, NAMES, values, others)
    theirs = tfq.math.inner_product(tfq.convert_to_tensor(circuits), NAMES, values,
                                    tfq.convert_to_tensor(others))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_a_tfq_serialized_tensor_is_refused_with_the_way_to_convert_it():
    """TFQ's tensors hold its protobuf format: the error says to convert with qml's."""
    tfq = tfq_or_skip()
    circuit = cirq.Circuit(cirq.H(cirq.GridQubit(0, 0)))
    with pytest.raises(qml.errors.CircuitFormatError,
                       match="TensorFlow Quantum.*qml.convert_to_tensor"):
        qml.layers.Expectation()(tfq.convert_to_tensor([circuit]),
                                 operators=[cirq.Z(cirq.GridQubit(0, 0))])
