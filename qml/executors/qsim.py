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
            flats = _flat_unitaries(program, batch.columns(program, rows))
            layout = _qsim_layout(program)
            for position, row in enumerate(rows):
                circuit = _build_circuit(program, layout, flats, position)
                opsums = _opsums(program, batch.operators[row])
                values = qsim.qsim_simulate_expectation_values(
                    self.options.qsim_dict(circuit, program.num_qubits), opsums, 0
                )
                out[row] = np.real(values)
        return fill_padding(batch, out)


def _flat_unitaries(program: compiler.Program, columns: dict) -> list:
    """Per block, its unitary as interleaved (real, imag) floats, the form qsim takes.

    A constant block gets one list, shared by every row; a parameterized block gets a
    ``[rows, 2 * d * d]`` float64 array, whose rows pybind reads without an
    intermediate Python list.
    """
    flats = []
    for unitary in compiler.bind(program, columns):
        flat = np.ascontiguousarray(unitary).view(np.float64).reshape(unitary.shape[0], -1)
        flats.append(flat[0].tolist() if len(flat) == 1 else flat)
    return flats


# Constant gates that qsim builds itself from a kind and parameters, which is cheaper
# than passing their matrix on every row.
_NATIVE_KINDS = {
    "XPow": qsim.kXPowGate, "YPow": qsim.kYPowGate, "ZPow": qsim.kZPowGate,
    "HPow": qsim.kHPowGate, "XXPow": qsim.kXXPowGate, "YYPow": qsim.kYYPowGate,
    "ZZPow": qsim.kZZPowGate, "CZPow": qsim.kCZPowGate, "CXPow": qsim.kCXPowGate,
    "SwapPow": qsim.kSwapPowGate, "ISwapPow": qsim.kISwapPowGate,
    "CCZPow": qsim.kCCZPowGate, "CCXPow": qsim.kCCXPowGate,
}

Layout = tuple[Optional[tuple], list[int], list[int], list[int]]


def _qsim_layout(program: compiler.Program) -> list[Layout]:
    """Per block: native (kind, params) or None, and its qsim qubit indices.

    qsim numbers qubits in the reverse of Cirq's order.
    """
    last = program.num_qubits - 1
    layout = []
    for block in program.blocks:
        native = None
        if block.constant is not None and len(block.steps) == 1:
            gate = block.steps[0].gate
            if gate.kind in _NATIVE_KINDS:
                params = {"exponent": float(gate.fields["t"]),
                          "global_shift": float(gate.fields["s"])}
                native = (_NATIVE_KINDS[gate.kind], params)
        layout.append((
            native,
            [last - q for q in block.targets],
            [last - q for q in block.controls],
            list(block.control_values),
        ))
    return layout


def _build_circuit(program, layout, flats, position: int) -> "qsim.Circuit":
    circuit = qsim.Circuit()
    circuit.num_qubits = program.num_qubits
    for time, ((native, targets, controls, values), flat) in enumerate(zip(layout, flats)):
        if native is not None:
            qsim.add_gate(native[0], time, targets, native[1], circuit)
        else:
            row = flat if isinstance(flat, list) else flat[position]
            qsim.add_matrix_gate(time, targets, row, circuit)
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
