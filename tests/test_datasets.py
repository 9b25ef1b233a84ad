"""qml.datasets: TFQ's shapes and labels, ground states against numpy's dense
diagonalization, circuits against Cirq's simulator, and the cache."""

import time

import cirq
import numpy as np
import pytest

import qml

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


def test_excited_cluster_states():
    qubits = cirq.GridQubit.rect(1, 4)
    circuits, labels = qml.datasets.excited_cluster_states(qubits)
    assert labels == (1, 1, 1, 1, -1) and len(circuits) == 5
    simulator = cirq.Simulator(dtype=np.complex128)
    stabilizers = [cirq.X(q) * cirq.Z(qubits[i - 1]) * cirq.Z(qubits[(i + 1) % 4])
                   for i, q in enumerate(qubits)]
    for index, (circuit, label) in enumerate(zip(circuits, labels)):
        values = np.real(simulator.simulate_expectation_values(circuit, stabilizers))
        expected = np.ones(4)  # the ring cluster state is +1 for every stabilizer
        if label == 1:  # X on qubit `index` flips the stabilizers of its neighbours
            expected[[index - 1, (index + 1) % 4]] = -1
        np.testing.assert_allclose(values, expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 3"):
        qml.datasets.excited_cluster_states(qubits[:2])
    with pytest.raises(ValueError, match="GridQubit"):
        qml.datasets.excited_cluster_states(cirq.LineQubit.range(3))


@pytest.mark.parametrize("name, count", [("tfi_chain", 81), ("xxz_chain", 76)])
def test_spin_chains_match_exact_diagonalization_and_cirq(tmp_path, name, count):
    qubits = cirq.GridQubit.rect(1, 4)
    dataset = getattr(qml.datasets, name)
    started = time.perf_counter()
    circuits, labels, sums, infos = dataset(qubits, data_dir=str(tmp_path))
    first = time.perf_counter() - started
    assert len(circuits) == len(labels) == len(sums) == len(infos) == count
    orders = [info.g for info in infos]
    assert orders == sorted(orders) and orders[0] in (0.2, 0.3) and orders[-1] == 1.8
    if name == "tfi_chain":
        assert labels == [0 if g < 1 else 1 if g == 1 else 2 for g in orders]
    else:
        assert labels == [0 if g <= 1 else 1 for g in orders]
    simulator = cirq.Simulator(dtype=np.complex128)
    for index in range(0, count, 15):
        info, circuit, hamiltonian = infos[index], circuits[index], sums[index]
        dense = hamiltonian.matrix(qubits)
        energies, vectors = np.linalg.eigh(dense)
        assert info.gs_energy == pytest.approx(energies[0], abs=1e-8)
        assert abs(np.vdot(vectors[:, 0], info.gs)) ** 2 == pytest.approx(1, abs=1e-6)
        state = simulator.simulate(circuit, qubit_order=qubits).final_state_vector
        energy = np.real(np.vdot(state, dense @ state))
        assert energy == pytest.approx(info.gs_energy + info.res_energy, abs=1e-4)
        assert abs(np.vdot(info.gs, state)) ** 2 == pytest.approx(info.fidelity, abs=1e-4)
        assert info.fidelity > 0.99
        resolved = cirq.resolve_parameters(info.var_circuit, info.params)
        assert cirq.approx_eq(cirq.unitary(resolved), cirq.unitary(circuit))
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    started = time.perf_counter()
    again = dataset(qubits, data_dir=str(tmp_path))
    assert time.perf_counter() - started < first / 2  # read from the cache
    assert [i.params for i in again[3]] == [i.params for i in infos]


def test_spin_chain_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="supported numbers of spins"):
        qml.datasets.tfi_chain(cirq.GridQubit.rect(1, 5), data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="boundary conditions"):
        qml.datasets.xxz_chain(cirq.GridQubit.rect(1, 4), "open", data_dir=str(tmp_path))
    with pytest.raises(TypeError, match="GridQubit"):
        qml.datasets.tfi_chain(cirq.LineQubit.range(4), data_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())
