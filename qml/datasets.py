"""Quantum data sets, named as in ``tfq.datasets``: excited cluster states, and the
ground states of the transverse-field Ising and XXZ chains.

TFQ downloads the spin chains' circuit parameters. qml computes them, once per
chain and size, and caches them (see :func:`cache_dir`):

- the exact ground state and energy, by sparse diagonalization (scipy);
- the parameters of TFQ's ansatz, by a variational fit (VQE) of the energy with
  qml's adjoint gradients and L-BFGS, continued from each order parameter's
  solution to the next;
- each circuit's fidelity to the exact ground state and its energy residual.

The cache holds numbers only (``.npz``, read without pickle). docs/datasets.md gives
each data set's fidelities, generation times and cache sizes.

Example:
    >>> import cirq
    >>> circuits, labels = excited_cluster_states(cirq.GridQubit.rect(1, 3))
    >>> len(circuits), labels
    (4, (1, 1, 1, -1))
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import cirq
import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.sparse.linalg
import sympy

from qml.circuits import serialize
from qml.differentiators.adjoint import Adjoint
from qml.executors.base import prepare
from qml.executors.native import NativeExecutor

__all__ = ["SpinSystemInfo", "cache_dir", "excited_cluster_states", "tfi_chain",
           "xxz_chain"]

class SpinSystemInfo(NamedTuple):
    """One point of a spin-chain data set.

    Attributes:
        g: the order parameter.
        gs: the exact ground state, ``complex [2**n]`` in Cirq's qubit order.
        gs_energy: the exact ground-state energy.
        res_energy: the circuit's energy minus ``gs_energy``.
        fidelity: ``|<gs|circuit>|**2``.
        params: the circuit's parameters, symbol name to value (gate exponents).
        var_circuit: the ansatz with its symbols unresolved.

    Example:
        >>> from qml.datasets import SpinSystemInfo
        >>> SpinSystemInfo._fields[:3]
        ('g', 'gs', 'gs_energy')
    """

    g: float
    gs: np.ndarray
    gs_energy: float
    res_energy: float
    fidelity: float
    params: dict
    var_circuit: cirq.Circuit

SUPPORTED_SPINS = (4, 8, 12, 16)
SUPPORTED_BOUNDARIES = ("closed",)
_FORMAT = 1  # the cache files' layout; a change makes old files be computed again


def excited_cluster_states(qubits: Sequence[cirq.GridQubit]
                           ) -> tuple[tuple[cirq.Circuit, ...], tuple[int, ...]]:
    """TFQ's cluster-state data set: a ring's cluster state, and its excitations.

    Args:
        qubits: at least three ``cirq.GridQubit`` s, in ring order.

    Returns:
        ``(circuits, labels)``: one circuit per qubit, the cluster state with an ``X``
        on that qubit (label 1), and the unexcited cluster state last (label -1).

    Raises:
        TypeError: if ``qubits`` is not a list.
        ValueError: for other than ``cirq.GridQubit`` s, or fewer than three.

    Example:
        >>> import cirq
        >>> circuits, labels = excited_cluster_states(cirq.GridQubit.rect(1, 4))
        >>> len(circuits), labels
        (5, (1, 1, 1, 1, -1))
    """
    if not isinstance(qubits, (list, tuple, np.ndarray)):
        raise TypeError(f"qubits must be a list of cirq.GridQubit, got "
                        f"{type(qubits).__name__}")
    qubits = list(qubits)
    if not all(isinstance(q, cirq.GridQubit) for q in qubits):
        raise ValueError("qubits must hold cirq.GridQubit only")
    if len(qubits) < 3:
        raise ValueError(f"a cluster state data set needs at least 3 qubits, got "
                         f"{len(qubits)}")
    ring = cirq.Circuit(cirq.H.on_each(qubits))
    ring.append(cirq.CZ(a, b) for a, b in zip(qubits, qubits[1:] + qubits[:1]))
    circuits = tuple(ring + cirq.Circuit(cirq.X(q)) for q in qubits) + (ring,)
    return circuits, (1,) * len(qubits) + (-1,)


def cache_dir(data_dir: Optional[str] = None) -> pathlib.Path:
    """Where computed data sets are kept.

    Args:
        data_dir: a directory; None looks further.

    Returns:
        ``data_dir``, else ``$QML_DATA_DIR``, else ``$XDG_CACHE_HOME/qml``
        (``~/.cache/qml``), as a ``pathlib.Path``.

    Raises:
        TypeError: if ``data_dir`` is not a path or None.

    Example:
        >>> str(cache_dir("/tmp/qml-data"))
        '/tmp/qml-data'
    """
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path or None, got {data_dir!r}")
    if data_dir is None:
        data_dir = os.environ.get("QML_DATA_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qml")
    return pathlib.Path(data_dir)


def _check_chain(qubits: Any, boundary_condition: Any) -> list[cirq.GridQubit]:
    if not isinstance(qubits, (list, tuple, np.ndarray)) or any(
            isinstance(q, (list, tuple)) for q in qubits):
        raise TypeError("qubits must be a one-dimensional list of cirq.GridQubit")
    if not all(isinstance(q, cirq.GridQubit) for q in qubits):
        raise TypeError("qubits must be a list of cirq.GridQubit")
    if len(qubits) not in SUPPORTED_SPINS:
        raise ValueError(f"supported numbers of spins are {list(SUPPORTED_SPINS)}, got "
                         f"{len(qubits)}")
    if boundary_condition not in SUPPORTED_BOUNDARIES:
        raise ValueError(f"supported boundary conditions are {list(SUPPORTED_BOUNDARIES)},"
                         f" got {boundary_condition!r}")
    return list(qubits)


def _names(count: int) -> list[str]:
    return [f"theta_{i}" for i in range(count)]


def _tfi_ansatz(qubits: list[cirq.GridQubit]) -> cirq.Circuit:
    """TFQ's TFI ansatz: ``H`` on every qubit, then per layer ``d`` a ``ZZ**theta_d``
    on every bond of the ring and an ``X**theta_{d+depth}`` on every qubit."""
    n, depth = len(qubits), len(qubits) // 2
    theta = sympy.symbols(_names(n))
    circuit = cirq.Circuit(cirq.H.on_each(qubits))
    for d in range(depth):
        circuit.append(cirq.ZZ(a, b) ** theta[d] for a, b in zip(qubits, qubits[1:]))
        circuit.append(cirq.ZZ(qubits[-1], qubits[0]) ** theta[d])
        circuit.append(cirq.X(q) ** theta[d + depth] for q in qubits)
    return circuit


def _xxz_ansatz(qubits: list[cirq.GridQubit]) -> cirq.Circuit:
    """TFQ's XXZ ansatz: singlets on the (even, odd) pairs, then per layer ``d``
    ``ZZ``, ``YY`` and ``XX`` rotations on the (odd, next even) bonds and the closing
    bond, with exponents ``theta_d``, ``theta_{d+depth}`` (both ``YY`` and ``XX``), then
    on the (even, odd) bonds with ``theta_{d+2 depth}``, ``theta_{d+3 depth}``."""
    n, depth = len(qubits), len(qubits) // 2
    theta = sympy.symbols(_names(2 * n))
    even, odd = qubits[::2], qubits[1::2]
    circuit = cirq.Circuit(cirq.X.on_each(qubits))
    circuit.append(cirq.H(q) for q in even)
    circuit.append(cirq.CNOT(a, b) for a, b in zip(even, odd))

    def exchange(a, b, z, xy):
        return [cirq.ZZ(a, b) ** z, cirq.YY(a, b) ** xy, cirq.XX(a, b) ** xy]

    for d in range(depth):
        for a, b in zip(odd, even[1:]):
            circuit.append(exchange(a, b, theta[d], theta[d + depth]))
        circuit.append(exchange(qubits[-1], qubits[0], theta[d], theta[d + depth]))
        for a, b in zip(even, odd):
            circuit.append(exchange(a, b, theta[d + 2 * depth], theta[d + 3 * depth]))
    return circuit


def _tfi_hamiltonian(qubits: list[cirq.GridQubit], g: float) -> cirq.PauliSum:
    bonds = list(zip(qubits, qubits[1:])) + [(qubits[0], qubits[-1])]
    return sum((-cirq.Z(a) * cirq.Z(b) for a, b in bonds), cirq.PauliSum()) \
        - g * sum((cirq.X(q) for q in qubits), cirq.PauliSum())


def _xxz_hamiltonian(qubits: list[cirq.GridQubit], delta: float) -> cirq.PauliSum:
    bonds = list(zip(qubits, qubits[1:])) + [(qubits[0], qubits[-1])]
    return sum((delta * cirq.Z(a) * cirq.Z(b) + cirq.Y(a) * cirq.Y(b)
                + cirq.X(a) * cirq.X(b) for a, b in bonds), cirq.PauliSum())


_SPARSE_PAULIS = {
    cirq.X: scipy.sparse.csr_matrix([[0, 1], [1, 0]], dtype=complex),
    cirq.Y: scipy.sparse.csr_matrix([[0, -1j], [1j, 0]]),
    cirq.Z: scipy.sparse.csr_matrix([[1, 0], [0, -1]], dtype=complex),
}


def _sparse_matrix(pauli_sum: cirq.PauliSum, qubits: list[cirq.Qid]) -> scipy.sparse.csr_matrix:
    """The sum as a sparse matrix in Cirq's qubit order (``qubits[0]`` most
    significant), built factor by factor so that 16 qubits stay small."""
    dim = 2 ** len(qubits)
    total = scipy.sparse.csr_matrix((dim, dim), dtype=complex)
    for term in pauli_sum:
        matrix = scipy.sparse.identity(1, dtype=complex, format="csr")
        for qubit in qubits:
            pauli = term.get(qubit)
            factor = scipy.sparse.identity(2, dtype=complex, format="csr") if pauli is None \
                else _SPARSE_PAULIS[pauli]
            matrix = scipy.sparse.kron(matrix, factor, format="csr")
        total = total + complex(term.coefficient) * matrix
    return total


def _ground_state(pauli_sum: cirq.PauliSum, qubits: list[cirq.Qid]) -> tuple[float, np.ndarray]:
    matrix = _sparse_matrix(pauli_sum, qubits)
    energies, vectors = scipy.sparse.linalg.eigsh(matrix, k=1, which="SA", tol=1e-10,
                                                  v0=np.ones(matrix.shape[0], complex))
    return float(energies[0]), vectors[:, 0]


_EXECUTOR = NativeExecutor()
_ADJOINT = Adjoint()


def _vqe(circuit: cirq.Circuit, hamiltonian: cirq.PauliSum, start: np.ndarray
         ) -> tuple[np.ndarray, float, np.ndarray]:
    """The parameters that minimize ``<hamiltonian>`` from ``start`` (L-BFGS on qml's
    adjoint gradient), their energy and the circuit's state."""
    row = serialize.serialize_circuit(circuit)
    operator = serialize.serialize_paulisum(hamiltonian)
    names = _names(len(start))

    def batch_at(x: np.ndarray):
        return prepare([row], names, x[None].astype(np.float32), [[operator]])

    def energy_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        values, batch = _ADJOINT.forward(_EXECUTOR, batch_at(x))
        gradient = _ADJOINT.differentiate_analytic(_EXECUTOR, batch, np.ones((1, 1)))
        return float(values[0, 0]), gradient[0].astype(np.float64)

    result = scipy.optimize.minimize(energy_and_gradient, start, jac=True,
                                     method="L-BFGS-B", options={"maxiter": 500})
    state = _EXECUTOR.final_states(batch_at(result.x))[0].astype(complex)
    return result.x, float(result.fun), state / np.linalg.norm(state)


