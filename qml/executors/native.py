"""The native executor: qml's compiled core runs whole batches of programs as data.

Each distinct program of a batch becomes a table of ops (targets, controls and a
matrix offset) once, and is cached. Per call, its parameterized blocks are bound for
all the rows that run it, with numpy, and the whole batch goes to the core
(``_qml_core``) as a handful of flat arrays: rows of different circuits run in one
call, and nothing is traced or compiled per circuit structure. The core releases the
GIL and runs narrow rows in parallel, one row per thread, and wide rows with every
thread inside each gate. docs/native-core.md describes the arrays.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit, serialize_paulisum
    >>> from qml.executors.base import prepare
    >>> a, b = cirq.LineQubit.range(2)
    >>> bell = serialize_circuit(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b)))
    >>> batch = prepare([bell], [], np.zeros((1, 0)),
    ...                 [[serialize_paulisum(cirq.Z(a) * cirq.Z(b))]])
    >>> np.round(NativeExecutor().expectation(batch), 5)
    array([[1.]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
from typing import Optional

import cachetools
import numpy as np

import _qml_core as _core  # the compiled core (src/qml_core), which imports nothing from qml
from qml.circuits import blocks, channels, compiler, expressions, fusion, gates
from qml.errors import NonFiniteValueError
from qml.executors.base import (
    Batch,
    Executor,
    fill_padding,
    operator_qubits,
    require_noiseless,
)

_NO_STATES = np.zeros(0, np.complex64)
_NO_EXPECTATIONS = np.zeros((0, 0), np.float64)
_NO_SEEDS = np.zeros(0, np.uint64)
_NO_OFFSETS = np.zeros(0, np.int64)
if os.environ.get("QML_KERNELS"):
    try:
        _core.use_kernels(os.environ["QML_KERNELS"])
    except ValueError as error:
        raise ValueError(f"environment variable QML_KERNELS: {error}") from None

#: Noise trajectories per call to the core: each is a row of its own, whose outputs
#: and piece table then take a few MiB per call, however many a batch asks for.
TRAJECTORIES_PER_CALL = 2**16


def simd() -> str:
    """The SIMD build of the core's kernels in use: ``avx512``, ``avx2`` or ``portable``.

    The core picks the fastest build the processor runs; the environment variable
    ``QML_KERNELS`` (read when qml is imported) or :func:`use_kernels` picks another.

    Example:
        >>> simd() in runnable_kernels()
        True
    """
    return _core.simd()


def runnable_kernels() -> list[str]:
    """The SIMD builds of the kernels this processor can run, fastest first.

    Example:
        >>> runnable_kernels()[-1]
        'portable'
    """
    return list(_core.runnable_kernels())


def use_kernels(name: str) -> None:
    """Runs the core on the SIMD build ``name`` from now on (for tests and comparisons).

    Raises:
        ValueError: if this processor cannot run ``name``; the message lists the builds
            it can run.

    Example:
        >>> use_kernels("portable"); simd()
        'portable'
        >>> use_kernels(runnable_kernels()[0])
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'portable', got {name!r}")
    _core.use_kernels(name)


def threading_model() -> str:
    """How the core splits one gate among threads: ``'openmp'``, or ``'core threads'``
    in a build without OpenMP (rows of a batch always run on the core's own threads).

    Example:
        >>> threading_model() in ("openmp", "core threads")
        True
    """
    return _core.threading()


def threads() -> int:
    """The number of threads the core runs on."""
    return _core.num_threads()


def set_threads(count: int) -> None:
    """Sets the number of threads the core runs on (all cores by default).

    Raises:
        ValueError: if ``count`` is below 1.
    """
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool):
        raise TypeError(f"count must be an int, got {count!r}")
    _core.set_num_threads(int(count))


