"""The qsim executor: expectations, samples, states and noise through qsimcirq's pybind.

qsimcirq picks its AVX-512, AVX2, SSE or plain build at import. For each batch the
executor binds every block's unitary for all rows at once (:func:`compiler.bind`),
then builds one qsim circuit per row from those matrices. It never resolves or
translates a Cirq circuit per row, which is where plain qsimcirq spends its time.

A row with noise channels becomes a qsim ``NoisyCircuit`` and runs as Monte Carlo
trajectories. Sampling draws every repetition from one simulation of a noiseless row,
and one trajectory per repetition of a noisy row. Every random draw comes from the
batch's seed, so a seeded batch gives the same numbers on every run.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit, serialize_paulisum
    >>> from qml.executors.base import prepare
    >>> q = cirq.LineQubit(0)
    >>> batch = prepare([serialize_circuit(cirq.Circuit(cirq.X(q)))], [],
    ...                 np.zeros((1, 0)), [[serialize_paulisum(cirq.Z(q))]])
    >>> QsimExecutor().expectation(batch)
    array([[-1.]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional

import numpy as np
import qsimcirq

from qml.circuits import channels, compiler, expressions, gates
from qml.executors.base import (
    Batch,
    Executor,
    fill_padding,
    operator_qubits,
    require_noiseless,
)

qsim = qsimcirq.qsim
_PAULI_KINDS = {"X": qsim.kX, "Y": qsim.kY, "Z": qsim.kZ}
# Below this many qubits a state is too small for qsim's threads to pay off.
_THREADING_MIN_QUBITS = 14


@dataclasses.dataclass(frozen=True)
class QsimOptions:
    """Options of the qsim executor.

    Attributes:
        cpu_threads: threads qsim uses on one circuit; 0 means all cores. Circuits of
            fewer than 14 qubits always run on one thread, where threads only cost.
        max_fused_gate_size: the largest gate, in qubits, that qsim's fuser builds.
        seed: seed for sampling and noisy trajectories; None draws one.

    Example:
        >>> QsimOptions(cpu_threads=1, seed=7).seed
        7
    """

    cpu_threads: int = 0
    max_fused_gate_size: int = 2
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.cpu_threads, int) or self.cpu_threads < 0:
            raise ValueError(f"cpu_threads must be an int >= 0, got {self.cpu_threads!r}")
        if self.max_fused_gate_size not in (1, 2, 3, 4, 5, 6):
            raise ValueError(
                f"max_fused_gate_size must be 1 to 6, got {self.max_fused_gate_size!r}"
            )

    def qsim_dict(self, circuit: "qsim.Circuit", num_qubits: int) -> dict:
        threads = self.cpu_threads or os.cpu_count() or 1
        if num_qubits < _THREADING_MIN_QUBITS:
            threads = 1
        return {
            "c": circuit,
            "t": threads,
            "f": self.max_fused_gate_size,
            "v": 0,
            "z": False,
            "r": 1,
            "s": 0 if self.seed is None else int(self.seed),
            "g": False,
            "gmode": 0,
            "gsst": 512,
            "gdb": 16,
        }


class QsimExecutor(Executor):
    """Runs programs on qsim's CPU state-vector simulator.

    It computes expectations, states, samples, sampled expectations and noise
    trajectories.

    Args:
        options: a :class:`QsimOptions`.

    Raises:
        TypeError: if ``options`` is not a :class:`QsimOptions`.

    Example:
        >>> import cirq, qml
        >>> q = cirq.LineQubit(0)
        >>> qsim = qml.executors.QsimExecutor(qml.executors.QsimOptions(seed=1))
        >>> qml.layers.Sample(backend=qsim)(cirq.Circuit(cirq.X(q)), repetitions=2).to_list()
        [[[1], [1]]]
    """

    name = "qsim"
    capabilities = frozenset({"final_states", "samples", "sampled_expectation",
                              "noisy_expectation"})

    def __init__(self, options: QsimOptions = QsimOptions()) -> None:
        if not isinstance(options, QsimOptions):
            raise TypeError(f"options must be a QsimOptions, got {options!r}")
        self.options = options

    def expectation(self, batch: Batch) -> np.ndarray:
        require_noiseless(batch, "qsim")
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        if not batch.num_operators:
            return out
        for row, circuit in self._circuits(batch):
            opsums = _opsums(batch.programs[row], batch.operators[row])
            values = qsim.qsim_simulate_expectation_values(
                self.options.qsim_dict(circuit, circuit.num_qubits), opsums, 0)
            out[row] = np.real(values)
        return fill_padding(batch, out)

    def noisy_expectation(self, batch: Batch) -> np.ndarray:
        """Expectations averaged over ``batch.estimation.repetitions`` trajectories per
        operator.

        Noiseless rows are computed exactly. Each distinct trajectory count of a row
        is one qsim call, seeded from the batch's seed.
        """
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        if not batch.num_operators:
            return out
        seeds = batch.estimation.row_seeds(batch.batch_size)
        for row, circuit in self._circuits(batch):
            opsums = _opsums(batch.programs[row], batch.operators[row])
            options = self.options.qsim_dict(circuit, circuit.num_qubits)
            if not batch.programs[row].noisy:
                out[row] = np.real(qsim.qsim_simulate_expectation_values(options, opsums, 0))
                continue
            counts = batch.estimation.repetitions[row]
            for count in np.unique(counts):
                columns = np.flatnonzero(counts == count)
                options.update(r=int(count), s=int(seeds[row]) + int(count))
                values = qsim.qtrajectory_simulate_expectation_values(
                    options, [opsums[k] for k in columns], 0)
                out[row, columns] = np.real(values)
        return fill_padding(batch, out)

    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        """Expectations estimated from ``batch.estimation.repetitions`` shots per operator.

        Each Pauli term is measured in its own basis with that many shots, as on
        hardware: its shot average is ``2 k / shots - 1`` with ``k`` drawn from
        ``Binomial(shots, (1 + <P>) / 2)``, where ``<P>`` is the term's exact value on
        a noiseless row and its value on one fresh trajectory per shot on a noisy row.
        """
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        if not batch.num_operators:
            return out
        seeds = batch.estimation.row_seeds(batch.batch_size)
        for row, circuit in self._circuits(batch):
            program, operators = batch.programs[row], batch.operators[row]
            terms = [_term_opsums(program, op) for op in operators]
            flat = [term for row_terms in terms for term, _ in row_terms]
            options = self.options.qsim_dict(circuit, circuit.num_qubits)
            rng = np.random.default_rng(int(seeds[row]))
            shots = batch.estimation.repetitions[row]
            if program.noisy and flat:
                # One trajectory per shot; each term's shot is +1 with probability
                # (1 + <P>) / 2 on its trajectory.
                values = np.empty((int(shots.max()), len(flat)))
                for shot in range(len(values)):
                    options.update(r=1, s=int(rng.integers(2**31 - 1)))
                    values[shot] = np.real(
                        qsim.qtrajectory_simulate_expectation_values(options, flat, 0))
            elif flat:
                exact = np.real(qsim.qsim_simulate_expectation_values(options, flat, 0))
            start = 0
            for k, row_terms in enumerate(terms):
                total = 0.0
                for j, (_, coefficient) in enumerate(row_terms):
                    count = int(shots[k])
                    if program.noisy:
                        probability = (1 + values[:count, start + j]) / 2
                        ones = np.sum(rng.random(count) < probability)
                    else:
                        probability = np.clip((1 + exact[start + j]) / 2, 0.0, 1.0)
                        ones = rng.binomial(count, probability)
                    total += coefficient * (2.0 * ones / count - 1.0)
                out[row, k] = total + _identity_part(program, operators[k])
                start += len(row_terms)
        return fill_padding(batch, out)

    def samples(self, batch: Batch, repetitions: int) -> list[np.ndarray]:
        """Each row's measured bitstrings, ``[repetitions, n_qubits]`` int8.

        Columns follow the row's sorted qubits. A noiseless row is simulated once and
        every repetition drawn from its final state; a noisy row runs one trajectory
        per repetition.
        """
        seeds = batch.estimation.row_seeds(batch.batch_size)
        out = [np.zeros((repetitions, 0), np.int8)] * batch.batch_size
        for row, circuit in self._circuits(batch):
            options = self.options.qsim_dict(circuit, circuit.num_qubits)
            if batch.programs[row].noisy:
                rng = np.random.default_rng(int(seeds[row]))
                values = []
                for _ in range(repetitions):
                    options["s"] = int(rng.integers(2**31 - 1))
                    values += qsim.qtrajectory_sample_final(options, 1)
            else:
                options["s"] = int(seeds[row])
                values = qsim.qsim_sample_final(options, repetitions)
            out[row] = _bits(np.asarray(values, np.uint64), circuit.num_qubits)
        return out

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        """Each row's final state vector, ``[2**n]`` complex64 in Cirq's qubit order."""
        require_noiseless(batch, "qsim state")
        states = [np.ones(1, np.complex64)] * batch.batch_size
        for row, circuit in self._circuits(batch):
            options = self.options.qsim_dict(circuit, circuit.num_qubits)
            states[row] = qsim.qsim_simulate_fullstate(options, 0).view(np.complex64)
        return states

    def _circuits(self, batch: Batch):
        """Yields ``(row, circuit)`` for every row that has qubits: a ``qsim.Circuit``,
        or a ``qsim.NoisyCircuit`` for a row with noise channels."""
        # Bind each distinct program once, for all the rows that run it.
        bound = {}
        for key, (program, rows) in batch.segment_groups().items():
            flats = _flat_unitaries(program, batch.columns(program, rows))
            bound[key] = (flats, {row: i for i, row in enumerate(rows)})
        for row, row_program in enumerate(batch.programs):
            if not row_program.num_qubits:
                continue
            circuit = qsim.NoisyCircuit() if row_program.noisy else qsim.Circuit()
            circuit.num_qubits = row_program.num_qubits
            time = 0
            for segment in row_program.segments:
                flats, position = bound[id(segment.program)]
                layout = _qsim_layout(segment, row_program.num_qubits)
                noise = _qsim_noise(segment, row_program.num_qubits)
                time = _add_blocks(circuit, layout, flats, position[row], time, noise)
            yield row, circuit


def _flat_unitaries(program: compiler.Program, columns: dict) -> list:
    """Per block, its unitary as interleaved (real, imag) floats, the form qsim takes.

    A constant block gets one list, shared by every row; a parameterized block gets a
    ``[rows, 2 * d * d]`` float64 array, whose rows pybind reads without an
    intermediate Python list.
    """
    flats = list(_constant_flats(program))
    if not program.symbols:
        return flats
    for index, unitary in enumerate(compiler.bind(program, columns)):
        if flats[index] is None:
            flat = _interleaved(unitary)
            flats[index] = flat[0].tolist() if len(flat) == 1 else flat
    return flats


@compiler.cached_on_program
def _constant_flats(program: compiler.Program) -> tuple:
    """Each constant block's flat unitary, computed once per program; None elsewhere."""
    return tuple(None if block.constant is None else _interleaved(block.constant)[0].tolist()
                 for block in program.blocks)


