"""Gate fusion: which gates are applied together, as one matrix.

Two plans, both from a circuit's gates in order:

- :func:`fuse`, the compiler's, run by the native core: runs of single-qubit gates
  fused, then folded into neighbouring two-qubit blocks, with the products of constant
  blocks multiplied out. Every executor's program is made of these blocks.
- :func:`gate_runs`, for executors that pay per matrix entry more than per op (the
  TensorFlow executor on few qubits): the program's gates one by one again, with
  single-qubit runs merged and constant diagonal gates combined into one diagonal on
  the whole register.

Example:
    >>> table = GateTable.of([{"g": "Rx", "r": 0.5}, {"g": "CZPow", "t": 1.0, "s": 0.0}])
    >>> fused = fuse([[0, [0]], [0, [0]], [1, [0, 1]]], table, 2)
    >>> [(block.targets, len(block.steps)) for block in fused.blocks]
    [((0, 1), 3)]
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Sequence

import numpy as np

import _qml_core as _core  # the compiled core (src/qml_core), which imports nothing from qml
from qml.circuits import expressions
from qml.circuits.blocks import (SYMBOLIC, Block, Channel, Gate, GateTable, Step, controlled,
                                 make_block)
from qml.errors import CircuitFormatError

# Item table columns (ItemField in src/qml_core/fuse.hpp).
IS_CHANNEL, QUBIT_START, TARGETS, CONTROLS, CONTROL_VALUES, STEP_START, NUM_STEPS, MATRIX = range(
    _core.ITEM_FIELDS)
# Why the core could not fuse a circuit (FuseError in fuse.hpp).
MALFORMED, GATE_AFTER_MEASURE, CONTROLLED_CHANNEL, CONTROLLED_MEASURE = range(1, 5)


@dataclasses.dataclass(frozen=True, eq=False)
class Fused:
    """A circuit's blocks and noise channels, as the core's fusion lays them out.

    Items are blocks and channels in program order (columns as ``ItemField`` in
    src/qml_core/fuse.hpp). :attr:`blocks` and :attr:`channels` build Python objects
    from them on first use; the native executor reads the arrays directly.
    """

    gates: GateTable
    items: np.ndarray     # int64 [items, ITEM_FIELDS]
    qubits: np.ndarray    # int32: each item's targets, then controls
    steps: np.ndarray     # int32 [steps, 2]: gate, first entry in places
    places: np.ndarray    # int32: each step's places on its item's targets
    matrices: np.ndarray  # complex128: constant blocks' products, row-major

    @functools.cached_property
    def symbols(self) -> frozenset[str]:
        """The symbols of the program's gates."""
        used = np.unique(self.steps[:, 0]).tolist()
        return expressions.symbol_union(
            self.gates.symbols[g] for g in used if self.gates.roles[g] == SYMBOLIC)

    @functools.cached_property
    def _objects(self) -> tuple[tuple[Block, ...], tuple[Channel, ...]]:
        blocks: list[Block] = []
        noise: list[Channel] = []
        qubits, places = self.qubits.tolist(), self.places.tolist()
        widths = self.gates.widths.tolist()
        for is_channel, start, targets, controls, values, first, count, matrix in \
                self.items.tolist():
            on = tuple(qubits[start:start + targets])
            steps = tuple(
                Step(self.gates.gate(gate), tuple(places[place:place + widths[gate]]))
                for gate, place in self.steps[first:first + count].tolist())
            if is_channel:
                gate = steps[0].gate
                noise.append(Channel(len(blocks), on, gate.constant, gate))
                continue
            dim = 1 << targets
            blocks.append(Block(
                on, tuple(qubits[start + targets:start + targets + controls]),
                tuple((values >> j) & 1 for j in range(controls)), steps,
                self.matrices[matrix:matrix + dim * dim].reshape(1, dim, dim)
                if matrix >= 0 else None))
        return tuple(blocks), tuple(noise)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self._objects[0]

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self._objects[1]

    def with_step_gate(self, block: int, step: int, fields: dict) -> "Fused":
        """The same program with step ``step`` of block ``block`` running the gate of
        ``fields`` (a gate with symbols) instead."""
        item = int(np.flatnonzero(self.items[:, IS_CHANNEL] == 0)[block])
        items, steps = self.items.copy(), self.steps.copy()
        steps[items[item, STEP_START] + step, 0] = len(self.gates)
        items[item, MATRIX] = -1
        return dataclasses.replace(self, gates=self.gates.appended(fields), items=items,
                                   steps=steps)


def empty(num_qubits: int = 0) -> Fused:
    """The program of no gates."""
    return fuse([], GateTable.of([]), num_qubits)


def fuse(operations: list, table: GateTable, num_qubits: int) -> Fused:
    """Fuses a circuit's operations (``[gate, targets]`` or ``[gate, targets, controls,
    values]`` each, as in the circuit format) into blocks and channels, in the core.

    Raises:
        CircuitFormatError: for a malformed operation, or a controlled channel.
        FuseFault: for a gate after a measurement on its qubits, or a controlled
            measurement; the compiler words these with the circuit's qubits.
    """
    words = _words(operations)
    items, qubits, steps, places, matrices, error = _core.fuse(
        words, len(operations), table.widths, table.roles, table.offsets, table.matrices,
        num_qubits)
    code, op = int(error[0]), int(error[1])
    if code == MALFORMED:
        raise CircuitFormatError(f"malformed operation {operations[op]!r:.200}")
    if code == CONTROLLED_CHANNEL:
        raise CircuitFormatError("a controlled noise channel is not supported")
    if code:
        raise FuseFault(code, op, int(error[2]), int(error[3]))
    return Fused(table, items, qubits, steps, places, matrices)


