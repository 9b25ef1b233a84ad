"""qml.util against independent references: scipy's expm, Cirq's simulator, and
Cirq's own gate equality."""

import itertools

import cirq
import numpy as np
import pytest
import scipy.linalg
import sympy
from conftest import cirq_expectations

import qml
from qml import util


def _random_commuting_sum(qubits, rng):
    """A Pauli sum whose terms commute: one random string plus an identity term, or
    three strings of Z's."""
    paulis = [cirq.X, cirq.Y, cirq.Z]
    if rng.random() < 0.5:  # one arbitrary string and an identity term
        chosen = rng.choice(len(qubits), rng.integers(1, len(qubits) + 1), replace=False)
        string = cirq.PauliString({qubits[i]: paulis[rng.integers(3)] for i in chosen})
        return float(rng.normal()) * string + float(rng.normal())
    terms = []
    for _ in range(3):
        chosen = rng.choice(len(qubits), rng.integers(1, len(qubits) + 1), replace=False)
        terms.append(float(rng.normal()) * cirq.PauliString({qubits[i]: cirq.Z for i in chosen}))
    return sum(terms[1:], terms[0])


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4])
def test_exponential_matches_scipy_expm(num_qubits):
    rng = np.random.default_rng(num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    operators = [_random_commuting_sum(qubits, rng) for _ in range(3)]
    coefficients = [float(c) for c in rng.uniform(-2, 2, 3)]
    circuit = util.exponential(operators, coefficients)
    expected = np.eye(2**num_qubits, dtype=complex)
    for operator, coefficient in zip(operators, coefficients):
        matrix = operator.matrix(qubits)
        expected = scipy.linalg.expm(-1j * coefficient * matrix) @ expected
    got = cirq.Circuit(cirq.I.on_each(*qubits), circuit).unitary(qubit_order=qubits)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_exponential_with_symbols_resolves_to_the_numeric_circuit():
    q = cirq.GridQubit.rect(1, 3)
    operator = cirq.X(q[0]) * cirq.Y(q[1]) * cirq.Z(q[2]) - 0.5
    symbolic = util.exponential([operator], ["t"])
    assert util.get_circuit_symbols(symbolic) == ["t"]
    resolved = cirq.resolve_parameters(symbolic, {"t": 0.7})
    np.testing.assert_allclose(cirq.unitary(resolved),
                               cirq.unitary(util.exponential([operator], [0.7])), atol=1e-6)


def test_exponential_and_commutability_errors():
    q = cirq.LineQubit(0)
    with pytest.raises(ValueError, match="do not commute"):
        util.check_commutability(cirq.X(q) + cirq.Z(q))
    with pytest.raises(ValueError, match="do not commute"):
        util.exponential([cirq.X(q) + cirq.Z(q)])
    with pytest.raises(TypeError, match=r"operators\[0\]"):
        util.exponential([cirq.Circuit()])
    with pytest.raises(ValueError, match="2 coefficients"):
        util.exponential([cirq.X(q)], [1.0, 2.0])
    with pytest.raises(TypeError, match=r"coefficients\[0\]"):
        util.exponential([cirq.X(q)], [[1.0]])
    with pytest.raises(TypeError, match="real coefficients"):
        util.exponential([1j * cirq.X(q)])


@pytest.mark.parametrize("num_qubits", [2, 3, 5])
def test_random_symbol_circuits_use_every_symbol_and_simulate_as_cirq_does(num_qubits):
    np.random.seed(num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    names = ["a", "b", "c"]
    circuits, resolvers = util.random_symbol_circuit_resolver_batch(
        qubits, names, 4, n_moments=6)
    assert all(util.get_circuit_symbols(c) == names for c in circuits)
    values = np.array([[r.value_of(n) for n in names] for r in resolvers], np.float32)
    operators = util.random_pauli_sums(qubits, 3, 2)
    got = qml.layers.Expectation()(circuits, symbol_names=names, symbol_values=values,
                                   operators=operators).numpy()
    expected = cirq_expectations(circuits, values, names, [operators] * 4)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_random_circuit_batches_with_channels_and_pauli_sums():
    np.random.seed(11)
    qubits = cirq.LineQubit.range(3)
    circuits, resolvers = util.random_circuit_resolver_batch(
        qubits, 6, n_moments=5, include_channels=True)
    assert len(circuits) == 6 and all(not r.param_dict for r in resolvers)
    assert not any(cirq.is_parameterized(c) for c in circuits)
    assert any(not cirq.has_unitary(c) for c in circuits)  # some hold channels
    sums = util.random_pauli_sums(qubits, 4, 20)
    assert len(sums) == 20 and all(1 <= len(s) <= 4 for s in sums)
    assert all(set(s.qubits) <= set(qubits) for s in sums)


def test_every_supported_gate_and_channel_round_trips_approximately_equal():
    a = sympy.Symbol("a")
    q = cirq.LineQubit.range(3)
    for gate, arity in {**util.get_supported_gates(), **util.get_supported_channels()}.items():
        circuit = cirq.Circuit(gate.on(*q[:arity]))
        back = qml.from_tensor(qml.convert_to_tensor([circuit]))[0]
        assert util.gate_approx_eq(gate, next(back.all_operations()).gate), gate
        if isinstance(gate, cirq.EigenGate):
            scaled = gate ** (0.5 * a)
            assert util.gate_approx_eq(scaled, gate ** (0.5 * a + 1e-7))
            assert not util.gate_approx_eq(scaled, gate ** (0.5001 * a))
            assert not util.gate_approx_eq(scaled, gate ** (0.5 * sympy.Symbol("b")))
            controlled = cirq.ControlledGate(scaled)
            assert util.gate_approx_eq(controlled, cirq.ControlledGate(gate ** (0.5 * a)))
            assert not util.gate_approx_eq(controlled, scaled)
    assert not util.gate_approx_eq(cirq.depolarize(0.1), cirq.depolarize(0.1001))


def test_gate_approx_eq_errors():
    with pytest.raises(TypeError, match="gate_true"):
        util.gate_approx_eq("X", cirq.X)
    with pytest.raises(TypeError, match="atol"):
        util.gate_approx_eq(cirq.X, cirq.X, atol="0.1")
    with pytest.raises(ValueError, match="gate_deser"):
        util.gate_approx_eq(cirq.X, cirq.QuantumFourierTransformGate(5))


def test_kwargs_cartesian_product():
    got = list(util.kwargs_cartesian_product(a=[1, 2], b=("x", "y", "z")))
    assert got == [{"a": a, "b": b} for a, b in itertools.product([1, 2], "xyz")]
    with pytest.raises(ValueError, match="b=3"):
        list(util.kwargs_cartesian_product(a=[1], b=3))


@pytest.mark.parametrize("call,message", [
    (lambda: util.random_symbol_circuit([], ["a"]), "qubits must be a non-empty list"),
    (lambda: util.random_circuit_resolver_batch(cirq.LineQubit.range(2), -1),
     "batch_size must be an int >= 0, got -1"),
    (lambda: util.random_symbol_circuit_resolver_batch([], ["a"], 2),
     "qubits must be a non-empty list"),
    (lambda: util.random_pauli_sums(cirq.LineQubit.range(2), 0, 2),
     "max_sum_length must be an int >= 1, got 0"),
    (lambda: util.random_pauli_sums(cirq.LineQubit.range(2), 2, 1.5),
     "n_sums must be an int >= 0, got 1.5"),
])
def test_random_generators_name_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_exp_identity_names_a_bad_parameter():
    with pytest.raises(TypeError, match="param must be a real number or a sympy expression"):
        util.exp_identity("a", 1.0, cirq.LineQubit(0))
