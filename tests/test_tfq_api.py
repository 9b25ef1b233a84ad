"""TFQ's whole public API against qml's, on the compat stack: every public name of
TFQ's eight modules exists in qml with every argument name TFQ's version takes, and
the functions added for it agree with TFQ's."""

import inspect

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import tfq_or_skip

import qml

MODULES = ["", "layers", "differentiators", "datasets", "optimizers", "util", "math",
           "noise"]


def _public(module) -> dict:
    """TFQ's public names of a module: what it defines or re-exports from TFQ."""
    names = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        home = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if inspect.ismodule(value):
            home = value.__name__
        if home.startswith("tensorflow_quantum"):
            names[name] = value
    return names


def _parameters(value) -> list[str]:
    target = value.__init__ if inspect.isclass(value) else value
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p.name for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


@pytest.mark.parametrize("module", MODULES)
def test_every_tfq_name_and_argument_exists_in_qml(module):
    tfq = tfq_or_skip()
    theirs = tfq if not module else getattr(tfq, module)
    ours = qml if not module else getattr(qml, module)
    missing, arguments = [], []
    for name, value in _public(theirs).items():
        if inspect.ismodule(value) and (module or name not in MODULES):
            continue  # TFQ's internal subpackages (core, python, circuit_executors, ...)
        if not hasattr(ours, name):
            missing.append(name)
            continue
        if callable(value) and not inspect.ismodule(value):
            lacking = set(_parameters(value)) - set(_parameters(getattr(ours, name)))
            if lacking:
                arguments.append(f"{name}: {sorted(lacking)}")
    assert not missing, f"tfq.{module or ''} names missing from qml: {missing}"
    assert not arguments, f"arguments qml lacks: {arguments}"


def _unitary(circuit, qubits):
    return cirq.Circuit(cirq.I.on_each(*qubits), circuit).unitary(qubit_order=qubits)


def test_exponential_matches_tfq():
    tfq = tfq_or_skip()
    q = cirq.GridQubit.rect(1, 3)
    operators = [0.5 * cirq.X(q[0]) * cirq.Z(q[1]), cirq.Y(q[2]) - 0.3,
                 cirq.Z(q[0]) * cirq.Z(q[2]) + 0.7 * cirq.Z(q[1])]
    coefficients = [0.4, -1.1, 0.25]
    np.testing.assert_allclose(_unitary(qml.util.exponential(operators, coefficients), q),
                               _unitary(tfq.util.exponential(operators, coefficients), q),
                               atol=1e-6)


def test_gate_approx_eq_and_commutability_match_tfq():
    tfq = tfq_or_skip()
    a = sympy.Symbol("a")
    pairs = [(cirq.X ** (0.5 * a), cirq.X ** (0.5 * a)), (cirq.X ** a, cirq.Y ** a),
             (cirq.CZ ** 0.3, cirq.CZ ** 0.3000001), (cirq.CZ ** 0.3, cirq.CZ ** 0.31),
             (cirq.depolarize(0.1), cirq.depolarize(0.1))]
    for first, second in pairs:
        assert qml.util.gate_approx_eq(first, second) == tfq.util.gate_approx_eq(first,
                                                                                 second)
    q = cirq.GridQubit.rect(1, 2)
    for pauli_sum in (cirq.X(q[0]) + cirq.Z(q[0]), cirq.X(q[0]) * cirq.X(q[1]) + cirq.Z(q[0])
                      * cirq.Z(q[1])):
        results = []
        for module in (qml, tfq):
            try:
                module.util.check_commutability(pauli_sum)
                results.append(True)
            except ValueError:
                results.append(False)
        assert results[0] == results[1]


def test_random_generators_match_tfq_in_distribution():
    tfq = tfq_or_skip()
    qubits = cirq.GridQubit.rect(1, 4)
    np.random.seed(0)
    ours = qml.util.random_pauli_sums(qubits, 5, 400)
    np.random.seed(0)
    theirs = tfq.util.random_pauli_sums(qubits, 5, 400)
    # Sum lengths are uniform on 1..5 for both (Cirq merges equal strings, so slightly less).
    assert abs(np.mean([len(s) for s in ours]) - np.mean([len(s) for s in theirs])) < 0.3
    circuits, _ = qml.util.random_symbol_circuit_resolver_batch(qubits, ["a", "b"], 20)
    their_circuits, _ = tfq.util.random_symbol_circuit_resolver_batch(qubits, ["a", "b"], 20)
    for ours_c, theirs_c in zip(circuits, their_circuits):
        assert sorted(qml.util.get_circuit_symbols(ours_c)) == ["a", "b"]
        assert sorted(str(s) for s in tfq.util.get_circuit_symbols(theirs_c)) == ["a", "b"]
    our_lengths = np.mean([len(c) for c in circuits])
    their_lengths = np.mean([len(c) for c in their_circuits])
    assert abs(our_lengths - their_lengths) < 0.35 * their_lengths