@dataclasses.dataclass(frozen=True, eq=False)
class _Table:
    """One program's ops as the core reads them (batch.hpp), before a batch places them.

    A constant block is one matrix in ``matrices``. A parameterized block is a list of
    steps, each ``sum_m exp(i phase_m) E_m`` over its terms; the core binds it per row
    from the row's phases, which :meth:`phases` computes for a group of rows.
    A noise channel is an op with its Kraus operators in ``matrices``.
    """

    ops: np.ndarray          # [ops, 9] int64; offsets local to this program
    qubits: np.ndarray       # int32 program-local positions, targets then controls
    terms: np.ndarray        # [terms, 4] int64: step, phase column, matrix offset, place
    matrices: np.ndarray     # complex64 pool of constant matrices and term matrices
    gates: tuple             # (gate, ((column, phase), ...)) per parameterized gate
    num_phases: int
    affine: Optional["_AffinePhases"] = None  # when every phase is affine in the symbols

    def phases(self, batch: Batch, program: compiler.Program, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), num_phases]`` float64 phases of ``rows`` of ``batch``, which run
        this table's ``program``.

        Raises:
            NonFiniteValueError: if a gate parameter evaluates to NaN or infinity.
        """
        if self.affine is not None:
            out = self.affine.phases(batch.symbol_block(self.affine.symbols, rows))
            if np.isfinite(out).all():
                return out
        columns = batch.columns(program, rows)
        out = np.empty((len(rows), self.num_phases))
        for gate, columns_phases in self.gates:
            values = _parameter_values(gate, columns)
            for column, phase in columns_phases:
                out[:, column] = gates.phase_value(phase, values)
            if not np.isfinite(out[:, [column for column, _ in columns_phases]]).all():
                raise NonFiniteValueError(
                    f"a {gate.kind} gate parameter of symbols {sorted(gate.symbols)} "
                    "evaluates to NaN or infinity for the given symbol_values")
        return out

    def symbol_gradients(self, columns: dict, by_phase: np.ndarray,
                         symbols: tuple[str, ...]) -> np.ndarray:
        """``[rows, len(symbols)]``: ``by_phase`` ``[rows, num_phases]`` (d loss / d phase)
        through each phase's derivative in the symbols, the chain rule of the gates'
        parameter expressions."""
        out = np.zeros((len(by_phase), len(symbols)))
        place = {name: i for i, name in enumerate(symbols)}
        if self.affine is not None:
            out[:, [place[name] for name in self.affine.symbols]] = self.affine.gradients(by_phase)
            return out
        for gate, columns_phases in self.gates:
            values = _parameter_values(gate, columns)
            for param in gates.KIND_PARAMS[gate.kind]:
                tree = gate.fields[param]
                for symbol in expressions.symbols_of(tree):
                    _, slope = expressions.value_and_derivative(tree, columns, symbol)
                    by_param = sum(
                        by_phase[:, column] * gates.phase_derivative(phase, param, values)
                        for column, phase in columns_phases)
                    out[:, place[symbol]] += by_param * slope
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class _AffinePhases:
    """Phases that are affine in the symbols: ``phase[c] = offsets[c] + sum of
    slope * symbol`` over the entries of column ``c``.

    Rows of a batch are bound with gathers and sums along the entries, not a matrix
    product: numpy's BLAS threads would spin beside the core's own.
    """

    symbols: tuple[str, ...]
    offsets: np.ndarray   # [num_phases]
    columns: np.ndarray   # [entries] phase column, ascending
    symbol_of: np.ndarray  # [entries] index into symbols
    slopes: np.ndarray    # [entries]

    @functools.cached_property
    def _one_entry_per_column(self) -> bool:
        return np.array_equal(self.columns, np.arange(len(self.offsets)))

    def phases(self, values: np.ndarray) -> np.ndarray:
        """``[rows, num_phases]`` phases for ``values`` ``[rows, len(symbols)]``."""
        if not self.slopes.size:
            return np.repeat(self.offsets[None], len(values), axis=0)
        with np.errstate(all="ignore"):
            terms = values[:, self.symbol_of] * self.slopes  # [rows, entries]
            if self._one_entry_per_column:  # the usual case: one symbol per phase
                return terms + self.offsets
        out = np.repeat(self.offsets[None], len(values), axis=0)
        starts, owners = _starts(self.columns)
        out[:, owners] += np.add.reduceat(terms, starts, axis=1)
        return out

    @functools.cached_property
    def _by_symbol(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The entries ordered by symbol: their columns and slopes, where each symbol's
        run starts, and its symbol."""
        order = np.argsort(self.symbol_of, kind="stable")
        starts, owners = _starts(self.symbol_of[order])
        return self.columns[order], self.slopes[order], starts, owners

    def gradients(self, by_phase: np.ndarray) -> np.ndarray:
        """``[rows, len(symbols)]`` from ``[rows, num_phases]`` d loss / d phase."""
        out = np.zeros((len(by_phase), len(self.symbols)))
        if self.slopes.size:
            columns, slopes, starts, owners = self._by_symbol
            out[:, owners] = np.add.reduceat(by_phase[:, columns] * slopes, starts, axis=1)
        return out


def _starts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal ``keys`` (sorted) starts, and its key."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return starts, keys[starts]


