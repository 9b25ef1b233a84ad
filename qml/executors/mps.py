"""A matrix-product-state simulator of 1-D circuits, for ``qml.math``'s ``mps_1d_*``.

A circuit's qubits, in Cirq's sorted order, form a chain; every gate acts on one
qubit or on two neighbours of the chain. The state is a list of site tensors
``[rows, left bond, 2, right bond]``, one per qubit, for all rows that run the same
program at once (numpy's stacked SVD and QR). A two-qubit gate contracts its two
sites, applies the gate and splits them again with an SVD that keeps at most
``bond_dim`` singular values. The sites are kept in mixed canonical form around the
gate, so each truncation is the best one at that bond, and the state is
renormalized after it. Memory is ``rows * n * bond_dim**2 * 2`` complex numbers,
linear in the qubit count.

Example:
    >>> import cirq
    >>> from qml.circuits import serialize
    >>> from qml.executors.base import prepare
    >>> q = cirq.LineQubit.range(2)
    >>> row = serialize.serialize_circuit(cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q)))
    >>> batch = prepare([row], [], np.zeros((1, 0), np.float32),
    ...                 [[serialize.serialize_paulisum(cirq.Z(q[0]) * cirq.Z(q[1]))]])
    >>> MpsExecutor(bond_dim=2).expectation(batch).round(6)
    array([[1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from qml.circuits import blocks
from qml.errors import UnsupportedGateError
from qml.executors.base import Batch, Executor, fill_padding, operator_qubits

_PAULIS = {
    "X": np.array([[0, 1], [1, 0]], complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.array([[1, 0], [0, -1]], complex),
}
_SWAP_FACTORS = (1, 0, 3, 2)  # (out1, out2, in1, in2) -> (out2, out1, in2, in1)


class _Chain:
    """Site tensors of ``rows`` states on ``n`` qubits, with the orthogonality centre."""

    def __init__(self, rows: int, num_qubits: int) -> None:
        site = np.zeros((rows, 1, 2, 1), complex)
        site[:, 0, 0, 0] = 1
        self.sites = [site.copy() for _ in range(num_qubits)]
        self.centre = 0

    def apply_one(self, gate: np.ndarray, site: int) -> None:
        """``gate`` ``[rows or 1, 2, 2]`` on one site."""
        self.sites[site] = np.einsum("bst,bltr->blsr", _rows(gate, self.sites[site]),
                                     self.sites[site])

    def apply_two(self, gate: np.ndarray, left: int, bond_dim: int) -> None:
        """``gate`` ``[rows or 1, 4, 4]`` on sites ``left`` and ``left + 1`` (in that
        order of tensor factors), truncated to ``bond_dim``."""
        self.move_centre(left)
        a, b = self.sites[left], self.sites[left + 1]
        rows, dim_left, dim_right = a.shape[0], a.shape[1], b.shape[3]
        theta = np.einsum("blsm,bmtr->blstr", a, b)
        gate = _rows(gate, a).reshape(-1, 2, 2, 2, 2)
        theta = np.einsum("bxyst,blstr->blxyr", gate, theta)
        u, s, vh = np.linalg.svd(theta.reshape(rows, dim_left * 2, 2 * dim_right),
                                 full_matrices=False)
        keep = min(bond_dim, s.shape[1])
        s = s[:, :keep]
        s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-300)
        self.sites[left] = u[:, :, :keep].reshape(rows, dim_left, 2, keep)
        self.sites[left + 1] = (s[:, :, None] * vh[:, :keep]).reshape(rows, keep, 2, dim_right)
        self.centre = left + 1

    def move_centre(self, site: int) -> None:
        """QR sweeps that move the orthogonality centre to ``site``."""
        while self.centre < site:
            c = self.centre
            a = self.sites[c]
            q, r = np.linalg.qr(a.reshape(a.shape[0], -1, a.shape[3]))
            self.sites[c] = q.reshape(a.shape[0], a.shape[1], 2, -1)
            self.sites[c + 1] = np.einsum("bkr,brsx->bksx", r, self.sites[c + 1])
            self.centre += 1
        while self.centre > site:
            c = self.centre
            a = self.sites[c]
            q, r = np.linalg.qr(np.conj(a.reshape(a.shape[0], a.shape[1], -1)).swapaxes(1, 2))
            self.sites[c] = np.conj(q.swapaxes(1, 2)).reshape(a.shape[0], -1, 2, a.shape[3])
            self.sites[c - 1] = np.einsum("blsm,bkm->blsk", self.sites[c - 1], np.conj(r))
            self.centre -= 1

    def pauli_expectation(self, paulis: dict[int, str]) -> np.ndarray:
        """``[rows]`` real ``<P>`` of a Pauli string given as ``{site: 'X'|'Y'|'Z'}``."""
        env = np.ones((self.sites[0].shape[0], 1, 1), complex)
        for index, site in enumerate(self.sites):
            operated = site if index not in paulis else np.einsum(
                "st,bltr->blsr", _PAULIS[paulis[index]], site)
            env = np.einsum("bxy,bxsz,bysw->bzw", env, np.conj(site), operated)
        return np.real(env[:, 0, 0])

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``int8 [rows, count, n]`` bitstrings, drawn site by site."""
        self.move_centre(0)  # every site to the right is right-normalized
        rows = self.sites[0].shape[0]
        owner = np.repeat(np.arange(rows), count)
        left = np.ones((rows * count, 1), complex)
        bits = np.zeros((rows * count, len(self.sites)), np.int8)
        for index, site in enumerate(self.sites):
            branches = np.einsum("nl,nlsr->nsr", left, site[owner])
            weights = np.sum(np.abs(branches) ** 2, axis=2)
            p_one = weights[:, 1] / np.maximum(weights.sum(axis=1), 1e-300)
            outcome = (rng.random(len(owner)) < p_one).astype(np.int8)
            bits[:, index] = outcome
            chosen = branches[np.arange(len(owner)), outcome]
            left = chosen / np.maximum(np.linalg.norm(chosen, axis=1, keepdims=True), 1e-300)
        return bits.reshape(rows, count, len(self.sites))


