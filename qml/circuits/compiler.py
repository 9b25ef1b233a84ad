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

from qml.circuits import channels, expressions, gates, serialize
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


@dataclasses.dataclass(frozen=True)
class Gate:
    """One gate of a program: its kind, JSON fields and symbols."""

    kind: str
    fields: Mapping
    symbols: frozenset[str]
    constant: Optional[np.ndarray] = None  # the unitary of a gate without symbols

    def unitary(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[batch or 1, d, d]`` complex128 unitary for the bound symbol values."""
        if self.constant is not None:
            return self.constant
        return gates.batched_unitary(self.kind, self.fields, columns)


@dataclasses.dataclass(frozen=True)
class Step:
    """A gate applied to some of a block's qubits, given by their places in the block."""

    gate: Gate
    places: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Block:
    """A unitary on ``targets``: the product of its ``steps`` applied in order.

    Attributes:
        targets: qubit positions (in the program's sorted qubit order), in the order
            of the matrix's tensor factors, most significant first as in Cirq.
        controls: positions of control qubits, with ``control_values`` (0 or 1).
        steps: the gates, each on the block qubits ``targets[place]``.
        constant: the unitary when no gate has symbols, else None.
        symbols: the symbols of its gates (computed from ``steps``).
    """

    targets: tuple[int, ...]
    controls: tuple[int, ...]
    control_values: tuple[int, ...]
    steps: tuple[Step, ...]
    constant: Optional[np.ndarray]
    symbols: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read often while a circuit compiles: computed once, as a plain attribute.
        object.__setattr__(self, "symbols",
                           frozenset().union(*(step.gate.symbols for step in self.steps)))

    @functools.cached_property
    def controlled_constant(self) -> np.ndarray:
        """A constant block's ``[d, d]`` matrix on its controls, then its targets."""
        return controlled(self.constant[0], self.control_values)

    def unitary(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[batch or 1, d, d]`` complex128 unitary of the whole block."""
        if self.constant is not None:
            return self.constant
        size = len(self.targets)
        result = np.eye(2**size, dtype=complex)[None]
        run, run_places = None, None  # consecutive single-qubit steps on one place
        for step in self.steps:
            unitary = step.gate.unitary(columns)
            if len(step.places) == 1 and step.places == run_places:
                run = unitary @ run
                continue
            if run is not None:
                result = _apply(run, run_places, size, result)
            run, run_places = (unitary, step.places) if len(step.places) == 1 else (None, None)
            if run is None:
                result = _apply(unitary, step.places, size, result)
        if run is not None:
            result = _apply(run, run_places, size, result)
        return result


def embed(unitary: np.ndarray, places: tuple[int, ...], size: int) -> np.ndarray:
    """``[..., d, d]`` gate matrices on ``places`` as matrices on all ``size`` block
    qubits."""
    batched = unitary if unitary.ndim == 3 else unitary[None]
    out = _apply(batched, places, size, np.eye(2**size, dtype=complex)[None])
    return out if unitary.ndim == 3 else out[0]


def embedded_terms(step: Step, size: int) -> tuple[tuple, np.ndarray]:
    """A step's Fourier phases (see :func:`gates.fourier_terms`) and its term matrices
    ``[terms, d, d]`` embedded in a ``size``-qubit block."""
    fields = step.gate.fields if step.gate.kind == "Matrix" else {}
    return _embedded_terms(step.gate.kind, json.dumps(fields), step.places, size)


@functools.lru_cache(maxsize=16384)
def _embedded_terms(kind: str, fields: str, places: tuple, size: int):
    terms = gates.fourier_terms(kind, json.loads(fields))
    matrices = np.stack([embed(t.matrix, places, size) for t in terms])
    return tuple(t.phase for t in terms), matrices


def controlled(unitary: np.ndarray, control_values: tuple[int, ...]) -> np.ndarray:
    """``[..., d, d]`` unitaries with controls prepended (most significant) as one matrix.

    The result acts as ``unitary`` where the controls hold ``control_values`` and as
    the identity elsewhere.
    """
    if not control_values:
        return unitary
    dim_c, dim_t = 2 ** len(control_values), unitary.shape[-1]
    out = np.broadcast_to(np.eye(dim_c * dim_t, dtype=complex),
                          unitary.shape[:-2] + (dim_c * dim_t,) * 2).copy()
    start = control_offset(control_values, dim_t)
    out[..., start:start + dim_t, start:start + dim_t] = unitary
    return out


def control_offset(control_values: tuple[int, ...], target_dim: int) -> int:
    """Where the target block sits in a controlled matrix: the index of the basis
    state whose controls hold ``control_values`` and whose targets are all 0."""
    return int("".join(str(v) for v in control_values), 2) * target_dim


def _apply(unitary: np.ndarray, places: tuple[int, ...], size: int,
           matrix: np.ndarray) -> np.ndarray:
    """``unitary`` (on ``places`` of a ``size``-qubit block) times ``matrix``, batched."""
    if places == tuple(range(size)):
        return unitary @ matrix
    if len(places) == 1 and unitary.shape[0] == 1 and matrix.shape[0] == 1:
        # One 2 x 2 matrix on one block qubit: a broadcast product over the other axes.
        dim = matrix.shape[-1]
        rows = matrix[0].reshape(2 ** places[0], 2, -1)
        return (unitary[0] @ rows).reshape(1, 2**size, dim)
    m = len(places)
    letters = "abcdefghijklmnop"
    rows = list(letters[:size])
    gate_out = "".join(letters[size + i] for i in range(m))
    gate_in = "".join(rows[p] for p in places)
    out_rows = rows.copy()
    for i, p in enumerate(places):
        out_rows[p] = gate_out[i]
    gate = unitary.reshape(unitary.shape[:-2] + (2,) * (2 * m))
    tensor = matrix.reshape(matrix.shape[:-2] + (2,) * size + (matrix.shape[-1],))
    subscripts = f"...{gate_out}{gate_in},...{''.join(rows)}z->...{''.join(out_rows)}z"
    product = np.einsum(subscripts, gate, tensor)
    return product.reshape(product.shape[:-size - 1] + (2**size, matrix.shape[-1]))


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
    distinct: dict[bytes, Optional[Program]] = dict.fromkeys(rows)
    with _collector_paused():
        for row in distinct:
            distinct[row] = compile_row(row)
    return tuple(distinct[row] for row in rows)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
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
    stretch: list[_Operation] = []  # the gates since the last channel
    for op in operations + [None]:
        if op is not None and op.gate.kind != "Channel":
            stretch.append(op)
            continue
        blocks += _absorb_into_two_qubit_blocks(_fuse_single_qubit_runs(stretch))
        stretch = []
        if op is not None:
            noise.append(Channel(len(blocks), op.targets, op.gate.constant, op.gate))
    symbols = frozenset().union(*(b.symbols for b in blocks)) if blocks else frozenset()
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
    compiled = [_checked_gate(fields) for fields in table]
    constant_kinds: dict[str, list[int]] = {}
    for index, gate in enumerate(compiled):
        if gate.constant is None and not gate.symbols and gate.kind in gates.KIND_PARAMS:
            constant_kinds.setdefault(gate.kind, []).append(index)
    for kind, indices in constant_kinds.items():
        unitaries = gates.constant_unitaries(kind, [compiled[i].fields for i in indices])
        for index, unitary in zip(indices, unitaries):
            if not np.isfinite(unitary).all():
                raise CircuitFormatError(
                    f"gate {index} ({kind}) has a parameter that is not finite: "
                    f"{json.dumps(compiled[index].fields)[:120]}")
            gate = compiled[index]
            compiled[index] = Gate(gate.kind, gate.fields, gate.symbols, unitary[None])
    return compiled


def _checked_gate(fields: dict) -> Gate:
    kind = fields["g"]
    if kind == "Measure":
        return Gate("Measure", fields, frozenset())
    if kind == "Channel":  # its "constant" is the tuple of Kraus operators
        return Gate("Channel", fields, frozenset(), channels.kraus_of(fields))
    if kind not in gates.KIND_PARAMS:
        raise CircuitFormatError(f"unknown gate kind {kind!r}")
    symbols = frozenset().union(
        *(expressions.symbols_of(fields[name]) for name in gates.KIND_PARAMS[kind])
    )
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
    return Gate(kind, fields, symbols)


@dataclasses.dataclass(frozen=True)
class _Operation:
    gate: Gate
    targets: tuple[int, ...]
    controls: tuple[int, ...]
    control_values: tuple[int, ...]


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
                     num_qubits: int) -> _Operation:
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
    return _Operation(table[index], targets, controls, values)


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
        if op.gate.kind == "Channel" and op.controls:
            raise CircuitFormatError("a controlled noise channel is not supported")
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
    pending: dict[int, list[Step]] = {}

    def flush(qubit: int) -> None:
        run = pending.pop(qubit, None)
        if run:
            blocks.append(Block((qubit,), (), (), tuple(run), None))

    for op in operations:
        if len(op.targets) == 1 and not op.controls:
            pending.setdefault(op.targets[0], []).append(Step(op.gate, (0,)))
            continue
        for q in op.targets + op.controls:
            flush(q)
        steps = (Step(op.gate, tuple(range(len(op.targets)))),)
        blocks.append(Block(op.targets, op.controls, op.control_values, steps, None))
    for q in sorted(pending):
        flush(q)
    return blocks


def _absorb_into_two_qubit_blocks(blocks: list[Block]) -> list[Block]:
    """Folds each single-qubit block into a neighbouring uncontrolled two-qubit block.

    A single-qubit block on q joins the last earlier block that touches q when that
    block is an uncontrolled two-qubit block; otherwise it joins the next block that
    touches q, under the same condition. Nothing between them touches q, so the
    product is unchanged, and qsim (or any executor) has fewer, larger gates to apply.
    """
    merged: list[Optional[list]] = [[b, list(b.steps)] for b in blocks]

    def absorbs(entry: Optional[list]) -> bool:
        return entry is not None and len(entry[0].targets) == 2 and not entry[0].controls

    def fold(direction: int) -> None:
        order = range(len(merged)) if direction < 0 else range(len(merged) - 1, -1, -1)
        neighbour: dict[int, int] = {}  # qubit -> index of the nearest block on that side
        for index in order:
            entry = merged[index]
            if entry is None:
                continue
            block = entry[0]
            if len(block.targets) == 1 and not block.controls:
                qubit = block.targets[0]
                other = neighbour.get(qubit)
                if other is not None and absorbs(merged[other]):
                    host = merged[other]
                    place = host[0].targets.index(qubit)
                    moved = [Step(step.gate, (place,)) for step in entry[1]]
                    host[1] = host[1] + moved if direction < 0 else moved + host[1]
                    merged[index] = None
                    continue
            for qubit in block.targets + block.controls:
                neighbour[qubit] = index

    fold(-1)  # into the previous block on the qubit
    fold(+1)  # then what is left, into the next one
    return [
        make_block(b.targets, b.controls, b.control_values, tuple(steps))
        for b, steps in (entry for entry in merged if entry is not None)
    ]


def make_block(targets, controls, values, steps: tuple[Step, ...]) -> Block:
    block = Block(targets, controls, values, steps, None)
    if block.symbols:
        return block
    return Block(targets, controls, values, steps, block.unitary({}))


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