def _affine_phases(plan: tuple, num_phases: int) -> Optional[_AffinePhases]:
    """The phases of a table's parameterized gates as :class:`_AffinePhases`, or None
    when one of them is not affine in the symbols."""
    offsets = np.zeros(num_phases)
    entries: list[tuple[int, str, float]] = []
    for gate, columns_phases in plan:
        params = {p: expressions.affine(gate.fields[p]) for p in gates.KIND_PARAMS[gate.kind]}
        if any(form is None for form in params.values()):
            return None
        for column, phase in columns_phases:
            for names, coefficient in phase:
                varying = [params[name] for name in names if params[name][0]]
                if len(varying) > 1:
                    return None
                factor = coefficient * math.prod(
                    params[name][1] for name in names if not params[name][0])
                if not varying:
                    offsets[column] += factor
                    continue
                (by_symbol, offset), = varying
                offsets[column] += factor * offset
                entries += [(column, name, factor * slope) for name, slope in by_symbol.items()]
    entries.sort(key=lambda entry: entry[0])
    symbols = tuple(sorted({name for _, name, _ in entries}))
    index = {name: i for i, name in enumerate(symbols)}
    return _AffinePhases(
        symbols, offsets,
        columns=np.array([column for column, _, _ in entries], np.int64),
        symbol_of=np.array([index[name] for _, name, _ in entries], np.int64),
        slopes=np.array([slope for _, _, slope in entries], np.float64))


def _parameter_values(gate: blocks.Gate, columns: dict) -> dict:
    with np.errstate(all="ignore"):
        return {p: expressions.evaluate(gate.fields[p], columns)
                for p in gates.KIND_PARAMS[gate.kind]}


