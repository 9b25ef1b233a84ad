"""What a compiled program is made of: gates, the steps that place them on a block's
qubits, blocks (one unitary on a few qubits, with optional controls), and the matrix
helpers that multiply them out.

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

from qml.circuits import gates
from qml.circuits.expressions import symbol_union


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


@dataclasses.dataclass(frozen=True)
class Operation:
    """One gate of a circuit on its target qubits, with optional controls (positions in
    the program's sorted qubits)."""

    gate: Gate
    targets: tuple[int, ...]
    controls: tuple[int, ...]
    control_values: tuple[int, ...]


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