def _interleaved(unitary: np.ndarray) -> np.ndarray:
    """``[rows, d, d]`` complex128 as ``[rows, 2 * d * d]`` float64 (real, imag) pairs."""
    return np.ascontiguousarray(unitary).view(np.float64).reshape(unitary.shape[0], -1)


# Constant gates that qsim builds itself from a kind and parameters, which is cheaper
# than passing their matrix on every row.
# qsim names its kinds after Cirq's classes: XPowGate is kXPowGate.
_NATIVE_KINDS = {kind: getattr(qsim, f"k{cls.__name__}")
                 for kind, cls in gates.EIGEN_GATES.items()}

Layout = tuple[Optional[tuple], list[int], list[int], list[int]]


@compiler.cached_on_program
def _qsim_layout(segment: compiler.Segment, num_qubits: int) -> list[Layout]:
    """Per block: native (kind, params) or None, and its qsim qubit indices.

    qsim numbers qubits in the reverse of Cirq's order.
    """
    last = num_qubits - 1
    qsim_index = [last - p for p in segment.positions]
    layout = []
    for block in segment.program.blocks:
        native = None
        if block.constant is not None and len(block.steps) == 1:
            gate = block.steps[0].gate
            if gate.kind in _NATIVE_KINDS:
                params = {name: float(expressions.evaluate(gate.fields[key], {}))
                          for name, key in (("exponent", "t"), ("global_shift", "s"))}
                native = (_NATIVE_KINDS[gate.kind], params)
        layout.append((
            native,
            [qsim_index[q] for q in block.targets],
            [qsim_index[q] for q in block.controls],
            list(block.control_values),
        ))
    return layout


