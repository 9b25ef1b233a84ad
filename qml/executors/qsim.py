"""The qsim executor: expectation values through qsimcirq's pybind module.

qsimcirq picks its AVX-512, AVX2, SSE or plain build at import. For each batch the
executor binds every block's unitary for all rows at once (:func:`compiler.bind`),
then builds one qsim circuit per row from those matrices. It never resolves or
translates a Cirq circuit per row, which is where plain qsimcirq spends its time.

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

from qml.circuits import compiler, expressions, gates
from qml.executors.base import Batch, Executor, fill_padding, operator_qubits

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
    """Runs programs on qsim's CPU state-vector simulator."""

    name = "qsim"

    def __init__(self, options: QsimOptions = QsimOptions()) -> None:
        if not isinstance(options, QsimOptions):
            raise TypeError(f"options must be a QsimOptions, got {options!r}")
        self.options = options

    def expectation(self, batch: Batch) -> np.ndarray:
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        if not batch.num_operators:
            return out
        for row, circuit in self._circuits(batch):
            opsums = _opsums(batch.programs[row], batch.operators[row])
            values = qsim.qsim_simulate_expectation_values(
                self.options.qsim_dict(circuit, circuit.num_qubits), opsums, 0)
            out[row] = np.real(values)
        return fill_padding(batch, out)

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        """Each row's final state vector, ``[2**n]`` complex64 in Cirq's qubit order."""
        states = [np.ones(1, np.complex64)] * batch.batch_size
        for row, circuit in self._circuits(batch):
            options = self.options.qsim_dict(circuit, circuit.num_qubits)
            states[row] = qsim.qsim_simulate_fullstate(options, 0).view(np.complex64)
        return states

    def _circuits(self, batch: Batch):
        """Yields ``(row, qsim.Circuit)`` for every row that has qubits."""
        # Bind each distinct program once, for all the rows that run it.
        bound = {}
        for key, (program, rows) in batch.segment_groups().items():
            flats = _flat_unitaries(program, batch.columns(program, rows))
            bound[key] = (flats, {row: i for i, row in enumerate(rows)})
        for row, row_program in enumerate(batch.programs):
            if not row_program.num_qubits:
                continue
            circuit = qsim.Circuit()
            circuit.num_qubits = row_program.num_qubits
            time = 0
            for segment in row_program.segments:
                flats, position = bound[id(segment.program)]
                layout = _qsim_layout(segment, row_program.num_qubits)
                time = _add_blocks(circuit, layout, flats, position[row], time)
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


@functools.lru_cache(maxsize=8192)
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


@functools.lru_cache(maxsize=8192)
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


def _add_blocks(circuit: "qsim.Circuit", layout: list[Layout], flats: list, position: int,
                time: int) -> int:
    """Adds a segment's blocks to ``circuit`` from ``time`` on; returns the next time."""
    for (native, targets, controls, values), flat in zip(layout, flats):
        if native is not None:
            qsim.add_gate(native[0], time, targets, native[1], circuit)
        else:
            row = flat if isinstance(flat, list) else flat[position]
            qsim.add_matrix_gate(time, targets, row, circuit)
        if controls:
            qsim.control_last_gate(controls, values, circuit)
        time += 1
    return time


_OPSUM_CACHE: dict[tuple, list] = {}


def _opsums(program, operator_row: tuple[bytes, ...]) -> list:
    key = (program.qubits, operator_row)
    cached = _OPSUM_CACHE.get(key)
    if cached is not None:
        return cached
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
    if len(_OPSUM_CACHE) > 4096:
        _OPSUM_CACHE.clear()
    _OPSUM_CACHE[key] = opsums
    return opsums
