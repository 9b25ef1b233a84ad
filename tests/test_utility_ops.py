"""TFQ's utility ops: append_circuit and resolve_parameters against Cirq, the
unpadding helpers against the ragged outputs they undo, and the concurrent-op mode."""

import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import random_circuit

import qml
from qml.errors import BatchSizeError


def _unitary(circuit, qubits):
    return cirq.Circuit(cirq.I.on_each(*qubits), circuit).unitary(qubit_order=qubits)


@pytest.mark.parametrize("graph", [False, True])
def test_append_circuit_matches_cirq_concatenation(rng, graph):
    qubits = cirq.GridQubit.rect(2, 2)
    firsts = [cirq.resolve_parameters(random_circuit(qubits[:k + 1], 8, rng),
                                      {s: 0.3 for s in "alpha beta gamma delta".split()})
              for k in range(4)]
    seconds = [cirq.resolve_parameters(random_circuit(qubits[k:], 8, rng),
                                       {s: -0.7 for s in "alpha beta gamma delta".split()})
               for k in range(4)]
    op = tf.function(qml.append_circuit) if graph else qml.append_circuit
    joined = qml.from_tensor(op(qml.convert_to_tensor(firsts), qml.convert_to_tensor(seconds)))
    for first, second, got in zip(firsts, seconds, joined):
        np.testing.assert_allclose(_unitary(got, qubits), _unitary(first + second, qubits),
                                   atol=1e-6)
    with pytest.raises(BatchSizeError, match="programs_to_append has 1"):
        qml.append_circuit(firsts, seconds[:1])


@pytest.mark.parametrize("graph", [False, True])
def test_resolve_parameters_resolves_only_the_named_symbols(graph):
    np.random.seed(3)
    qubits = cirq.GridQubit.rect(1, 3)
    names = ["a", "b", "c"]
    circuits, _ = qml.util.random_symbol_circuit_resolver_batch(qubits, names, 3, n_moments=5)
    values = np.random.uniform(-2, 2, (3, 2)).astype(np.float32)
    op = tf.function(qml.resolve_parameters) if graph else qml.resolve_parameters
    partial = qml.from_tensor(op(qml.convert_to_tensor(circuits), ["a", "c"], values))
    for circuit, row, got in zip(circuits, values, partial):
        assert qml.util.get_circuit_symbols(got) == ["b"]
        full = {"a": float(row[0]), "c": float(row[1]), "b": 0.4}
        np.testing.assert_allclose(
            _unitary(cirq.resolve_parameters(got, {"b": 0.4}), qubits),
            _unitary(cirq.resolve_parameters(circuit, full), qubits), atol=1e-5)
    with pytest.raises(BatchSizeError, match="symbol_values has shape"):
        qml.resolve_parameters(circuits, ["a"], values)


def test_padded_to_ragged_undoes_padding_of_states_and_unitaries(rng):
    circuits = [cirq.resolve_parameters(random_circuit(cirq.LineQubit.range(n), 6, rng),
                                        {s: 0.2 for s in "alpha beta gamma delta".split()})
                for n in (1, 3, 2)]
    states = qml.layers.State()(circuits)
    restored = qml.padded_to_ragged(states.to_tensor(default_value=-2))
    for got, want in zip(restored.to_list(), states.to_list()):
        np.testing.assert_allclose(got, want)
        assert len(got) == len(want)
    unitaries = qml.layers.Unitary()(circuits)
    restored = qml.padded_to_ragged2d(unitaries.to_tensor(default_value=-2))
    for got, want in zip(restored.to_list(), unitaries.to_list()):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want)


def test_concurrent_op_mode_is_kept_and_checked():
    assert qml.get_quantum_concurrent_op_mode() is True
    qml.set_quantum_concurrent_op_mode(False)
    try:
        assert qml.get_quantum_concurrent_op_mode() is False
    finally:
        qml.set_quantum_concurrent_op_mode(True)
    with pytest.raises(TypeError, match="mode must be a bool"):
        qml.set_quantum_concurrent_op_mode("no")
    q = cirq.LineQubit(0)
    op = qml.get_expectation_op(quantum_concurrent=False)
    assert op([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]), [[cirq.Z(q)]]).numpy()[0, 0] == -1
    for factory in (qml.get_expectation_op, qml.get_sampled_expectation_op,
                    qml.get_sampling_op, qml.get_state_op, qml.get_unitary_op):
        with pytest.raises(TypeError, match="quantum_concurrent must be a bool"):
            factory(quantum_concurrent=1)


@pytest.mark.parametrize("layer", ["NoisyPQC", "NoisyControlledPQC"])
def test_noisy_layers_take_initializer_regularizer_and_constraint(layer):
    q = cirq.GridQubit(0, 0)
    circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q), cirq.depolarize(0.01)(q))
    kwargs = dict(repetitions=10, sample_based=False)
    if layer == "NoisyPQC":
        kwargs.update(initializer=keras.initializers.Constant(0.25),
                      regularizer=keras.regularizers.L2(0.5),
                      constraint=keras.constraints.NonNeg())
        built = qml.layers.NoisyPQC(circuit, cirq.Z(q), **kwargs)
        built([cirq.Circuit()])
        np.testing.assert_allclose(built.trainable_weights[0].numpy(), [0.25])
        np.testing.assert_allclose(float(sum(built.losses)), 0.5 * 0.25**2, rtol=1e-6)
        assert isinstance(built.trainable_weights[0].constraint, keras.constraints.NonNeg)
    else:
        # ControlledPQC's parameters are inputs, not weights, as in TFQ.
        with pytest.raises(ValueError, match="initializer"):
            qml.layers.NoisyControlledPQC(circuit, cirq.Z(q), initializer="zeros", **kwargs)
