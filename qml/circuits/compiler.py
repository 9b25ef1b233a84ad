"""The compiler: a serialized circuit becomes a program once, cached by its bytes.

A :class:`Program` is the circuit's qubits and a short list of blocks
(:mod:`qml.circuits.blocks`). Each block is one unitary on a few qubits, with optional
controls, as :func:`qml.circuits.fusion.fuse` fuses the gates in the native core. The
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
import threading
from typing import Callable, Iterator, Mapping, Optional, Sequence, TypeVar

import cachetools
import cirq
import numpy as np

from qml.circuits import fusion, serialize
from qml.circuits.blocks import Block, Channel, Gate, GateTable
from qml.errors import (
    CircuitFormatError,
    MeasurementError,
    NonFiniteValueError,
)

QubitKey = tuple  # the JSON form of a qubit, as a tuple: ("g", 0, 1), ("l", 3), ("n", "a")

#: Compiled programs are kept while their serialized rows total at most this many
#: bytes. A compiled program with the native core's op table takes about 10 times its
#: row (a 556-gate row of 16 kB takes 160 kB), and about 26 times once another
#: executor has asked for its Python blocks, so the cache holds about 420 MiB at most.
PROGRAM_CACHE_ROW_BYTES = 16 * 2**20
#: New rows of a batch whose gate tables are computed as one (so that a batch of
#: distinct circuits pays numpy's per-call cost once per this many rows).
ROWS_COMPILED_TOGETHER = 64
#: Results cached on one program (:func:`cached_on_program`) before they are dropped.
PER_PROGRAM_RESULTS = 1024


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
    """A compiled circuit: sorted qubits, and its fused blocks and noise channels.

    ``qubits`` holds the circuit's qubits as JSON keys in Cirq's sorted order, so
    position ``i`` is the ``i``-th qubit of every output. An empty program (no qubits)
    is a padding row. Gates are never fused across a channel.
    """

    qubits: tuple[QubitKey, ...]
    fused: fusion.Fused
    row: bytes = dataclasses.field(default=b"", repr=False)  # the serialized circuit

    @property
    def symbols(self) -> frozenset[str]:
        return self.fused.symbols

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self.fused.blocks

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self.fused.channels

    @property
    def noisy(self) -> bool:
        return bool((self.fused.items[:, 0] == 1).any())

    @functools.cached_property
    def segments(self) -> tuple["Segment", ...]:
        """The program as one segment on its own qubits (see :class:`Joined`)."""
        return (Segment(self, tuple(range(self.num_qubits))),)


def register(qubits: tuple[QubitKey, ...]) -> Program:
    """The program of no gates on ``qubits``."""
    return Program(qubits, fusion.empty(len(qubits)))


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
        _compile_together(list(distinct))
        for row in distinct:
            distinct[row] = compile_row(row)
    programs = np.empty(len(run_rows), dtype=object)
    programs[:] = [distinct[row] for row in run_rows]
    return tuple(np.repeat(programs, np.diff(np.append(starts, len(rows)))).tolist())


def _compile_together(rows: list[bytes]) -> None:
    """Compiles and caches the rows not yet cached, :data:`ROWS_COMPILED_TOGETHER` at
    a time with their gate tables checked and computed as one
    (:meth:`GateTable.of_many`). Rows with a malformed one among them are left to
    :func:`compile_row`, row by row, which raises the first row's error."""
    with _PROGRAMS_LOCK:
        missing = [row for row in rows
                   if row not in _PROGRAMS and len(row) <= PROGRAM_CACHE_ROW_BYTES]
    for start in range(0, len(missing) if len(missing) > 1 else 0, ROWS_COMPILED_TOGETHER):
        some = missing[start:start + ROWS_COMPILED_TOGETHER]
        try:
            parsed = [_parse_circuit(row) for row in some]
            tables = GateTable.of_many([circuit["gates"] for circuit in parsed])
            programs = [_compile_parsed(circuit, row, table)
                        for circuit, row, table in zip(parsed, some, tables)]
        except (ValueError, KeyError, IndexError, TypeError, OverflowError, RecursionError):
            continue
        with _PROGRAMS_LOCK:
            for row, program in zip(some, programs):
                _PROGRAMS[row] = (program, len(row))


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


def _compile_parsed(parsed: dict, row: bytes, table: Optional[GateTable] = None) -> Program:
    """The program of a parsed row; ``table``, its gate table when already checked."""
    try:
        qubits = tuple(tuple(q) for q in parsed["qubits"])
        for q in parsed["qubits"]:
            serialize.decode_qubit(q)
        table = GateTable.of(parsed["gates"]) if table is None else table
        operations = [op for moment in parsed["moments"] for op in moment]
        fused = fusion.fuse(operations, table, len(qubits))
    except fusion.FuseFault as fault:
        raise _measurement_error(fault, operations, table, qubits) from None
    except (CircuitFormatError, MeasurementError):
        raise
    except (KeyError, IndexError, TypeError, ValueError, OverflowError,
            RecursionError) as error:
        raise CircuitFormatError(
            f"malformed circuit row {row[:60]!r}...: {type(error).__name__} {error}. "
            "Rows that qml.convert_to_tensor makes are always well formed: convert the "
            "Cirq circuits with it rather than editing or building rows by hand "
            "(the format: docs/circuit-format.md)"
        ) from None
    return Program(qubits=qubits, fused=fused, row=row)


def _measurement_error(fault: fusion.FuseFault, operations: list, table: GateTable,
                       qubits: tuple[QubitKey, ...]) -> MeasurementError:
    if fault.code == fusion.CONTROLLED_MEASURE:
        return MeasurementError("a controlled measurement is not supported")
    key = table.fields[operations[fault.measurement][0]].get("key")
    kind = table.fields[operations[fault.operation][0]]["g"]
    return MeasurementError(
        f"circuit measures qubit {serialize.decode_qubit(list(qubits[fault.qubit]))} "
        f"(key {key!r}) and then applies {kind} to it; qml allows measurements only at "
        "the end of a circuit, where they are ignored")


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
    """Compiles one gate of a circuit's gate table (see :class:`GateTable`).

    Raises:
        CircuitFormatError: for an unknown kind or a malformed gate.
    """
    return GateTable.of([fields]).gate(0)


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