def test_utility_ops_match_tfq():
    tfq = tfq_or_skip()
    q = cirq.GridQubit.rect(1, 2)
    a = sympy.Symbol("a")
    firsts = [cirq.Circuit(cirq.H(q[0]), cirq.X(q[1]) ** a), cirq.Circuit(cirq.Y(q[1]))]
    seconds = [cirq.Circuit(cirq.CNOT(*q)), cirq.Circuit(cirq.Z(q[0]) ** a)]
    ours = qml.from_tensor(qml.append_circuit(qml.convert_to_tensor(firsts),
                                              qml.convert_to_tensor(seconds)))
    theirs = tfq.from_tensor(tfq.append_circuit(tfq.convert_to_tensor(firsts),
                                                tfq.convert_to_tensor(seconds)))
    values = np.array([[0.3], [-0.6]], np.float32)
    for o, t, v in zip(ours, theirs, values):
        resolver = {"a": float(v[0])}
        np.testing.assert_allclose(_unitary(cirq.resolve_parameters(o, resolver), q),
                                   _unitary(cirq.resolve_parameters(t, resolver), q), atol=1e-6)
    ours = qml.from_tensor(qml.resolve_parameters(qml.convert_to_tensor(firsts), ["a"], values))
    theirs = tfq.from_tensor(tfq.resolve_parameters(tfq.convert_to_tensor(firsts), ["a"], values))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(_unitary(o, q), _unitary(t, q), atol=1e-6)
    padded = tf.constant([[1.0, 0.5, -2.0], [0.25, -2.0, -2.0]])
    assert qml.padded_to_ragged(padded).to_list() == tfq.padded_to_ragged(padded).to_list()
    padded = tf.constant([[[1.0, -2.0], [-2.0, -2.0]], [[0.5, 0.5], [0.5, 0.5]]])
    assert qml.padded_to_ragged2d(padded).to_list() == tfq.padded_to_ragged2d(padded).to_list()


def test_mps_matches_tfq_at_every_bond_dimension():
    tfq = tfq_or_skip()
    rng = np.random.default_rng(3)
    q = cirq.GridQubit.rect(1, 6)
    ops = []
    for _ in range(4):
        ops += [cirq.ry(float(rng.uniform(0, 3)))(qubit) for qubit in q]
        ops += [cirq.CNOT(a, b) for a, b in zip(q[::2], q[1::2])]
        ops += [cirq.CZ(a, b) ** float(rng.uniform(0, 1)) for a, b in zip(q[1::2], q[2::2])]
    circuit = cirq.Circuit(ops)
    operators = [[cirq.Z(q[0]) * cirq.Z(q[5]), cirq.X(q[2]), cirq.Z(q[3])]]
    for bond_dim in (4, 8):  # TFQ takes bond_dim >= 4
        ours = qml.math.mps_1d_expectation([circuit], [], tf.zeros([1, 0]), operators,
                                           bond_dim=bond_dim).numpy()
        theirs = tfq.math.mps_1d_expectation(tfq.convert_to_tensor([circuit]), [],
                                             tf.zeros([1, 0]),
                                             tfq.convert_to_tensor(operators),
                                             bond_dim=bond_dim).numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-4 if bond_dim == 8 else 0.02)


def test_optimizers_match_tfq_on_a_sum_of_sinusoids():
    tfq = tfq_or_skip()
    amplitude = np.array([0.7, -0.4, 0.9], np.float32)

    def function(x):
        return tf.reduce_sum(amplitude * tf.sin(x))

    start = np.array([0.3, 1.2, -0.5])
    ours = qml.optimizers.rotosolve_minimize(function, start)
    theirs = tfq.optimizers.rotosolve_minimize(function, start)
    assert float(ours.objective_value) == pytest.approx(float(theirs.objective_value),
                                                        abs=1e-5)
    np.testing.assert_allclose(np.sin(ours.position.numpy()), np.sin(theirs.position.numpy()),
                               atol=1e-4)


