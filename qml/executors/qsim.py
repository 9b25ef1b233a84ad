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
import os
from typing import Optional

import numpy as np
import qsimcirq

from qml.circuits import compiler
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
        for program, rows in batch.groups().values():
            if not program.num_qubits:
                continue
            flats = _flat_unitaries(program, batch.columns(program, rows), len(rows))
            layout = _qsim_layout(program)
            for position, row in enumerate(rows):
                circuit = _build_circuit(program, layout, flats, position)
                opsums = _opsums(program, batch.operators[row])
                values = qsim.qsim_simulate_expectation_values(
                    self.options.qsim_dict(circuit, program.num_qubits), opsums, 0
                )
                out[row] = np.real(values)
        return fill_padding(batch, out)


def _flat_unitaries(
    program: compiler.Program, columns: dict, rows: int
) -> list[list]:
    """Per block, a list of ``rows`` flat float lists (real, imag interleaved)."""
    flats = []
    for unitary in compiler.bind(program, columns):
        flat = np.stack([unitary.real, unitary.imag], axis=-1).astype(np.float32)
        flat = flat.reshape(unitary.shape[0], -1).tolist()
        flats.append(flat * rows if len(flat) == 1 else flat)
    return flats


def _qsim_layout(program: compiler.Program) -> list[tuple[list[int], list[int], list[int]]]:
    """qsim qubit indices of each block: qsim numbers qubits in reverse of Cirq."""
    last = program.num_qubits - 1
    return [
        (
            [last - q for q in block.targets],
            [last - q for q in block.controls],
            list(block.control_values),
        )
        for block in program.blocks
    ]


def _build_circuit(program, layout, flats, position: int) -> "qsim.Circuit":
    circuit = qsim.Circuit()
    circuit.num_qubits = program.num_qubits
    for time, ((targets, controls, values), flat) in enumerate(zip(layout, flats)):
        qsim.add_matrix_gate(time, targets, flat[position], circuit)
        if controls:
            qsim.control_last_gate(controls, values, circuit)
    return circuit


_OPSUM_CACHE: dict[tuple, list] = {}


def _opsums(program: compiler.Program, operator_row: tuple[bytes, ...]) -> list:
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