def _rows(gate: np.ndarray, site: np.ndarray) -> np.ndarray:
    return np.broadcast_to(gate, (site.shape[0],) + gate.shape[1:])


def simulate(batch: Batch, bond_dim: int) -> dict[int, tuple[np.ndarray, _Chain]]:
    """Per distinct program, its row indices and their chain after the circuit.

    Raises:
        UnsupportedGateError: for a noise channel, or a gate that is not on one qubit
            or two neighbours of the chain.
    """
    chains = {}
    for key, (program, rows) in batch.segment_groups().items():
        if program.noisy:
            raise UnsupportedGateError("mps_1d ops simulate pure states; the circuit of "
                                       f"row {int(rows[0])} has noise channels")
        chain = _Chain(len(rows), program.num_qubits)
        columns = batch.columns(program, rows)
        for block in program.blocks:
            positions = block.controls + block.targets
            unitary = block.unitary(columns)
            if block.controls:
                unitary = blocks.controlled(unitary, block.control_values)
            if len(positions) == 1:
                chain.apply_one(unitary, positions[0])
            elif len(positions) == 2 and abs(positions[0] - positions[1]) == 1:
                if positions[0] > positions[1]:  # the matrix's first factor is the right site
                    unitary = unitary.reshape(-1, 2, 2, 2, 2).transpose(
                        (0,) + tuple(1 + f for f in _SWAP_FACTORS)).reshape(-1, 4, 4)
                chain.apply_two(unitary, min(positions), bond_dim)
            else:
                qubits = [program.cirq_qubits()[p] for p in positions]
                raise UnsupportedGateError(
                    f"mps_1d ops need 1-D circuits: a gate on neighbouring qubits of the "
                    f"sorted chain {program.cirq_qubits()}; row {int(rows[0])} has a "
                    f"gate on {qubits}")
        chains[key] = (rows, chain)
    return chains


class MpsExecutor(Executor):
    """Expectations, sampled expectations and samples of 1-D circuits, simulated as
    matrix product states of at most ``bond_dim`` (see the module's description).

    Sampled expectations draw each term's shot count from the binomial distribution
    of its value on the truncated state, as qml's other executors do.

    Example:
        >>> MpsExecutor(bond_dim=8).name
        'mps'
    """

    name = "mps"
    capabilities = frozenset({"samples", "sampled_expectation"})
    simulates_state_vectors = False

    def __init__(self, bond_dim: int = 4) -> None:
        if isinstance(bond_dim, bool) or not isinstance(bond_dim, (int, np.integer)) \
                or bond_dim < 1:
            raise ValueError(f"bond_dim must be an int >= 1, got {bond_dim!r}")
        self.bond_dim = int(bond_dim)

    def expectation(self, batch: Batch) -> np.ndarray:
        return self._expectation(batch, None)

    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        return self._expectation(batch, np.random.default_rng(batch.estimation.seed))

    def samples(self, batch: Batch, count: int) -> list[np.ndarray]:
        """Per row, ``int8 [count, n_qubits]`` bitstrings of its truncated state."""
        rng = np.random.default_rng(batch.estimation.seed)
        out: list = [None] * batch.batch_size
        for rows, chain in simulate(batch, self.bond_dim).values():
            drawn = chain.sample(count, rng)
            for index, row in enumerate(rows):
                out[int(row)] = drawn[index]
        return out

    def _expectation(self, batch: Batch, rng: Optional[np.random.Generator]) -> np.ndarray:
        out = np.zeros((batch.batch_size, batch.num_operators))
        for rows, chain in simulate(batch, self.bond_dim).values():
            program = batch.programs[int(rows[0])]
            for column in range(batch.num_operators):
                by_operator: dict[bytes, list[int]] = {}
                for index, row in enumerate(rows):
                    by_operator.setdefault(batch.operators[row][column], []).append(index)
                for operator, members in by_operator.items():
                    members = np.asarray(members)
                    for coefficient, paulis in operator_qubits(program, operator,
                                                               int(rows[members[0]])):
                        if not paulis:
                            out[rows[members], column] += np.real(coefficient)
                            continue
                        value = chain.pauli_expectation({p: s for s, p in paulis})[members]
                        if rng is not None:
                            shots = batch.estimation.repetitions[rows[members], column]
                            ones = rng.binomial(shots, np.clip((1 + value) / 2, 0, 1))
                            value = (2 * ones - shots) / np.maximum(shots, 1)
                        out[rows[members], column] += np.real(coefficient) * value
        return fill_padding(batch, out.astype(np.float32))