@compiler.cached_on_program
def _table(program: compiler.Program) -> _Table:
    """The program's op table, read from its fused items (``Fused``): a constant block
    is its product, already in the fused matrices; a block with symbols becomes its
    steps' terms, and a channel its Kraus operators."""
    fused = program.fused
    ops: dict[int, list] = {}  # item index -> the ops of an item that is not a constant block
    terms, pool, plan = [], [fused.matrices], []
    size, num_phases = fused.matrices.size, 0

    def add_matrix(matrix: np.ndarray) -> int:
        """Places ``matrix`` in the pool (flattened and cast once, at the end)."""
        nonlocal size
        pool.append(np.ravel(matrix))
        size += pool[-1].size
        return size - pool[-1].size

    items = fused.items
    # A constant block is one op, laid out here for all of them at once; the other
    # items are few, and their ops are made one by one below.
    constant = np.zeros((len(items), _core.OP_FIELDS), np.int64)
    constant[:, :4] = items[:, fusion.QUBIT_START:fusion.CONTROL_VALUES + 1]
    constant[:, 4] = items[:, fusion.MATRIX]  # the product's offset in the matrices
    constant[:, 5] = -1
    others = np.flatnonzero(items[:, fusion.MATRIX] < 0).tolist()
    if others:
        places = fused.places.tolist()
        widths = fused.gates.widths.tolist()
    for index in others:
        is_channel, start, width, controls, values, first, count, _ = items[index].tolist()
        head = [start, width, controls, values]
        item_ops = ops.setdefault(index, [])
        steps = fused.steps[first:first + count].tolist()
        if is_channel:
            kraus = fused.gates.gate(steps[0][0]).constant
            offsets = [add_matrix(k) for k in kraus]
            mixture = channels.mixture_weights(kraus) is not None
            item_ops.append(head + [offsets[0], -1, 0, len(offsets), int(mixture)])
            continue
        # The core multiplies at most MAX_STEPS steps per op: longer runs become ops in turn.
        for chunk in range(0, count, _core.MAX_STEPS):
            first_term = len(terms)
            for step_index, (gate_index, place_start) in enumerate(
                    steps[chunk:chunk + _core.MAX_STEPS]):
                gate = fused.gates.gate(gate_index)
                on = tuple(places[place_start:place_start + widths[gate_index]])
                # A one-qubit step keeps its 2 x 2 terms; others are embedded in the block.
                place = on[0] if len(on) == 1 and width > 1 else -1
                step_width = 1 if place >= 0 else width
                on = (0,) if place >= 0 else on
                if gate.constant is not None:
                    matrix = blocks.embed(gate.constant[0], on, step_width)
                    terms.append([step_index, -1, add_matrix(matrix), place])
                    continue
                phases, matrices = blocks.embedded_terms(blocks.Step(gate, on), step_width)
                columns_phases = []
                for phase, term in zip(phases, matrices):
                    column = -1
                    if phase:
                        column, num_phases = num_phases, num_phases + 1
                        columns_phases.append((column, phase))
                    terms.append([step_index, column, add_matrix(term), place])
                plan.append((gate, tuple(columns_phases)))
            item_ops.append(head + [0, first_term, len(terms) - first_term, 0, 0])
    counts = np.ones(len(items), np.int64)
    counts[list(ops)] = [len(item_ops) for item_ops in ops.values()]
    table = np.repeat(constant, counts, axis=0)
    starts = np.cumsum(counts) - counts
    for index, item_ops in ops.items():
        table[starts[index]:starts[index] + len(item_ops)] = item_ops
    return _Table(
        affine=_affine_phases(tuple(plan), num_phases),
        ops=table,
        qubits=fused.qubits,
        terms=np.array(terms, np.int64).reshape(-1, 4),
        matrices=np.concatenate(pool).astype(np.complex64),
        gates=tuple(plan),
        num_phases=num_phases,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class _Terms:
    """An operator row's Pauli terms in index bits of a row's register."""

    counts: np.ndarray  # int64 [operators]: each operator's number of terms
    masks: np.ndarray  # uint64 [terms, 2]: each term's x and z masks
    coefficients: np.ndarray  # complex128 [terms]: each term's coefficient
    phases: np.ndarray  # complex128 [terms]: i**(number of Ys), which the masks lack


@compiler.cached_on_program
def _operator_terms(row_program, operator_row: tuple[bytes, ...]) -> _Terms:
    """The terms of each operator of ``operator_row`` on ``row_program``'s register."""
    last = row_program.num_qubits - 1
    counts, masks, coefficients, phases = [], [], [], []
    for operator in operator_row:
        terms = operator_qubits(row_program, operator) if operator else ()
        counts.append(len(terms))
        for coefficient, paulis in terms:
            x = z = ys = 0
            for pauli, position in paulis:
                bit = 1 << (last - position)
                x |= bit if pauli in "XY" else 0
                z |= bit if pauli in "ZY" else 0
                ys += pauli == "Y"
            masks.append((x, z))
            coefficients.append(complex(coefficient))
            phases.append(1j**ys)
    return _Terms(np.array(counts, np.int64), np.array(masks, np.uint64).reshape(-1, 2),
                  np.array(coefficients, np.complex128), np.array(phases, np.complex128))


@dataclasses.dataclass(frozen=True, eq=False)
class _Group:
    """The rows (sorted) that run one program, and where their phases start."""

    program: compiler.Program
    rows: np.ndarray
    phase_base: int


@dataclasses.dataclass(frozen=True, eq=False)
class Packed:
    """A batch as the core's flat arrays, with what the gradient needs to read back."""

    arrays: tuple
    groups: tuple[_Group, ...]
    state_offsets: np.ndarray
    state_size: int
    terms: tuple[_Terms, ...]  # per operator set (a row's is arrays[13]), its terms

    @property
    def phases(self) -> np.ndarray:
        return self.arrays[7]


def pack(batch: Batch, per_term: bool = False) -> Packed:
    """The core's arrays for ``batch``: programs, phases, rows and operators.

    Everything but the phases comes from the batch's circuits and operators alone,
    so it is kept for the last few batches (:data:`LAYOUTS`): a batch rebound to new
    values (:meth:`Batch.with_values`) only computes its phases.

    With ``per_term``, each Pauli term of a row's operators is an operator of its own
    with coefficient 1, in the order of ``Packed.terms``, so that the core measures
    every term's value.

    Raises:
        NonFiniteValueError: if a gate parameter evaluates to NaN or infinity.
    """
    layout = _LAYOUTS.get(batch, per_term)
    tables = [(_table(group.program), group) for group in layout.groups]
    phases = [table.phases(batch, group.program, group.rows).reshape(-1)
              for table, group in tables if table.num_phases]
    arrays = layout.arrays[:7] + (_joined(phases, np.float64),) + layout.arrays[8:]
    return dataclasses.replace(layout, arrays=arrays)


def _layout(batch: Batch, per_term: bool) -> Packed:
    """:func:`pack` with no phases (an empty ``arrays[7]``)."""
    groups, op_tables, qubit_tables, term_tables, matrices = [], [], [], [], []
    op_counts, widths, phase_counts = [0], [], []
    qubit_size = term_size = matrix_size = phase_size = 0
    index_of: dict[int, int] = {}
    for key, (program, rows) in batch.segment_groups().items():
        rows = np.unique(rows)
        with compiler.collector_paused():  # a new program's table makes many small objects
            table = _table(program)
        ops = table.ops.copy()
        ops[:, 0] += qubit_size
        constant = ops[:, 5] < 0
        ops[constant, 4] += matrix_size
        ops[~constant, 5] += term_size
        terms = table.terms.copy()
        terms[:, 2] += matrix_size
        index_of[key] = len(groups)
        groups.append(_Group(program, rows, phase_size))
        phase_size += len(rows) * table.num_phases
        op_tables.append(ops)
        qubit_tables.append(table.qubits)
        term_tables.append(terms)
        matrices.append(table.matrices)
        qubit_size += table.qubits.size
        term_size += len(terms)
        matrix_size += table.matrices.size
        op_counts.append(len(ops))
        widths.append(program.num_qubits)
        phase_counts.append(table.num_phases)

    pieces, positions, row_qubits, row_pieces, row_opset, opsets = _rows(batch, groups, index_of)
    terms = tuple(_operator_terms(row_program, operator_row)
                  for row_program, operator_row in opsets)
    if per_term:  # each term an operator of its own, padded with operators of no terms
        num_operators = max((len(t.phases) for t in terms), default=0)
        counts = [np.arange(num_operators) < len(t.phases) for t in terms]
        coefficients = [t.phases for t in terms]
    else:
        num_operators = batch.num_operators
        counts = [t.counts for t in terms]
        coefficients = [t.coefficients * t.phases for t in terms]
    masks = [np.zeros((0, 2), np.uint64)] + [t.masks for t in terms]
    sizes = np.where(row_qubits > 0, np.left_shift(1, row_qubits.astype(np.int64)), 0)
    state_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    arrays = (
        _joined(op_tables, np.int64, (0, _core.OP_FIELDS)),
        _joined(qubit_tables, np.int32),
        np.cumsum(op_counts, dtype=np.int64),
        np.array(widths, np.int32),
        np.array(phase_counts, np.int32),
        _joined(term_tables, np.int64, (0, 4)),
        _joined(matrices, np.complex64),
        np.zeros(0, np.float64),
        row_qubits,
        row_pieces,
        pieces,
        positions,
        num_operators,
        row_opset,
        np.concatenate([[0], np.cumsum(_joined(counts, np.int64))]).astype(np.int64),
        np.concatenate(masks),
        _joined(coefficients, np.complex128),
    )
    for array in arrays:  # shared by every batch of this layout
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return Packed(arrays, tuple(groups), state_offsets, int(sizes.sum()), terms)


class _Layouts:
    """The layouts of the last ``size`` batches, by the identity of their programs
    and operators (immutable tuples, which :meth:`Batch.with_values` shares)."""

    def __init__(self, size: int) -> None:
        self._entries: cachetools.LRUCache = cachetools.LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, batch: Batch, per_term: bool) -> Packed:
        key = (id(batch.programs), id(batch.operators), per_term)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] is batch.programs and entry[1] is batch.operators:
            return entry[2]
        layout = _layout(batch, per_term)
        with self._lock:  # the entry holds its tuples, so their ids are not reused
            self._entries[key] = (batch.programs, batch.operators, layout)
        return layout


