"""What a compiled program is made of: a circuit's gate table, gates, the steps that
place them on a block's qubits, blocks (one unitary on a few qubits, with optional
controls), noise channels, and the matrix helpers that multiply them out.

Example:
    >>> import numpy as np
    >>> flip = Gate("Matrix", {}, frozenset(), np.array([[[0, 1], [1, 0]]], complex))
    >>> block = make_block((0, 1), (), (), (Step(flip, (0,)), Step(flip, (1,))))
    >>> np.allclose(block.constant[0], np.fliplr(np.eye(4)))
    True
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Mapping, Optional

import numpy as np

from qml.circuits import channels, expressions, gates
from qml.circuits.expressions import symbol_union
from qml.errors import CircuitFormatError

#: What a gate of a circuit's table does in its program (the core's ``GateRole``):
#: a constant unitary, a unitary with symbols, or one that is dropped (an identity, a
#: terminal measurement), or a noise channel.
CONSTANT, SYMBOLIC, IDENTITY, MEASURE, CHANNEL = range(5)


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


@dataclasses.dataclass(frozen=True, eq=False)
class GateTable:
    """A circuit's gate table, checked, as the core's fusion reads it: each gate's
    qubit count and role, and the unitaries of its constant gates in one array.

    :class:`Gate` objects are made on demand (:meth:`gate`): a program run by the
    native core needs them only for its gates with symbols.

    Example:
        >>> table = GateTable.of([{"g": "Rx", "r": 0.5}, {"g": "Rz", "r": ["sym", "a"]}])
        >>> table.roles.tolist(), table.gate(1).symbols
        ([0, 1], frozenset({'a'}))
    """

    fields: tuple             # each gate's JSON fields
    widths: np.ndarray        # int32 qubits per gate
    roles: np.ndarray         # int8 CONSTANT, SYMBOLIC, IDENTITY, MEASURE or CHANNEL
    offsets: np.ndarray       # int64 a constant gate's matrix in matrices, else -1
    matrices: np.ndarray      # complex128 row-major unitaries of the constant gates
    symbols: Mapping[int, frozenset[str]]  # the symbols of each gate with symbols

    @classmethod
    def of(cls, table: list) -> "GateTable":
        """Checks a circuit's gate table; the unitaries of its constant gates are
        computed together, one numpy product per gate kind.

        Raises:
            CircuitFormatError: for an unknown kind, a malformed matrix gate or
                channel, or a parameter that is not finite.
        """
        if type(table) is not list:
            raise CircuitFormatError(f"malformed gate table {table!r:.120}")
        count = len(table)
        widths, roles = np.zeros(count, np.int32), np.zeros(count, np.int8)
        offsets = np.full(count, -1, np.int64)
        symbols: dict[int, frozenset[str]] = {}
        made: dict[int, Gate] = {}
        by_kind: dict[str, list[int]] = {}
        for index, fields in enumerate(table):
            by_kind.setdefault(fields["g"], []).append(index)
        pool, size = [], 0
        for kind, indices in by_kind.items():
            members = [table[i] for i in indices]
            if kind in ("Measure", "Channel", "I", "Matrix"):
                widths[indices] = [int(fields["n"]) for fields in members]
            if kind in ("Measure", "Channel"):
                roles[indices] = MEASURE if kind == "Measure" else CHANNEL
                if kind == "Channel":  # checked now: a channel's constant is its Kraus operators
                    made.update({i: Gate(kind, fields, expressions.NO_SYMBOLS,
                                         channels.kraus_of(fields))
                                 for i, fields in zip(indices, members)})
                continue
            params = gates.KIND_PARAMS.get(kind)
            if params is None:
                raise CircuitFormatError(f"unknown gate kind {kind!r}")
            if kind not in ("I", "Matrix"):
                widths[indices] = gates.num_qubits_of(kind, {})
            for name in params:  # plain floats (the usual case) have no symbols
                values = [fields[name] for fields in members]
                if set(map(type, values)) != {float}:
                    for i, value in zip(indices, values):
                        names = expressions.NO_SYMBOLS if type(value) is float \
                            else expressions.symbols_of(value)
                        if names:
                            symbols[i] = symbols.get(i, expressions.NO_SYMBOLS) | names
            if kind == "Matrix":
                for fields in members:
                    _check_matrix(fields)
            constant = [i for i in indices if i not in symbols]
            roles[indices] = SYMBOLIC
            roles[constant] = IDENTITY if kind == "I" else CONSTANT
            if kind == "I" or not constant:
                continue
            computed = gates.constant_unitaries(kind, [table[i] for i in constant])
            # One array for a kind of fixed width; a list for matrix gates of any size.
            unitaries = [computed] if isinstance(computed, np.ndarray) else [
                unitary[None] for unitary in computed]
            finite = np.concatenate([np.isfinite(u).all(axis=(1, 2)) for u in unitaries])
            if not finite.all():
                index = constant[int(np.argmin(finite))]
                for name in params:  # a number that is not finite is refused by name
                    expressions.symbols_of(table[index][name])
                raise CircuitFormatError(
                    f"gate {index} ({kind}) has a parameter that is not finite: "
                    f"{json.dumps(table[index])[:120]}")
            sizes = np.concatenate([np.full(len(u), u[0].size) for u in unitaries])
            offsets[constant] = size + np.cumsum(sizes) - sizes
            size += int(sizes.sum())
            pool += [np.ravel(u) for u in unitaries]
        out = cls(tuple(table), widths, roles, offsets,
                  np.concatenate(pool) if pool else np.zeros(0, complex), symbols)
        out.__dict__["_gates"] = made
        return out

    @classmethod
    def of_many(cls, tables: list[list]) -> list["GateTable"]:
        """The gate tables of many circuits, checked and computed as one (so one numpy
        product per gate kind serves them all); they share one array of matrices.

        Raises:
            CircuitFormatError: as :meth:`of`, though a gate's index in its message
                counts from the first table.
        """
        if not all(type(table) is list for table in tables):
            raise CircuitFormatError("malformed gate table")
        whole = cls.of([fields for table in tables for fields in table])
        bounds = np.cumsum([0] + [len(table) for table in tables]).tolist()
        owner = np.searchsorted(bounds, list(whole.symbols), side="right") - 1
        symbols: list[dict] = [{} for _ in tables]
        for (index, names), k in zip(whole.symbols.items(), owner.tolist()):
            symbols[k][index - bounds[k]] = names
        made = whole.__dict__["_gates"]
        out = []
        for k, table in enumerate(tables):
            start, stop = bounds[k], bounds[k + 1]
            part = cls(tuple(table), whole.widths[start:stop], whole.roles[start:stop],
                       whole.offsets[start:stop], whole.matrices, symbols[k])
            part.__dict__["_gates"] = {i - start: gate for i, gate in made.items()
                                       if start <= i < stop}
            out.append(part)
        return out

    def __len__(self) -> int:
        return len(self.fields)

    def gate(self, index: int) -> "Gate":
        """Gate ``index`` of the table, made once."""
        made = self.__dict__.setdefault("_gates", {})
        if index not in made:
            fields, role = self.fields[index], self.roles[index]
            constant = None
            if role == CONSTANT:
                dim = 1 << int(self.widths[index])
                start = int(self.offsets[index])
                constant = self.matrices[start:start + dim * dim].reshape(1, dim, dim)
            elif role == IDENTITY:
                constant = np.asarray(gates.constant_unitaries("I", [fields])[0])[None]
            made[index] = Gate(fields["g"], fields,
                               self.symbols.get(index, expressions.NO_SYMBOLS), constant)
        return made[index]

    def appended(self, fields: dict) -> "GateTable":
        """This table with one more gate, ``fields``, at its end; only the new gate is
        checked and computed.

        Raises:
            CircuitFormatError: as :meth:`of`, for ``fields``.
        """
        extra, count = GateTable.of([fields]), len(self.fields)
        offsets = np.where(extra.offsets >= 0, extra.offsets + self.matrices.size, -1)
        out = GateTable(
            self.fields + (fields,), np.concatenate([self.widths, extra.widths]),
            np.concatenate([self.roles, extra.roles]), np.concatenate([self.offsets, offsets]),
            np.concatenate([self.matrices, extra.matrices]) if extra.matrices.size
            else self.matrices,
            {**self.symbols, **{count: names for names in extra.symbols.values()}})
        out.__dict__["_gates"] = {**self.__dict__.get("_gates", {}), **{
            count: gate for gate in extra.__dict__.get("_gates", {}).values()}}
        return out


def _check_matrix(fields: Mapping) -> None:
    """Refuses a ``Matrix`` gate of the wrong size, or one that is not a finite unitary."""
    if not 1 <= int(fields["n"]) <= gates.MAX_MATRIX_QUBITS:
        raise CircuitFormatError(
            f"matrix gate on {fields['n']!r} qubits; qml takes 1 to {gates.MAX_MATRIX_QUBITS}")
    matrix = gates.matrix_of(fields)  # validates the shape
    with np.errstate(all="ignore"):  # huge entries overflow, and are refused below
        unitary = np.isfinite(matrix).all() and np.allclose(
            matrix.conj().T @ matrix, np.eye(len(matrix)), atol=1e-6)
    if not unitary:
        raise CircuitFormatError(
            f"matrix gate on {fields['n']} qubits is not a finite unitary matrix")


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
                           symbol_union(step.gate.symbols for step in self.steps))

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


def make_block(targets: tuple[int, ...], controls: tuple[int, ...],
               values: tuple[int, ...], steps: tuple[Step, ...]) -> Block:
    """A block of ``steps``, with its unitary computed now when no gate has symbols."""
    return make_blocks([(targets, controls, values, steps)])[0]


BlockSpec = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[Step, ...]]


def make_blocks(specs: list[BlockSpec]) -> list[Block]:
    """Blocks of ``(targets, controls, control_values, steps)``, with the unitaries of
    those without symbols computed together: a circuit's blocks cost a few numpy calls
    per block size instead of a few per step.

    Example:
        >>> flip = Gate("Matrix", {}, frozenset(), np.array([[[0, 1], [1, 0]]], complex))
        >>> [b.constant[0].real.tolist() for b in make_blocks([((0,), (), (), (Step(flip, (0,)),))])]
        [[[0.0, 1.0], [1.0, 0.0]]]
    """
    constant = [k for k, spec in enumerate(specs)
                if all(not step.gate.symbols for step in spec[3])]
    by_size: dict[int, list[int]] = {}
    for k in constant:
        by_size.setdefault(len(specs[k][0]), []).append(k)
    unitaries: dict[int, np.ndarray] = {}
    for size, members in by_size.items():
        unitaries.update(zip(members, _products(size, [specs[k][3] for k in members])))
    return [Block(*spec, unitaries[k][None] if k in unitaries else None)
            for k, spec in enumerate(specs)]


def _products(size: int, step_lists: list[tuple[Step, ...]]) -> np.ndarray:
    """``[blocks, d, d]``: each list's constant steps multiplied out on ``size`` qubits
    (later steps on the left). Steps are embedded in one call per placement, and the
    products taken step by step over all blocks at once, longest lists first."""
    dim = 2 ** size
    order = sorted(range(len(step_lists)), key=lambda k: -len(step_lists[k]))
    lengths = [len(step_lists[k]) for k in order]
    placements: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for row, k in enumerate(order):
        for column, step in enumerate(step_lists[k]):
            placements.setdefault(step.places, []).append((row, column))
    embedded = np.empty((len(order), max(lengths, default=0), dim, dim), complex)
    for places, slots in placements.items():
        rows, columns = zip(*slots)
        gates = np.concatenate([step_lists[order[r]][c].gate.unitary({}) for r, c in slots])
        embedded[rows, columns] = embed(gates, places, size)
    result = np.broadcast_to(np.eye(dim, dtype=complex), (len(order), dim, dim)).copy()
    longer = len(lengths) - np.cumsum(np.bincount(lengths))  # lists longer than each column
    for column in range(embedded.shape[1]):
        count = int(longer[column])  # the lists are longest first
        result[:count] = embedded[:count, column] @ result[:count]
    out = np.empty_like(result)
    out[order] = result
    return out


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
    gate: Gate


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