def test_excited_cluster_states_match_tfq():
    tfq = tfq_or_skip()
    qubits = cirq.GridQubit.rect(1, 4)
    ours, our_labels = qml.datasets.excited_cluster_states(qubits)
    theirs, their_labels = tfq.datasets.excited_cluster_states(qubits)
    assert tuple(our_labels) == tuple(their_labels)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(_unitary(o, qubits), _unitary(t, qubits), atol=1e-6)


def test_small_utilities_match_tfq():
    tfq = tfq_or_skip()
    q = cirq.GridQubit(0, 0)
    np.testing.assert_allclose(_unitary(qml.util.exp_identity(0.4, 1.5, q), [q]),
                               _unitary(tfq.util.exp_identity(0.4, 1.5, q), [q]), atol=1e-6)
    grid = {"a": [1, 2], "b": ["x", "y"]}
    assert list(qml.util.kwargs_cartesian_product(**grid)) == list(
        tfq.util.kwargs_cartesian_product(**grid))
    ours = {type(g) for g in qml.util.get_supported_gates()}
    assert {type(g) for g in tfq.util.get_supported_gates()} <= ours
    ours = {type(c) for c in qml.util.get_supported_channels()}
    assert {type(c) for c in tfq.util.get_supported_channels()} <= ours
    circuits = [cirq.Circuit(cirq.X(q))]
    assert qml.from_tensor(qml.convert_to_tensor(circuits, deterministic_proto_serialize=True)
                           )[0] == tfq.from_tensor(tfq.convert_to_tensor(
                               circuits, deterministic_proto_serialize=True))[0]


def test_spsa_matches_tfq_on_a_quadratic():
    tfq = tfq_or_skip()
    scale = np.array([0.6, 0.9, 0.75], np.float32)

    def function(x):
        return tf.reduce_sum(scale * (x - 0.5) ** 2)

    ours = qml.optimizers.spsa_minimize(function, np.zeros(3), seed=2, max_iterations=300)
    theirs = tfq.optimizers.spsa_minimize(function, np.zeros(3), seed=2, max_iterations=300)
    # Different random perturbations and stopping tests: both come near the minimum 0
    # at (0.5, 0.5, 0.5), from 0.56 at the start.
    assert float(ours.objective_value) < 0.02 and float(theirs.objective_value) < 0.02
    np.testing.assert_allclose(ours.position.numpy(), theirs.position.numpy(), atol=0.2)


def test_mps_samples_and_sampled_expectations_match_tfq_statistically():
    tfq = tfq_or_skip()
    q = cirq.GridQubit.rect(1, 4)
    circuit = cirq.Circuit([cirq.ry(0.7 + 0.3 * i)(qubit) for i, qubit in enumerate(q)],
                           [cirq.CNOT(a, b) for a, b in zip(q, q[1:])],
                           [cirq.rx(0.4)(qubit) for qubit in q])
    count = 4000
    ours = qml.math.mps_1d_sample([circuit], [], tf.zeros([1, 0]), [count]).to_tensor()
    theirs = tfq.math.mps_1d_sample(tfq.convert_to_tensor([circuit]), [], tf.zeros([1, 0]),
                                    [count]).to_tensor()
    ours, theirs = ours.numpy()[0], theirs.numpy()[0]
    # Per-qubit frequencies of 1: each within 4.5 standard errors of the other.
    np.testing.assert_allclose(ours.mean(axis=0), theirs.mean(axis=0),
                               atol=4.5 * np.sqrt(0.25 * 2 / count))
    operators = [[cirq.Z(q[0]) * cirq.Z(q[3]), cirq.X(q[1])]]
    ours = qml.math.mps_1d_sampled_expectation([circuit], [], tf.zeros([1, 0]), operators,
                                               [[count, count]]).numpy()
    theirs = tfq.math.mps_1d_sampled_expectation(
        tfq.convert_to_tensor([circuit]), [], tf.zeros([1, 0]),
        tfq.convert_to_tensor(operators), [[count, count]]).numpy()
    np.testing.assert_allclose(ours, theirs, atol=4.5 * np.sqrt(2 / count))