#: How many batch layouts :func:`pack` keeps.
LAYOUTS = 4
_LAYOUTS = _Layouts(LAYOUTS)


def _joined(parts: list, dtype, empty_shape: tuple = (0,)) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty_shape, dtype)


def _rows(batch: Batch, groups: list[_Group], index_of: dict[int, int]):
    """Each row's pieces (program, phase base, positions) and operator set."""
    programs, program_index = batch.distinct_programs
    row_qubits = batch.row_qubits
    num_pieces = np.array([len(p.segments) if p.num_qubits else 0 for p in programs],
                          np.int64)[program_index] if len(programs) else np.zeros(0, np.int64)
    row_pieces = np.concatenate([[0], np.cumsum(num_pieces)]).astype(np.int64)
    pieces = np.zeros((int(row_pieces[-1]), 3), np.int64)
    positions: list[int] = []
    for row_program, rows in zip(programs, batch.rows_of(program_index)):
        if not row_program.num_qubits:
            continue
        for k, segment in enumerate(row_program.segments):
            group = groups[index_of[id(segment.program)]]
            slots = np.searchsorted(group.rows, rows)
            place = row_pieces[rows] + k
            pieces[place, 0] = index_of[id(segment.program)]
            pieces[place, 1] = group.phase_base + slots * _table(group.program).num_phases
            pieces[place, 2] = len(positions)
            positions += segment.positions
    # Operator sets: the distinct (program, operator row) pairs of rows with qubits.
    pairs, _, pair_index = batch.opsets
    operators = batch.distinct_operators[0]
    kept = [k for k, (p, _) in enumerate(pairs) if programs[p].num_qubits]
    renumbered = np.zeros(len(pairs), np.int32)
    renumbered[kept] = np.arange(len(kept), dtype=np.int32)
    row_opset = renumbered[pair_index] if batch.num_operators \
        else np.zeros(batch.batch_size, np.int32)
    opsets = [(programs[pairs[k][0]], operators[pairs[k][1]]) for k in kept] \
        if batch.num_operators else []
    return (pieces, np.array(positions, np.int32), row_qubits, row_pieces, row_opset, opsets)