NoiseLayout = tuple[tuple[int, list[int], list], ...]


@compiler.cached_on_program
def _qsim_noise(segment: compiler.Segment, num_qubits: int) -> NoiseLayout:
    """Per channel: its position among the blocks, qsim qubits, and qsim's Kraus data.

    A channel whose Kraus operators are all multiples of unitaries is a mixture and is
    passed as (probability, unitary, True) pairs, which qsim samples directly; other
    channels pass each operator with a lower bound of its probability, as qsimcirq does.
    """
    last = num_qubits - 1
    noise = []
    for channel in segment.program.channels:
        qubits = [last - segment.positions[t] for t in channel.targets]
        dim = channel.kraus[0].shape[0]
        weights = channels.mixture_weights(channel.kraus)
        data = []
        for k, kraus in enumerate(channel.kraus):
            if weights is not None and weights[k] > 0:
                entry = (weights[k], kraus / np.sqrt(weights[k]), True)
            elif weights is not None:
                continue
            else:
                bound = float(np.linalg.svd(kraus, compute_uv=False).min() ** 2)
                unitary = np.allclose(kraus.conj().T @ kraus, np.eye(dim), atol=1e-8)
                entry = (bound, kraus, bool(unitary))
            matrix = np.ascontiguousarray(entry[1], dtype=np.complex64).reshape(-1)
            data.append((entry[0], matrix.view(np.float32).tolist(), entry[2]))
        noise.append((channel.position, qubits, data))
    return tuple(noise)