class FuseFault(Exception):
    """A measurement the core refused: ``code`` (GATE_AFTER_MEASURE or
    CONTROLLED_MEASURE), the operation, and for the first the qubit and the
    measurement's operation."""

    def __init__(self, code: int, operation: int, qubit: int, measurement: int):
        super().__init__(code, operation, qubit, measurement)
        self.code, self.operation, self.qubit, self.measurement = (
            code, operation, qubit, measurement)


def _words(operations: list) -> np.ndarray:
    """The operations as the core's word stream: gate, n_targets, targets...,
    n_controls, controls..., control values...

    Raises:
        CircuitFormatError: for an operation that is not a list of 2 or 4 fields of
            ints (the core checks their values).
    """
    words = _words_or_none(operations)
    if words is not None:
        return words
    first = next(op for op in operations if _words_or_none([op]) is None)
    raise CircuitFormatError(f"malformed operation {first!r:.200}")


def _words_or_none(operations: list) -> Optional[np.ndarray]:
    words: list = []
    add = words.extend
    try:
        for op in operations:  # anything but lists of ints ends with a word not an int
            if len(op) == 2:
                gate, targets = op
                add((gate, len(targets), *targets, 0))
            else:
                gate, targets, controls, values = op
                if len(values) != len(controls):
                    return None
                add((gate, len(targets), *targets, len(controls), *controls, *values))
        if set(map(type, words)) <= {int}:
            return np.array(words, np.int64)
    except (TypeError, ValueError, OverflowError):
        pass
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Placed:
    """A block placed on a row's register: ``positions`` are its controls, then targets.

    A ``diagonal`` holds the ``[2**n]`` diagonal of constant diagonal gates combined on
    the whole register; ``block`` is then None and ``positions`` all qubits.
    """

    block: Optional[Block]
    positions: tuple[int, ...]
    diagonal: Optional[np.ndarray] = None

    @property
    def symbolic(self) -> bool:
        return self.diagonal is None and self.block.constant is None

    @property
    def constant(self) -> np.ndarray:
        """The constant ``[d, d]`` matrix, or the ``[2**n]`` diagonal."""
        return self.diagonal if self.diagonal is not None else self.block.controlled_constant


def gate_runs(placed: Sequence[Placed], num_qubits: int) -> tuple[Placed, ...]:
    """Gates one by one: single-qubit runs merged, constant diagonal gates combined.

    Gates are taken in order of their depth (as early as their qubits allow), so that
    a layer of gates is not interleaved with the next. A diagonal gate then joins the
    latest diagonal that no later gate touches on its qubits; diagonal gates commute,
    so the product is unchanged.
    """
    gates_in_order = []  # (depth, gate, controls, control_values, targets)
    depth: dict[int, int] = {}
    for item in placed:
        block = item.block
        controls = item.positions[:len(block.controls)]
        for step in block.steps:
            targets = tuple(item.positions[len(controls) + p] for p in step.places)
            level = 1 + max(depth.get(q, 0) for q in controls + targets)
            depth.update({q: level for q in controls + targets})
            gates_in_order.append((level, step.gate, controls, block.control_values, targets))
    gates_in_order.sort(key=lambda entry: entry[0])  # stable: ties keep program order
    ops: list[list] = []  # [kind, positions, steps or diagonal or block]
    last: dict[int, int] = {}  # qubit -> index of the last op that touches it
    latest_diagonal = -1
    for _, gate, controls, control_values, targets in gates_in_order:
        qubits = controls + targets
        before = max(last.get(q, -1) for q in qubits)
        if not controls and len(targets) == 1 and before >= 0 \
                and ops[before][0] == "run" and ops[before][1] == targets:
            ops[before][2].append(Step(gate, (0,)))
            continue
        diagonal = _constant_diagonal(gate, control_values, qubits, num_qubits)
        if diagonal is not None and latest_diagonal >= max(before, 0):
            ops[latest_diagonal][2] = ops[latest_diagonal][2] * diagonal
            index = latest_diagonal
        elif diagonal is not None:
            ops.append(["diagonal", tuple(range(num_qubits)), diagonal])
            index = latest_diagonal = len(ops) - 1
        elif controls or len(targets) > 1:
            ops.append(["gate", qubits, make_block(
                targets, controls, control_values,
                (Step(gate, tuple(range(len(targets)))),))])
            index = len(ops) - 1
        else:
            ops.append(["run", targets, [Step(gate, (0,))]])
            index = len(ops) - 1
        last.update({q: index for q in qubits})
    plan = []
    for kind, positions, content in ops:
        if kind == "diagonal":
            plan.append(Placed(None, positions, content))
        elif kind == "run":
            plan.append(Placed(make_block(positions, (), (), tuple(content)),
                                positions))
        else:
            plan.append(Placed(content, positions))
    return tuple(plan)


def _constant_diagonal(gate: Gate, control_values: tuple[int, ...],
                       qubits: tuple[int, ...], num_qubits: int) -> Optional[np.ndarray]:
    """The ``[2**n]`` diagonal of a constant diagonal gate on ``qubits``, else None."""
    if gate.constant is None:
        return None
    matrix = controlled(gate.constant[0], control_values)
    entries = np.diagonal(matrix)
    if np.count_nonzero(matrix - np.diag(entries)):
        return None
    basis = np.arange(2**num_qubits)
    index = np.zeros_like(basis)
    for qubit in qubits:
        index = (index << 1) | ((basis >> (num_qubits - 1 - qubit)) & 1)
    return entries[index]