def _select_rows(arrays: tuple, rows: np.ndarray) -> tuple:
    """The core's ``arrays`` for a batch of ``rows`` of theirs (which may repeat: a
    noisy row repeated is one row per trajectory), sharing programs and phases."""
    row_qubits, row_pieces, pieces, row_opset = arrays[8], arrays[9], arrays[10], arrays[13]
    starts = row_pieces[rows]
    lengths = row_pieces[rows + 1] - starts
    selected_pieces = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    index = np.repeat(starts - selected_pieces[:-1], lengths) + np.arange(selected_pieces[-1])
    out = list(arrays)
    out[8], out[9], out[10], out[13] = (row_qubits[rows], selected_pieces, pieces[index],
                                        row_opset[rows])
    return tuple(out)


def _trajectory_calls(arrays: tuple, rows: np.ndarray, repeats: np.ndarray,
                      rng: np.random.Generator):
    """Splits ``repeats[i]`` trajectories of row ``rows[i]`` (each a row of its own) into
    core calls of at most :data:`TRAJECTORIES_PER_CALL`: yields each call's slice of the
    trajectories, its arrays, and one seed per trajectory from ``rng``."""
    jobs = np.repeat(rows, repeats)
    for start in range(0, len(jobs), TRAJECTORIES_PER_CALL):
        part = slice(start, start + TRAJECTORIES_PER_CALL)
        yield (part, _select_rows(arrays, jobs[part]),
               rng.bit_generator.random_raw(len(jobs[part])).astype(np.uint64))