def _compute(name: str, qubits: list[cirq.GridQubit], orders: np.ndarray,
             ansatz: Callable, hamiltonian: Callable, num_params: int) -> dict:
    """Every order parameter's exact ground state and fitted circuit, with a progress
    bar; from the first order parameter's best of a few starts, each next fit starts
    at the previous one's parameters."""
    from rich.console import Console  # a progress bar only when computing
    from rich.progress import Progress

    line = cirq.LineQubit.range(len(qubits))
    circuit = ansatz(line)
    rng = np.random.default_rng(1234)
    out = {key: [] for key in ("params", "gs", "gs_energy", "energy", "fidelity")}
    started = time.perf_counter()
    previous = None
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"qml.datasets: fitting {name} on {len(qubits)} spins",
                                 total=len(orders))
        for g in orders:
            exact_energy, ground = _ground_state(hamiltonian(line, float(g)), line)
            starts = [previous] if previous is not None else \
                [rng.uniform(-0.2, 0.2, num_params) + 0.5 for _ in range(4)]
            fits = [_vqe(circuit, hamiltonian(line, float(g)), s) for s in starts]
            params, energy, state = min(fits, key=lambda fit: fit[1])
            previous = params
            out["params"].append(params)
            out["gs"].append(ground)
            out["gs_energy"].append(exact_energy)
            out["energy"].append(energy)
            out["fidelity"].append(abs(np.vdot(ground, state)) ** 2)
            progress.advance(task)
    arrays = {key: np.asarray(value) for key, value in out.items()}
    arrays["orders"] = orders
    arrays["seconds"] = np.asarray(time.perf_counter() - started)
    arrays["format"] = np.asarray(_FORMAT)
    return arrays


