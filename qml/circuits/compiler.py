"""The compiler: a serialized circuit becomes a program once, cached by its bytes.

A :class:`Program` is the circuit's qubits and a short list of :class:`Block` s. Each
block is one unitary on a few qubits, with optional controls; runs of single-qubit
gates on the same qubit are fused into one block when the program is compiled. The
blocks' unitaries are computed for a whole batch of symbol values at once by
:func:`bind`, with numpy, so no Cirq object is built or resolved per batch row.

Example:
    >>> import cirq, sympy
    >>> from qml.circuits.serialize import serialize_circuit
    >>> q = cirq.LineQubit(0)
    >>> program = compile_row(serialize_circuit(
    ...     cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q), cirq.rz(0.3)(q))))
    >>> len(program.blocks), program.symbols
    (1, frozenset({'a'}))
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Optional

import cirq
import numpy as np

from qml.circuits import expressions, gates, serialize
from qml.errors import (
    CircuitFormatError,
    MeasurementError,
    NonFiniteValueError,
)

QubitKey = tuple  # the JSON form of a qubit, as a tuple: ("g", 0, 1), ("l", 3), ("n", "a")


@dataclasses.dataclass(frozen=True)
class Gate:
    """One gate of a program: its kind, JSON fields and symbols."""

    kind: str
    fields: Mapping
    symbols: frozenset[str]

    def unitary(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[batch or 1, d, d]`` complex128 unitary for the bound symbol values."""
        return gates.batched_unitary(self.kind, self.fields, columns)


@dataclasses.dataclass(frozen=True)
class Block:
    """A unitary on ``targets``: the product of ``gates`` applied in order.

    Attributes:
        targets: qubit positions (in the program's sorted qubit order), in the order
            of the matrix's tensor factors, most significant first as in Cirq.
        controls: positions of control qubits, with ``control_values`` (0 or 1).
        constant: the unitary when no gate has symbols, else None.
    """

    targets: tuple[int, ...]
    controls: tuple[int, ...]
    control_values: tuple[int, ...]
    gates: tuple[Gate, ...]
    constant: Optional[np.ndarray]

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset().union(*(g.symbols for g in self.gates))


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """A compiled circuit: sorted qubits and fused blocks.

    ``qubits`` holds the circuit's qubits as JSON keys in Cirq's sorted order, so
    position ``i`` is the ``i``-th qubit of every output. An empty program (no qubits)
    is a padding row.
    """

    qubits: tuple[QubitKey, ...]
    blocks: tuple[Block, ...]
    symbols: frozenset[str]

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    def cirq_qubits(self) -> list[cirq.Qid]:
        return [serialize.decode_qubit(list(q)) for q in self.qubits]


@functools.lru_cache(maxsize=8192)
def compile_row(row: bytes) -> Program:
    """Compiles one serialized circuit, cached by its bytes.

    Raises:
        CircuitFormatError: if the row is malformed.
        MeasurementError: if a measurement is followed by a gate on its qubits.
    """
    return _compile_parsed(_parse_circuit(row), row)


@functools.lru_cache(maxsize=8192)
def compile_pair(first: bytes, second: bytes) -> Program:
    """Compiles circuit ``first`` followed by circuit ``second``, cached by both."""
    return compile_row(serialize.join_rows(first, second))


def _parse_circuit(row: bytes) -> dict:
    parsed = serialize.parse_row(row)
    if parsed["type"] != "circuit":
        raise CircuitFormatError(f"row {row[:60]!r} holds an operator, not a circuit")
    return parsed


def _compile_parsed(parsed: dict, row: bytes) -> Program:
    try:
        qubits = tuple(tuple(q) for q in parsed["qubits"])
        for q in parsed["qubits"]:
            serialize.decode_qubit(q)
        table = [_compile_gate(g) for g in parsed["gates"]]
        operations = [
            _parse_operation(op, table, len(qubits))
            for moment in parsed["moments"]
            for op in moment
        ]
    except (CircuitFormatError, MeasurementError):
        raise
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise CircuitFormatError(f"malformed circuit row {row[:60]!r}...: {error}") from None
    operations = _drop_terminal_measurements(operations, qubits)
    blocks = _fuse_single_qubit_runs(operations)
    symbols = frozenset().union(*(b.symbols for b in blocks)) if blocks else frozenset()
    return Program(qubits=qubits, blocks=tuple(blocks), symbols=symbols)


def compile_circuit(circuit: cirq.AbstractCircuit) -> Program:
    """Compiles a Cirq circuit (through its serialized form)."""
    return compile_row(serialize.serialize_circuit(circuit))


