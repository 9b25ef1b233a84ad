"""qml.math's matrix-product-state ops against Cirq's state vectors: exact at full
bond dimension, an error that falls as the bond dimension grows, and memory linear
in the qubit count."""

import tracemalloc

import cirq
import numpy as np
import pytest
import tensorflow as tf
from conftest import NAMES, SYMBOLS, cirq_expectations

import qml
from qml.errors import UnsupportedGateError

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


def _random_chain_circuit(num_qubits, layers, rng):
    """Single-qubit gates and gates on neighbouring pairs, in either order."""
    q = cirq.LineQubit.range(num_qubits)

    def angle():
        return SYMBOLS[rng.integers(len(SYMBOLS))] * float(rng.uniform(0.5, 1.5)) \
            if rng.random() < 0.4 else float(rng.uniform(-3, 3))

    ops = []
    for _ in range(layers):
        for qubit in q:
            ops.append([cirq.rx, cirq.ry, cirq.rz][rng.integers(3)](angle())(qubit))
        if num_qubits < 2:
            continue
        for i in range(rng.integers(0, 2), num_qubits - 1, 2):
            pair = (q[i], q[i + 1]) if rng.random() < 0.5 else (q[i + 1], q[i])
            kind = rng.integers(5)
            if kind == 0:
                ops.append(cirq.CNOT(*pair))
            elif kind == 1:
                ops.append(cirq.ZZPowGate(exponent=angle())(*pair))
            elif kind == 2:
                ops.append(cirq.FSimGate(float(rng.uniform(0, 3)), angle())(*pair))
            elif kind == 3:
                ops.append(cirq.ry(angle()).controlled().on(*pair))
            else:
                ops.append(cirq.ISWAP(*pair) ** float(rng.uniform(-1, 1)))
    return cirq.Circuit(ops)


def _observables(num_qubits, rng):
    q = cirq.LineQubit.range(num_qubits)
    paulis = [cirq.X, cirq.Y, cirq.Z]
    out = []
    for _ in range(3):
        chosen = rng.choice(num_qubits, min(num_qubits, 3), replace=False)
        string = cirq.PauliString({q[i]: paulis[rng.integers(3)] for i in chosen})
        out.append(float(rng.normal()) * string + 0.25)
    return out


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 5, 8])
def test_full_bond_dimension_matches_cirq(num_qubits):
    rng = np.random.default_rng(num_qubits)
    circuits = [_random_chain_circuit(num_qubits, 4, rng) for _ in range(2)] * 2
    values = rng.uniform(-2, 2, (4, len(NAMES))).astype(np.float32)
    operators = [_observables(num_qubits, rng)] * 4
    got = qml.math.mps_1d_expectation(circuits, NAMES, values, operators,
                                      bond_dim=2 ** (num_qubits // 2)).numpy()
    np.testing.assert_allclose(got, cirq_expectations(circuits, values, NAMES, operators),
                               atol=2e-5)


def test_error_falls_as_the_bond_dimension_grows():
    rng = np.random.default_rng(21)
    num_qubits = 10
    circuit = _random_chain_circuit(num_qubits, 20, rng)
    values = rng.uniform(-2, 2, (1, len(NAMES))).astype(np.float32)
    q = cirq.LineQubit.range(num_qubits)
    operators = [[cirq.Z(a) * cirq.Z(b) for a, b in zip(q, q[1:])]
                 + [cirq.X(a) for a in q]]
    exact = cirq_expectations([circuit], values, NAMES, operators)
    errors = {}
    for bond_dim in (1, 2, 4, 8, 16, 32):
        got = qml.math.mps_1d_expectation([circuit], NAMES, values, operators,
                                          bond_dim=bond_dim).numpy()
        errors[bond_dim] = float(np.abs(got - exact).mean())
    print("mean |error| by bond dimension:", errors)
    assert errors[1] > errors[2] > errors[4] > errors[8] > errors[16] and errors[32] < 2e-5


def test_forty_eight_qubits_in_memory_linear_in_the_qubit_count():
    def run(num_qubits):
        q = cirq.LineQubit.range(num_qubits)
        ghz = cirq.Circuit([cirq.H(q[0])] + [cirq.CNOT(a, b) for a, b in zip(q, q[1:])])
        rng = np.random.default_rng(num_qubits)
        scramble = _random_chain_circuit(num_qubits, 3, rng)  # local, bond dim <= 16
        operators = [[cirq.Z(q[0]) * cirq.Z(q[-1]),
                      cirq.PauliString({qubit: cirq.X for qubit in q})]]
        tracemalloc.start()
        got = qml.math.mps_1d_expectation([ghz, scramble], NAMES, np.zeros((2, len(NAMES))),
                                          operators * 2, bond_dim=16).numpy()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return got, peak

    got, peak_48 = run(48)
    np.testing.assert_allclose(got[0], [1.0, 1.0], atol=1e-5)  # GHZ: exact at bond 2
    assert np.all(np.abs(got[1]) <= 1 + 1e-5)
    _, peak_96 = run(96)
    print(f"peak traced memory: 48 qubits {peak_48 / 2**20:.1f} MiB, "
          f"96 qubits {peak_96 / 2**20:.1f} MiB")
    assert peak_96 < 2.6 * peak_48


def test_samples_follow_the_state_and_sampled_expectations_its_values():
    rng = np.random.default_rng(5)
    circuit = _random_chain_circuit(4, 5, rng)
    values = rng.uniform(-2, 2, (1, len(NAMES))).astype(np.float32)
    tf.random.set_seed(1)
    bits = qml.math.mps_1d_sample([circuit], NAMES, values, [20000], bond_dim=4)
    bits = bits.to_tensor().numpy()[0]
    assert bits.shape == (20000, 4)
    resolved = cirq.resolve_parameters(circuit, dict(zip(NAMES, map(float, values[0]))))
    state = cirq.final_state_vector(resolved, qubit_order=cirq.LineQubit.range(4),
                                    dtype=np.complex128)
    counts = np.bincount(bits @ (1 << np.arange(3, -1, -1)), minlength=16) / len(bits)
    assert 0.5 * np.abs(counts - np.abs(state) ** 2).sum() < 0.02  # total variation

    operators = [_observables(4, rng)]
    sampled = qml.math.mps_1d_sampled_expectation(
        [circuit], NAMES, values, operators, [[40000] * 3], bond_dim=4).numpy()
    exact = cirq_expectations([circuit], values, NAMES, operators)
    # At most three non-identity terms, each 40000 shots of +-1: sd <= 3 * 0.005 * |c|.
    np.testing.assert_allclose(sampled, exact, atol=0.06)


def test_mps_errors():
    q = cirq.LineQubit.range(3)
    with pytest.raises(UnsupportedGateError, match="neighbouring"):
        qml.math.mps_1d_expectation([cirq.Circuit(cirq.H(q[1]), cirq.CNOT(q[0], q[2]))], [],
                                    tf.zeros([1, 0]), [[cirq.Z(q[0])]])
    with pytest.raises(UnsupportedGateError, match="noise"):
        qml.math.mps_1d_expectation([cirq.Circuit(cirq.depolarize(0.1)(q[0]))], [],
                                    tf.zeros([1, 0]), [[cirq.Z(q[0])]])
    with pytest.raises(ValueError, match="bond_dim"):
        qml.math.mps_1d_expectation([cirq.Circuit(cirq.X(q[0]))], [], tf.zeros([1, 0]),
                                    [[cirq.Z(q[0])]], bond_dim=0)