def _load_or_compute(name: str, qubits: list, boundary_condition: str,
                     data_dir: Optional[str], orders: np.ndarray, ansatz: Callable,
                     hamiltonian: Callable, num_params: int) -> dict:
    path = cache_dir(data_dir) / "spin_systems" / name / boundary_condition / \
        f"{len(qubits)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            data = {key: stored[key] for key in stored.files}
        if int(data.get("format", -1)) == _FORMAT and np.allclose(data["orders"], orders):
            return data
    data = _compute(name, qubits, orders, ansatz, hamiltonian, num_params)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, **data)
    partial.replace(path)  # whole files only, even if two processes race
    return data


def _spin_dataset(name, qubits, boundary_condition, data_dir, orders, ansatz,
                  hamiltonian, num_params, label):
    qubits = _check_chain(qubits, boundary_condition)
    data = _load_or_compute(name, qubits, boundary_condition, data_dir, orders, ansatz,
                            hamiltonian, num_params)
    circuit = ansatz(qubits)
    names = _names(num_params)
    circuits, labels, sums, infos = [], [], [], []
    for i, g in enumerate(orders):
        g = float(round(g, 4))
        params = dict(zip(names, map(float, data["params"][i])))
        circuits.append(cirq.resolve_parameters(circuit, params))
        labels.append(label(g))
        sums.append(hamiltonian(qubits, g))
        infos.append(SpinSystemInfo(
            g=g, gs=data["gs"][i], gs_energy=float(data["gs_energy"][i]),
            res_energy=float(data["energy"][i] - data["gs_energy"][i]),
            fidelity=float(data["fidelity"][i]), params=params, var_circuit=circuit))
    return circuits, labels, sums, infos


