"""qml.optimizers on functions with known minima and on a small VQE, against the exact
ground energy from numpy."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

import qml

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


@pytest.mark.parametrize("size", [1, 4, 10])
def test_rotosolve_finds_the_minimum_of_a_sum_of_sinusoids(size):
    rng = np.random.default_rng(size)
    amplitude = rng.uniform(-1, 1, size).astype(np.float32)
    phase = rng.uniform(0, 6, size).astype(np.float32)
    result = qml.optimizers.rotosolve_minimize(
        lambda x: tf.reduce_sum(amplitude * tf.sin(x + phase)) + 0.3, rng.uniform(0, 6, size))
    assert bool(result.converged) and int(result.num_iterations) <= 3
    np.testing.assert_allclose(float(result.objective_value),
                               0.3 - np.abs(amplitude).sum(), atol=1e-5)
    assert int(result.num_objective_evaluations) == 1 + 3 * size * int(result.num_iterations)


def test_spsa_finds_the_minimum_of_a_quadratic_and_is_seeded():
    rng = np.random.default_rng(2)
    scale = rng.uniform(0.5, 1, 5).astype(np.float32)
    centre = rng.uniform(-1, 1, 5).astype(np.float32)

    def function(x):
        return tf.reduce_sum(scale * (x - centre) ** 2)

    first = qml.optimizers.spsa_minimize(function, np.zeros(5), seed=4, max_iterations=400)
    second = qml.optimizers.spsa_minimize(function, np.zeros(5), seed=4, max_iterations=400)
    assert float(first.objective_value) < 1e-3
    np.testing.assert_array_equal(first.position.numpy(), second.position.numpy())
    blocked = qml.optimizers.spsa_minimize(function, np.zeros(5), seed=4, blocking=True,
                                           allowed_increase=0.0, max_iterations=50)
    assert float(blocked.objective_value) <= float(function(np.zeros(5)))


def _vqe_energy_function(repetitions=None):
    """<H> of a two-layer RY/CNOT ansatz for the 3-site transverse-field Ising chain,
    exact or from ``repetitions`` shots, and H's exact ground energy."""
    qubits = cirq.LineQubit.range(3)
    hamiltonian = sum(cirq.Z(a) * cirq.Z(b) for a, b in zip(qubits, qubits[1:])) \
        + sum(0.7 * cirq.X(q) for q in qubits)
    symbols = sympy.symbols("t0:9")
    circuit = cirq.Circuit()
    for layer in range(3):
        circuit += [cirq.ry(symbols[3 * layer + i])(q) for i, q in enumerate(qubits)]
        if layer < 2:
            circuit += [cirq.CNOT(a, b) for a, b in zip(qubits, qubits[1:])]
    layer = qml.layers.Expectation() if repetitions is None else \
        qml.layers.SampledExpectation(seed=5)
    names = [s.name for s in symbols]
    shots = {} if repetitions is None else {"repetitions": repetitions}

    def energy(x):
        return layer(circuit, symbol_names=names, symbol_values=tf.reshape(x, [1, -1]),
                     operators=hamiltonian, **shots)[0, 0]

    exact = np.linalg.eigvalsh(hamiltonian.matrix(qubits)).min()
    return energy, exact


def test_rotosolve_solves_a_small_vqe():
    energy, exact = _vqe_energy_function()
    result = qml.optimizers.rotosolve_minimize(energy, np.full(9, 0.1), max_iterations=100,
                                               tolerance=1e-7)
    assert float(result.objective_value) == pytest.approx(exact, abs=2e-3)


def test_spsa_solves_a_small_vqe_on_sampled_energies():
    sampled, exact = _vqe_energy_function(repetitions=4000)
    result = qml.optimizers.spsa_minimize(sampled, np.full(9, 0.1), seed=0,
                                          max_iterations=300, perturb=0.3)
    energy, _ = _vqe_energy_function()
    assert float(energy(result.position)) == pytest.approx(exact, abs=0.05)


def test_minimizer_errors():
    with pytest.raises(ValueError, match="initial_position"):
        qml.optimizers.rotosolve_minimize(tf.reduce_sum, [[1.0]])
    with pytest.raises(ValueError, match="max_iterations"):
        qml.optimizers.spsa_minimize(tf.reduce_sum, [1.0], max_iterations=-1)
    with pytest.raises(ValueError, match="one finite number"):
        qml.optimizers.rotosolve_minimize(lambda x: x * np.nan, [1.0])
    with pytest.raises(RuntimeError, match="eagerly"):
        tf.function(lambda: qml.optimizers.spsa_minimize(tf.reduce_sum, [1.0]))()