def _compile_gate(fields: dict) -> Optional[Gate]:
    kind = fields["g"]
    if kind == "Measure":
        return Gate("Measure", fields, frozenset())
    if kind not in gates.KIND_PARAMS:
        raise CircuitFormatError(f"unknown gate kind {kind!r}")
    symbols = frozenset().union(
        *(expressions.symbols_of(fields[name]) for name in gates.KIND_PARAMS[kind])
    )
    if kind == "Matrix":
        gates.matrix_of(fields)  # validates the shape
    return Gate(kind, fields, symbols)


@dataclasses.dataclass(frozen=True)
class _Operation:
    gate: Gate
    targets: tuple[int, ...]
    controls: tuple[int, ...]
    control_values: tuple[int, ...]


def _parse_operation(encoded: list, table: list[Gate], num_qubits: int) -> _Operation:
    gate = table[encoded[0]]
    targets = tuple(int(i) for i in encoded[1])
    controls = tuple(int(i) for i in encoded[2]) if len(encoded) == 4 else ()
    values = tuple(int(v) for v in encoded[3]) if len(encoded) == 4 else ()
    expected = gates.num_qubits_of(gate.kind, gate.fields) if gate.kind != "Measure" \
        else int(gate.fields["n"])
    all_qubits = targets + controls
    if (
        len(targets) != expected
        or len(values) != len(controls)
        or any(not 0 <= q < num_qubits for q in all_qubits)
        or len(set(all_qubits)) != len(all_qubits)
        or any(v not in (0, 1) for v in values)
    ):
        raise CircuitFormatError(f"malformed operation {encoded!r}")
    return _Operation(gate, targets, controls, values)


def _drop_terminal_measurements(
    operations: list[_Operation], qubits: tuple[QubitKey, ...]
) -> list[_Operation]:
    measured: dict[int, _Operation] = {}
    kept = []
    for op in operations:
        for q in op.targets + op.controls:
            if q in measured:
                raise MeasurementError(
                    f"circuit measures qubit {serialize.decode_qubit(list(qubits[q]))} "
                    f"(key {measured[q].gate.fields['key']!r}) and then applies "
                    f"{op.gate.kind} to it; qml allows measurements only at the end of "
                    "a circuit, where they are ignored"
                )
        if op.gate.kind == "Measure":
            if op.controls:
                raise MeasurementError("a controlled measurement is not supported")
            measured.update({q: op for q in op.targets})
        elif op.gate.kind != "I":
            kept.append(op)
    return kept


def _fuse_single_qubit_runs(operations: list[_Operation]) -> list[Block]:
    """Merges each run of uncontrolled single-qubit gates on one qubit into a block."""
    blocks: list[Block] = []
    pending: dict[int, list[Gate]] = {}

    def flush(qubit: int) -> None:
        run = pending.pop(qubit, None)
        if run:
            blocks.append(_make_block((qubit,), (), (), tuple(run)))

    for op in operations:
        if len(op.targets) == 1 and not op.controls:
            pending.setdefault(op.targets[0], []).append(op.gate)
            continue
        for q in op.targets + op.controls:
            flush(q)
        blocks.append(_make_block(op.targets, op.controls, op.control_values, (op.gate,)))
    for q in sorted(pending):
        flush(q)
    return blocks


def _make_block(targets, controls, values, block_gates: tuple[Gate, ...]) -> Block:
    constant = None
    if not any(g.symbols for g in block_gates):
        constant = _product([g.unitary({}) for g in block_gates])
    return Block(targets, controls, values, block_gates, constant)


def _product(unitaries: list[np.ndarray]) -> np.ndarray:
    result = unitaries[0]
    for unitary in unitaries[1:]:
        result = unitary @ result
    return result


def bind(program: Program, columns: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Each block's unitary for a batch of symbol values.

    Args:
        program: the compiled program.
        columns: symbol name to a float64 array ``[batch]`` of values.

    Returns:
        One complex128 array ``[batch or 1, d, d]`` per block, in program order.

    Raises:
        NonFiniteValueError: if a gate parameter evaluates to NaN or infinity.
    """
    unitaries = []
    for block in program.blocks:
        if block.constant is not None:
            unitaries.append(block.constant)
            continue
        with np.errstate(all="ignore"):
            unitary = _product([g.unitary(columns) for g in block.gates])
        if not np.isfinite(unitary).all():
            bad = sorted(block.symbols)
            raise NonFiniteValueError(
                f"a {'/'.join(g.kind for g in block.gates)} gate parameter of symbols "
                f"{bad} evaluates to NaN or infinity for the given symbol_values"
            )
        unitaries.append(unitary)
    return unitaries