# qsim's names for adding gates to a Circuit (False) or a NoisyCircuit (True).
_ADD_GATE = {noisy: tuple(name + ("_channel" if noisy else "")
                          for name in ("add_gate", "add_matrix_gate", "control_last_gate"))
             for noisy in (False, True)}


def _add_blocks(circuit, layout: list[Layout], flats: list, position: int, time: int,
                noise: NoiseLayout = ()) -> int:
    """Adds a segment's blocks and channels to ``circuit`` (a ``qsim.Circuit`` or
    ``qsim.NoisyCircuit``) from ``time`` on; returns the next time."""
    add_gate, add_matrix, control = (
        getattr(qsim, name) for name in _ADD_GATE[isinstance(circuit, qsim.NoisyCircuit)])
    pending = list(noise)
    for index, ((native, targets, controls, values), flat) in enumerate(zip(layout, flats)):
        while pending and pending[0][0] == index:
            qsim.add_channel(time, pending[0][1], pending[0][2], circuit)
            pending.pop(0)
            time += 1
        if native is not None:
            add_gate(native[0], time, targets, native[1], circuit)
        else:
            row = flat if isinstance(flat, list) else flat[position]
            add_matrix(time, targets, row, circuit)
        if controls:
            control(controls, values, circuit)
        time += 1
    for _, qubits, data in pending:  # channels after the last block
        qsim.add_channel(time, qubits, data, circuit)
        time += 1
    return time


def _bits(values: np.ndarray, num_qubits: int) -> np.ndarray:
    """Basis-state indices as ``[len, num_qubits]`` int8 bits, most significant first."""
    shifts = np.arange(num_qubits - 1, -1, -1, dtype=np.uint64)
    return ((values[:, None] >> shifts) & np.uint64(1)).astype(np.int8)


@compiler.cached_on_program
def _term_opsums(program, operator: bytes) -> tuple[tuple[tuple, float], ...]:
    """Each non-identity Pauli term of ``operator`` as ``(qsim opsum, coefficient)``.

    Coefficients must be real, as for any Hermitian operator.
    """
    last = program.num_qubits - 1
    terms = []
    for coefficient, paulis in operator_qubits(program, operator) if operator else ():
        if not paulis:
            continue
        opstring = qsim.OpString()
        opstring.weight = 1.0
        for pauli, position in paulis:
            qsim.add_gate_to_opstring(_PAULI_KINDS[pauli], [last - position], opstring)
        terms.append((([opstring], len(paulis)), float(np.real(coefficient))))
    return tuple(terms)


def _identity_part(program, operator: bytes) -> float:
    """The coefficient of the identity term of ``operator``, which needs no shots."""
    return float(sum(np.real(c) for c, paulis in operator_qubits(program, operator)
                     if not paulis)) if operator else 0.0


def _opsums(program, operator_row: tuple[bytes, ...]) -> list:
    return _opsums_on(program.qubits, operator_row)


@functools.lru_cache(maxsize=4096)
def _opsums_on(qubits: tuple, operator_row: tuple[bytes, ...]) -> list:
    """Per operator, its qsim opsum on ``qubits`` and how many qubits it acts on."""
    program = compiler.register(qubits)
    last = program.num_qubits - 1
    opsums = []
    for row in operator_row:
        opsum, used = [], set()
        for coefficient, paulis in operator_qubits(program, row):
            opstring = qsim.OpString()
            opstring.weight = coefficient
            for pauli, position in paulis:
                qsim.add_gate_to_opstring(_PAULI_KINDS[pauli], [last - position], opstring)
                used.add(position)
            opsum.append(opstring)
        opsums.append((opsum, len(used)))
    return opsums