def _trajectories(packed: "Packed", rows: np.ndarray, repeats: np.ndarray,
                  rng: np.random.Generator, reduce) -> None:
    """Runs ``repeats[i]`` trajectories of row ``rows[i]`` and passes each core call's
    ``(owner, position, values)`` to ``reduce``: per trajectory, its index into ``rows``,
    its number among that row's trajectories, and ``[operators]`` values."""
    owners = np.repeat(np.arange(len(rows)), repeats)
    positions = np.arange(len(owners)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    for part, arrays, seeds in _trajectory_calls(packed.arrays, rows, repeats, rng):
        values = np.zeros((len(seeds), packed.arrays[12]))
        _core.forward(*arrays, seeds, values if values.size else _NO_EXPECTATIONS,
                      _NO_STATES, _NO_OFFSETS)
        reduce(owners[part], positions[part], values)


def _add_by_owner(sums: np.ndarray, owner: np.ndarray, values: np.ndarray) -> None:
    """``sums[o] += values[i]`` for every ``i`` with ``owner[i] == o``; owners come in runs."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sums[owner[starts]] += np.add.reduceat(values, starts, axis=0)


def _noisy_rows(batch: Batch) -> np.ndarray:
    """``bool [batch]``: which rows hold noise channels."""
    programs, index = batch.distinct_programs
    return np.array([p.noisy for p in programs], bool)[index] if len(index) \
        else np.zeros(0, bool)


@dataclasses.dataclass(frozen=True, eq=False)
class Kept:
    """What a forward pass keeps for the adjoint: the packed batch and final states."""

    packed: Packed
    states: np.ndarray


class NativeExecutor(Executor):
    """Runs programs on qml's compiled core.

    It computes expectations (exact, or estimated from shots), final states, samples,
    noise trajectories and the adjoint gradient for batches whose rows may all be
    different circuits, compiling nothing per circuit.

    Raises:
        NoisyCircuitError: for a circuit with noise channels, except for samples and
            expectations over trajectories or shots.

    Example:
        >>> import cirq, qml
        >>> q = cirq.LineQubit(0)
        >>> states = qml.layers.State(backend=qml.executors.NativeExecutor())
        >>> states(cirq.Circuit(cirq.X(q))).to_list()
        [[0j, (1+0j)]]
    """

    name = "native"
    capabilities = frozenset({"final_states", "samples", "sampled_expectation",
                              "noisy_expectation", "adjoint_gradient"})

    def expectation(self, batch: Batch) -> np.ndarray:
        require_noiseless(batch, "native")
        if not batch.num_operators:
            return np.zeros((batch.batch_size, 0), np.float32)
        out = np.zeros((batch.batch_size, batch.num_operators))
        packed = pack(batch)
        _core.forward(*packed.arrays, _NO_SEEDS, out, _NO_STATES, packed.state_offsets)
        return fill_padding(batch, out.astype(np.float32))

    def expectation_and_kept(self, batch: Batch) -> tuple[np.ndarray, Kept]:
        """The expectations, and the final states kept for :meth:`adjoint_gradient`."""
        require_noiseless(batch, "native")
        packed = pack(batch)
        states = np.zeros(packed.state_size, np.complex64)
        out = np.zeros((batch.batch_size, batch.num_operators))
        _core.forward(*packed.arrays, _NO_SEEDS, out if out.size else _NO_EXPECTATIONS, states,
                      packed.state_offsets)
        return fill_padding(batch, out.astype(np.float32)), Kept(packed, states)

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        """Each row's final state vector, ``[2**n]`` complex64 in Cirq's qubit order
        (``[1]`` for an empty circuit)."""
        require_noiseless(batch, "native")
        packed = pack(batch)
        states = np.zeros(packed.state_size, np.complex64)
        _core.forward(*packed.arrays, _NO_SEEDS, _NO_EXPECTATIONS, states, packed.state_offsets)
        return [states[start:start + (1 << p.num_qubits)] if p.num_qubits
                else np.ones(1, np.complex64)
                for start, p in zip(packed.state_offsets, batch.programs)]

    def noisy_expectation(self, batch: Batch) -> np.ndarray:
        """Expectations averaged over ``batch.estimation.repetitions`` noise trajectories
        per operator.

        Each trajectory runs in the core as a row of its own (noisy rows' trajectories
        share SIMD lanes), seeded from ``batch.estimation.seed``; a noiseless row is
        simulated once, exactly. A row whose operators ask for different trajectory
        counts runs each count in turn.
        """
        out = np.zeros((batch.batch_size, batch.num_operators))
        if not batch.num_operators:
            return out.astype(np.float32)
        packed = pack(batch)
        counts = np.where(_noisy_rows(batch)[:, None], batch.estimation.repetitions, 1)
        counts[batch.row_qubits == 0] = 0
        ordered = np.sort(counts, axis=1)
        rounds = np.where(np.c_[np.ones(len(counts), bool), ordered[:, 1:] != ordered[:, :-1]],
                          ordered, 0)  # each row's distinct counts, in turn
        rng = np.random.default_rng(batch.estimation.seed)
        for repeats in rounds.T:
            rows = np.flatnonzero(repeats > 0)
            if not rows.size:
                continue
            sums = np.zeros((len(rows), batch.num_operators))
            _trajectories(packed, rows, repeats[rows], rng,
                          lambda owner, _, values: _add_by_owner(sums, owner, values))
            hit = counts[rows] == repeats[rows, None]
            out[rows] = np.where(hit, sums / repeats[rows, None], out[rows])
        return fill_padding(batch, out.astype(np.float32))

    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        """Expectations estimated from ``batch.estimation.repetitions`` shots per operator.

        Each Pauli term is measured in its own basis with its operator's shots, as on
        hardware: a shot of term ``P`` is +1 with probability ``(1 + <P>) / 2``. On a
        noiseless row the core computes every term's exact ``<P>`` in one call and the
        count of +1 shots is drawn from the binomial; a noisy row runs one trajectory
        per shot and each shot reads ``<P>`` on its own trajectory. Identity terms need
        no shots.
        """
        out = np.zeros((batch.batch_size, batch.num_operators))
        if not batch.num_operators:
            return out.astype(np.float32)
        packed = pack(batch, per_term=True)
        rng = np.random.default_rng(batch.estimation.seed)
        noisy = _noisy_rows(batch)
        values = np.zeros((batch.batch_size, packed.arrays[12]))
        if values.size and not noisy.any():  # every term's exact value
            _core.forward(*packed.arrays, _NO_SEEDS, values, _NO_STATES, _NO_OFFSETS)
        elif values.size and not noisy.all():  # the same on the noiseless rows
            quiet = np.flatnonzero(~noisy)
            quiet_values = np.zeros((len(quiet), values.shape[1]))
            _core.forward(*_select_rows(packed.arrays, quiet), _NO_SEEDS, quiet_values,
                          _NO_STATES, _NO_OFFSETS)
            values[quiet] = quiet_values
        row_opset, has_qubits = packed.arrays[13], batch.row_qubits > 0
        for opset, terms in enumerate(packed.terms):
            rows = np.flatnonzero((row_opset == opset) & has_qubits)
            count = len(terms.phases)
            operator_of = np.repeat(np.arange(batch.num_operators), terms.counts)
            shots = batch.estimation.repetitions[rows][:, operator_of]
            ones = np.zeros(shots.shape)
            exact = ~noisy[rows]
            probability = np.clip((1 + values[rows[exact], :count]) / 2, 0.0, 1.0)
            ones[exact] = rng.binomial(shots[exact], probability)
            noisy_rows = rows[~exact]
            if noisy_rows.size:
                noisy_ones = np.zeros((len(noisy_rows), count))
                noisy_shots = shots[~exact]

                def add(owner, position, trajectory_values):
                    up = (1 + trajectory_values[:, :count]) / 2
                    hits = (rng.random(up.shape) < up) & (position[:, None] < noisy_shots[owner])
                    _add_by_owner(noisy_ones, owner, hits.astype(np.float64))

                _trajectories(packed, noisy_rows, noisy_shots.max(axis=1, initial=0), rng, add)
                ones[~exact] = noisy_ones
            averages = 2.0 * ones / shots - 1.0
            identity = (terms.masks == 0).all(axis=1)
            estimates = np.where(identity, 1.0, averages) * terms.coefficients.real
            by_operator = np.zeros((count, batch.num_operators))
            by_operator[np.arange(count), operator_of] = 1.0
            out[rows] += estimates @ by_operator
        return fill_padding(batch, out.astype(np.float32))

    def samples(self, batch: Batch, repetitions: int) -> list[np.ndarray]:
        """Each row's measured bitstrings, ``[repetitions, n_qubits]`` int8, columns in
        the row's sorted qubit order.

        The core simulates each noiseless row once and draws every repetition from its
        final state, seeded per row by ``batch.estimation.seed``; a noisy row runs one
        trajectory per repetition. No state is kept past its row.
        """
        widths = batch.row_qubits
        width = int(widths.max(initial=0))
        seeds = batch.estimation.row_seeds(batch.batch_size).astype(np.uint64)
        noisy = _noisy_rows(batch)
        arrays = pack(batch).arrays
        bits = np.zeros((batch.batch_size, repetitions, width), np.int8)
        quiet, loud = np.flatnonzero(~noisy), np.flatnonzero(noisy)
        if not loud.size:
            _core.sample(*arrays, seeds, bits)
        elif quiet.size:
            quiet_bits = np.zeros((len(quiet), repetitions, width), np.int8)
            _core.sample(*_select_rows(arrays, quiet), seeds[quiet], quiet_bits)
            bits[quiet] = quiet_bits
        if loud.size:  # one trajectory per shot
            shots = np.zeros((len(loud) * repetitions, 1, width), np.int8)
            rng = np.random.default_rng(batch.estimation.seed)
            for part, loud_arrays, loud_seeds in _trajectory_calls(
                    arrays, loud, np.full(len(loud), repetitions), rng):
                _core.sample(*loud_arrays, loud_seeds, shots[part])
            bits[loud] = shots.reshape(len(loud), repetitions, width)
        return [bits[row, :, :row_width] for row, row_width in enumerate(widths)]

    def adjoint_gradient(self, batch: Batch, upstream: np.ndarray,
                         kept: Optional[Kept] = None) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation(batch))``.

        One backward sweep per row in the core gives the derivative in every gate
        phase; each program's Jacobian of phases in symbols (the chain rule of its
        parameter expressions) turns those into symbol gradients.

        Args:
            kept: what :meth:`expectation_and_kept` kept for this batch, so that the
                sweep starts from its final states instead of simulating again.
        """
        require_noiseless(batch, "native")
        grad = np.zeros(batch.symbol_values.shape, np.float64)
        if not batch.num_operators or not batch.symbol_names:
            return grad.astype(np.float32)
        packed = kept.packed if kept is not None else pack(batch)
        states = kept.states if kept is not None else _NO_STATES
        phase_gradients = np.zeros(packed.phases.size)
        upstream = np.ascontiguousarray(upstream, np.float64)
        _core.adjoint(*packed.arrays, upstream, states, packed.state_offsets, phase_gradients)
        index = {name: i for i, name in enumerate(batch.symbol_names)}
        for group in packed.groups:
            table = _table(group.program)
            if not table.num_phases:
                continue
            count = len(group.rows) * table.num_phases
            by_phase = phase_gradients[group.phase_base:group.phase_base + count]
            symbols = tuple(sorted(group.program.symbols))
            columns = {} if table.affine is not None else batch.columns(group.program, group.rows)
            by_symbol = table.symbol_gradients(
                columns, by_phase.reshape(len(group.rows), -1), symbols)
            grad[np.ix_(group.rows, [index[s] for s in symbols])] += by_symbol
        return grad.astype(np.float32)