def tfi_chain(qubits: Sequence[cirq.GridQubit], boundary_condition: str = "closed",
              data_dir: Optional[str] = None):
    """Ground states of the transverse-field Ising ring
    ``H = -sum_i Z_i Z_{i+1} - g sum_i X_i`` for the 81 values ``g = 0.20, 0.22, ...,
    1.80``, prepared by TFQ's ansatz of depth ``n / 2``.

    Args:
        qubits: 4, 8, 12 or 16 ``cirq.GridQubit`` s, in chain order.
        boundary_condition: ``"closed"`` (a ring), the one TFQ provides.
        data_dir: where to cache the computed parameters (see :func:`cache_dir`).

    Returns:
        ``(circuits, labels, pauli_sums, additional_info)``: resolved circuits;
        labels 0 (``g < 1``), 1 (``g == 1``) and 2 (``g > 1``); the Hamiltonians; and
        a :data:`SpinSystemInfo` per point.

    Raises:
        TypeError: for qubits other than a flat list of ``cirq.GridQubit``.
        ValueError: for an unsupported size or boundary condition.

    Example:
        >>> import cirq
        >>> circuits, labels, pauli_sums, info = tfi_chain(cirq.GridQubit.rect(4, 1))
        >>> len(circuits), labels[0], labels[40], labels[-1]
        (81, 0, 1, 2)
        >>> bool(min(point.fidelity for point in info) > 0.99)
        True
    """
    orders = np.round(np.linspace(0.2, 1.8, 81), 2)
    return _spin_dataset("TFI_chain", qubits, boundary_condition, data_dir, orders,
                         _tfi_ansatz, _tfi_hamiltonian, len(qubits),
                         lambda g: 0 if g < 1 else (1 if g == 1 else 2))


def xxz_chain(qubits: Sequence[cirq.GridQubit], boundary_condition: str = "closed",
              data_dir: Optional[str] = None):
    """Ground states of the XXZ ring
    ``H = sum_i X_i X_{i+1} + Y_i Y_{i+1} + Delta Z_i Z_{i+1}`` for the 76 values
    ``Delta = 0.30, 0.32, ..., 1.80``, prepared by TFQ's ansatz of depth ``n / 2``.

    Args:
        qubits: 4, 8, 12 or 16 ``cirq.GridQubit`` s, in chain order.
        boundary_condition: ``"closed"`` (a ring), the one TFQ provides.
        data_dir: where to cache the computed parameters (see :func:`cache_dir`).

    Returns:
        ``(circuits, labels, pauli_sums, additional_info)`` as :func:`tfi_chain`, with
        labels 0 (``Delta <= 1``, the critical phase) and 1 (``Delta > 1``).

    Raises:
        TypeError: for qubits other than a flat list of ``cirq.GridQubit``.
        ValueError: for an unsupported size or boundary condition.

    Example:
        >>> import cirq
        >>> circuits, labels, pauli_sums, info = xxz_chain(cirq.GridQubit.rect(4, 1))
        >>> len(circuits), labels[0], labels[-1], info[0].g
        (76, 0, 1, 0.3)
    """
    orders = np.round(np.linspace(0.3, 1.8, 76), 2)
    return _spin_dataset("XXZ_chain", qubits, boundary_condition, data_dir, orders,
                         _xxz_ansatz, _xxz_hamiltonian, 2 * len(qubits),
                         lambda g: 0 if g <= 1 else 1)
