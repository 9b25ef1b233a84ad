"""The compiler: a serialized circuit becomes a program once, cached by its bytes.

A :class:`Program` is the circuit's qubits and a short list of blocks
(:mod:`qml.circuits.blocks`). Each block is one unitary on a few qubits, with optional
controls, as :func:`qml.circuits.fusion.program_blocks` fuses the gates. The
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

import contextlib
import dataclasses
import functools
import gc
import json
import threading
from typing import Callable, Iterator, Mapping, Optional, Sequence, TypeVar

import cachetools
import cirq
import numpy as np

from qml.circuits import channels, expressions, fusion, gates, serialize
from qml.circuits.blocks import Block, Gate, Operation
from qml.errors import (
    CircuitFormatError,
    MeasurementError,
    NonFiniteValueError,
)

QubitKey = tuple  # the JSON form of a qubit, as a tuple: ("g", 0, 1), ("l", 3), ("n", "a")

#: Compiled programs are kept while their serialized rows total at most this many
#: bytes. A compiled program takes about 30 times its row (a 560-gate row of 27 kB
#: compiles to 0.8 MiB), so the cache holds about 500 MiB at most.
PROGRAM_CACHE_ROW_BYTES = 16 * 2**20
#: Results cached on one program (:func:`cached_on_program`) before they are dropped.
PER_PROGRAM_RESULTS = 1024


@dataclasses.dataclass(frozen=True, eq=False)
class Channel:
    """A noise channel on ``targets``, applied after the program's first ``position``
    blocks.

    Attributes:
        position: how many of the program's blocks come before the channel.
        targets: qubit positions, most significant first as in Cirq.
        kraus: the Kraus operators, ``[d, d]`` complex128 each.
        gate: the channel's gate, with its JSON fields.
    """

    position: int
    targets: tuple[int, ...]
    kraus: tuple[np.ndarray, ...]
    gate: "Gate"


class _OnQubits:
    """Register helpers shared by programs and joined programs."""

    qubits: tuple[QubitKey, ...]

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    def cirq_qubits(self) -> list[cirq.Qid]:
        return [serialize.decode_qubit(list(q)) for q in self.qubits]


@dataclasses.dataclass(frozen=True, eq=False)
class Program(_OnQubits):
    """A compiled circuit: sorted qubits, fused blocks and noise channels.

    ``qubits`` holds the circuit's qubits as JSON keys in Cirq's sorted order, so
    position ``i`` is the ``i``-th qubit of every output. An empty program (no qubits)
    is a padding row. Gates are never fused across a channel.
    """

    qubits: tuple[QubitKey, ...]
    blocks: tuple[Block, ...]
    symbols: frozenset[str]
    channels: tuple[Channel, ...] = ()
    row: bytes = dataclasses.field(default=b"", repr=False)  # the serialized circuit

    @property
    def noisy(self) -> bool:
        return bool(self.channels)

    @functools.cached_property
    def segments(self) -> tuple["Segment", ...]:
        """The program as one segment on its own qubits (see :class:`Joined`)."""
        return (Segment(self, tuple(range(self.num_qubits))),)


@dataclasses.dataclass(frozen=True, eq=False)
class Segment:
    """A program placed on a wider register: its qubit ``i`` is ``positions[i]``."""

    program: Program
    positions: tuple[int, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Joined(_OnQubits):
    """Programs run one after another on the union of their qubits.

    A ``PQC`` row is its data circuit joined with the model circuit. Keeping them as
    segments, not one fused program, lets every row share the model's program, whose
    symbols are then bound once for the whole batch.
    """

    qubits: tuple[QubitKey, ...]
    segments: tuple[Segment, ...]
    symbols: frozenset[str]

    @property
    def noisy(self) -> bool:
        return any(segment.program.noisy for segment in self.segments)


Result = TypeVar("Result")


def cached_on_program(function: Callable[..., Result]) -> Callable[..., Result]:
    """Caches ``function(owner, *args)`` on ``owner``: a :class:`Program`, :class:`Joined`
    or :class:`Segment`.

    The result lives and dies with its program, so the one bound on compiled programs
    (:data:`PROGRAM_CACHE_ROW_BYTES`) bounds every executor's per-program plans too. At
    most :data:`PER_PROGRAM_RESULTS` results are kept per program.

    Example:
        >>> @cached_on_program
        ... def width(program, extra):
        ...     return program.num_qubits + extra
    """
    @functools.wraps(function)
    def cached(owner, *args):
        results = owner.__dict__.setdefault("_cached_results", {})
        key = (function, args)
        if key not in results:
            if len(results) >= PER_PROGRAM_RESULTS:
                results.clear()
            results[key] = function(owner, *args)
        return results[key]

    return cached


@cached_on_program
def join(first: Program, second: Program) -> Joined:
    """``first`` followed by ``second``, on the sorted union of their qubits."""
    keys = tuple(tuple(q) for q in serialize.merge_qubits(first.qubits, second.qubits))
    place = {key: i for i, key in enumerate(keys)}
    segments = tuple(
        Segment(program, tuple(place[q] for q in program.qubits))
        for program in (first, second)
    )
    return Joined(keys, segments, first.symbols | second.symbols)


_PROGRAMS: cachetools.LRUCache = cachetools.LRUCache(
    maxsize=PROGRAM_CACHE_ROW_BYTES, getsizeof=lambda entry: entry[1])
_PROGRAMS_LOCK = threading.Lock()


def compile_row(row: bytes) -> Program:
    """Compiles one serialized circuit, cached by its bytes (the least recently used
    rows are dropped past :data:`PROGRAM_CACHE_ROW_BYTES`).

    Raises:
        CircuitFormatError: if the row is malformed.
        MeasurementError: if a measurement is followed by a gate on its qubits.
    """
    with _PROGRAMS_LOCK:
        entry = _PROGRAMS.get(row)
    if entry is not None:
        return entry[0]
    program = _compile_parsed(_parse_circuit(row), row)
    if len(row) <= PROGRAM_CACHE_ROW_BYTES:
        with _PROGRAMS_LOCK:
            _PROGRAMS[row] = (program, len(row))
    return program


def compile_rows(rows: Sequence[bytes]) -> tuple[Program, ...]:
    """Compiles a batch of serialized circuits: each distinct row once, through the
    cache of :func:`compile_row`.

    A new circuit creates thousands of small objects. Python's cyclic collector would
    scan every object of the process (TensorFlow's included) each few hundred new
    programs, so it is paused while the batch compiles; compiling creates no cycles.

    Raises:
        CircuitFormatError: if a row is malformed.
        MeasurementError: if a measurement is followed by a gate on its qubits.

    Example:
        >>> import cirq
        >>> from qml.circuits.serialize import serialize_circuit
        >>> row = serialize_circuit(cirq.Circuit(cirq.X(cirq.LineQubit(0))))
        >>> first, second = compile_rows([row, row])
        >>> first is second
        True
    """
    if not len(rows):
        return ()
    rows = np.asarray(rows, dtype=object).reshape(-1)
    # Runs of equal rows (one circuit for a whole batch) are found by comparing
    # neighbours, which is cheaper than hashing every row.
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
    run_rows = rows[starts].tolist()
    distinct: dict[bytes, Optional[Program]] = dict.fromkeys(run_rows)
    with collector_paused():
        for row in distinct:
            distinct[row] = compile_row(row)
    programs = np.empty(len(run_rows), dtype=object)
    programs[:] = [distinct[row] for row in run_rows]
    return tuple(np.repeat(programs, np.diff(np.append(starts, len(rows)))).tolist())


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector, for work that creates many small
    objects and no cycles (compiling circuits, building their tables for a core).

    Example:
        >>> with collector_paused():
        ...     programs = [compile_circuit(cirq.Circuit()) for _ in range(3)]
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
        table = compile_gates(parsed["gates"])
        widths = [_gate_width(gate) for gate in table]
        operations = [
            _parse_operation(op, table, widths, len(qubits))
            for moment in parsed["moments"]
            for op in moment
        ]
    except (CircuitFormatError, MeasurementError):
        raise
    except (KeyError, IndexError, TypeError, ValueError, OverflowError,
            RecursionError) as error:
        raise CircuitFormatError(
            f"malformed circuit row {row[:60]!r}...: {type(error).__name__} {error}"
        ) from None
    operations = _drop_terminal_measurements(operations, qubits)
    blocks: list[Block] = []
    noise: list[Channel] = []
    stretch: list[Operation] = []  # the gates since the last channel
    for op in operations + [None]:
        if op is not None and op.gate.kind != "Channel":
            stretch.append(op)
            continue
        blocks += fusion.program_blocks(stretch)
        stretch = []
        if op is not None:
            noise.append(Channel(len(blocks), op.targets, op.gate.constant, op.gate))
    symbols = expressions.symbol_union(b.symbols for b in blocks)
    return Program(qubits=qubits, blocks=tuple(blocks), symbols=symbols,
                   channels=tuple(noise), row=row)


def row_of(program: Program | Joined) -> bytes:
    """The serialized circuit of a compiled program, or of a joined one's segments
    one after another."""
    if isinstance(program, Program):
        return program.row
    first, second = (segment.program.row for segment in program.segments)
    return serialize.join_rows(first, second)


def compile_circuit(circuit: cirq.AbstractCircuit) -> Program:
    """Compiles a Cirq circuit (through its serialized form)."""
    return compile_row(serialize.serialize_circuit(circuit))


def compile_gate(fields: dict) -> Gate:
    """Compiles one gate of a circuit's gate table (see :func:`compile_gates`)."""
    return compile_gates([fields])[0]


def compile_gates(table: list) -> list[Gate]:
    """A circuit's gate table, each gate checked; the unitaries of its gates without
    symbols are computed together, one numpy product per gate kind.

    Raises:
        CircuitFormatError: for an unknown kind or a malformed matrix gate.
    """
    checked = [_checked_gate(fields) for fields in table]  # (kind, fields, symbols)
    constant_kinds: dict[str, list[int]] = {}
    for index, (kind, _, symbols) in enumerate(checked):
        if not symbols and kind in gates.KIND_PARAMS:
            constant_kinds.setdefault(kind, []).append(index)
    unitaries: list[Optional[np.ndarray]] = [None] * len(checked)
    for kind, indices in constant_kinds.items():
        computed = gates.constant_unitaries(kind, [checked[i][1] for i in indices])
        for index, unitary in zip(indices, computed):
            unitaries[index] = unitary[None]
        finite = [np.isfinite(unitary).all() for unitary in computed] if kind in (
            "I", "Matrix") else np.isfinite(computed).all(axis=(1, 2))
        if not all(finite):
            index = indices[int(np.argmin(finite))]
            raise CircuitFormatError(
                f"gate {index} ({kind}) has a parameter that is not finite: "
                f"{json.dumps(checked[index][1])[:120]}")
    return [Gate(kind, fields, symbols, channels.kraus_of(fields) if kind == "Channel"
                 else unitary)
            for (kind, fields, symbols), unitary in zip(checked, unitaries)]


def _checked_gate(fields: dict) -> tuple[str, dict, frozenset[str]]:
    """A gate's kind, fields and symbols, its kind and matrix checked."""
    kind = fields["g"]
    if kind in ("Measure", "Channel"):  # a channel's "constant" is its Kraus operators
        return kind, fields, expressions.NO_SYMBOLS
    params = gates.KIND_PARAMS.get(kind)
    if params is None:
        raise CircuitFormatError(f"unknown gate kind {kind!r}")
    symbols = expressions.symbol_union(expressions.symbols_of(fields[name]) for name in params)
    if kind == "Matrix":
        if not 1 <= int(fields["n"]) <= gates.MAX_MATRIX_QUBITS:
            raise CircuitFormatError(
                f"matrix gate on {fields['n']!r} qubits; qml takes 1 to "
                f"{gates.MAX_MATRIX_QUBITS}"
            )
        matrix = gates.matrix_of(fields)  # validates the shape
        with np.errstate(all="ignore"):  # huge entries overflow, and are refused below
            unitary = np.isfinite(matrix).all() and np.allclose(
                matrix.conj().T @ matrix, np.eye(len(matrix)), atol=1e-6)
        if not unitary:
            raise CircuitFormatError(
                f"matrix gate on {fields['n']} qubits is not a finite unitary matrix")
    return kind, fields, symbols


def _indices(values: list, limit: int, encoded: list) -> tuple[int, ...]:
    """``values`` as distinct indices below ``limit``: ints only (no bools, floats or
    negatives)."""
    if type(values) is not list:
        raise CircuitFormatError(f"malformed operation {encoded!r:.200}")
    for v in values:
        if type(v) is not int or not 0 <= v < limit:
            raise CircuitFormatError(f"malformed operation {encoded!r:.200}")
    return tuple(values)


def _gate_width(gate: Gate) -> int:
    if gate.kind in ("Measure", "Channel"):
        return int(gate.fields["n"])
    return gates.num_qubits_of(gate.kind, gate.fields)


def _parse_operation(encoded: list, table: list[Gate], widths: list[int],
                     num_qubits: int) -> Operation:
    """One operation ``[gate, targets]`` or ``[gate, targets, controls, values]``, checked
    against the gate table (``widths``: each gate's qubit count) and the register."""
    if type(encoded) is not list or len(encoded) not in (2, 4):
        raise CircuitFormatError(f"malformed operation {encoded!r:.200}")
    index = encoded[0]
    if type(index) is not int or not 0 <= index < len(table):
        raise CircuitFormatError(f"malformed operation {encoded!r:.200}")
    targets = _indices(encoded[1], num_qubits, encoded)
    if len(encoded) == 4:
        controls = _indices(encoded[2], num_qubits, encoded)
        values = _indices(encoded[3], 2, encoded)
    else:
        controls = values = ()
    if len(targets) != widths[index] or len(values) != len(controls) or (
            len(set(targets + controls)) != len(targets) + len(controls)):
        raise CircuitFormatError(f"malformed operation {encoded!r}")
    return Operation(table[index], targets, controls, values)


def _drop_terminal_measurements(
    operations: list[Operation], qubits: tuple[QubitKey, ...]
) -> list[Operation]:
    measured: dict[int, Operation] = {}
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
        if op.gate.kind == "Channel" and op.controls:
            raise CircuitFormatError("a controlled noise channel is not supported")
        if op.gate.kind == "Measure":
            if op.controls:
                raise MeasurementError("a controlled measurement is not supported")
            measured.update({q: op for q in op.targets})
        elif op.gate.kind != "I":
            kept.append(op)
    return kept


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
            unitary = block.unitary(columns)
        if not np.isfinite(unitary).all():
            raise NonFiniteValueError(
                f"a {'/'.join(s.gate.kind for s in block.steps)} gate parameter of "
                f"symbols {sorted(block.symbols)} evaluates to NaN or infinity for the "
                "given symbol_values"
            )
        unitaries.append(unitary)
    return unitaries
