"""Gate fusion: which gates are applied together, as one matrix.

Two plans, both from a circuit's gates in order:

- :func:`program_blocks`, the compiler's: runs of single-qubit gates fused, then folded
  into neighbouring two-qubit blocks. Every executor's program is made of these.
- :func:`gate_runs`, for executors that pay per matrix entry more than per op (the
  TensorFlow executor on few qubits): the program's gates one by one again, with
  single-qubit runs merged and constant diagonal gates combined into one diagonal on
  the whole register.

Example:
    >>> import numpy as np
    >>> flip = Gate("Matrix", {}, frozenset(), np.array([[[0, 1], [1, 0]]], complex))
    >>> swap = Gate("Matrix", {}, frozenset(), np.eye(4, dtype=complex)[[0, 2, 1, 3]][None])
    >>> ops = [Operation(flip, (0,), (), ()), Operation(flip, (0,), (), ()),
    ...        Operation(swap, (0, 1), (), ())]
    >>> [(block.targets, len(block.steps)) for block in program_blocks(ops)]
    [((0, 1), 3)]
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from qml.circuits.blocks import (Block, BlockSpec, Gate, Operation, Step, controlled,
                                 make_block, make_blocks)


def program_blocks(operations: Sequence[Operation]) -> list[Block]:
    """The compiler's plan: single-qubit runs fused, then absorbed into two-qubit
    blocks (a stretch of gates between noise channels)."""
    return make_blocks(_absorb_into_two_qubit_blocks(_fuse_single_qubit_runs(operations)))


def _fuse_single_qubit_runs(operations: Sequence[Operation]) -> list[BlockSpec]:
    """Merges each run of uncontrolled single-qubit gates on one qubit into a block."""
    blocks: list[BlockSpec] = []
    pending: dict[int, list[Step]] = {}

    def flush(qubit: int) -> None:
        run = pending.pop(qubit, None)
        if run:
            blocks.append(((qubit,), (), (), tuple(run)))

    for op in operations:
        if len(op.targets) == 1 and not op.controls:
            pending.setdefault(op.targets[0], []).append(Step(op.gate, (0,)))
            continue
        for q in op.targets + op.controls:
            flush(q)
        steps = (Step(op.gate, tuple(range(len(op.targets)))),)
        blocks.append((op.targets, op.controls, op.control_values, steps))
    for q in sorted(pending):
        flush(q)
    return blocks


def _absorb_into_two_qubit_blocks(blocks: list[BlockSpec]) -> list[BlockSpec]:
    """Folds each single-qubit block into a neighbouring uncontrolled two-qubit block.

    A single-qubit block on q joins the next block that touches q when that block is
    an uncontrolled two-qubit block; otherwise it joins the last earlier block that
    touches q, under the same condition. Nothing between them touches q, so the
    product is unchanged, and qsim (or any executor) has fewer, larger gates to apply.

    The next block comes first because circuits are mostly layers of rotations, each
    followed by entangling gates: a layer's rotations then join the first gates after
    them, and the later gates of a CZ ladder (or any diagonal gates) stay diagonal,
    which the native core applies at a fraction of a dense block's cost.
    """
    merged: list[Optional[list]] = [list(b) for b in blocks]  # steps become lists below

    def absorbs(entry: Optional[list]) -> bool:
        return entry is not None and len(entry[0]) == 2 and not entry[1]

    def fold(direction: int) -> None:
        order = range(len(merged)) if direction < 0 else range(len(merged) - 1, -1, -1)
        neighbour: dict[int, int] = {}  # qubit -> index of the nearest block on that side
        for index in order:
            entry = merged[index]
            if entry is None:
                continue
            targets, controls = entry[0], entry[1]
            if len(targets) == 1 and not controls:
                other = neighbour.get(targets[0])
                if other is not None and absorbs(merged[other]):
                    host = merged[other]
                    place = host[0].index(targets[0])
                    moved = tuple(Step(step.gate, (place,)) for step in entry[3])
                    host[3] = host[3] + moved if direction < 0 else moved + host[3]
                    merged[index] = None
                    continue
            for qubit in targets + controls:
                neighbour[qubit] = index

    fold(+1)  # into the next block on the qubit
    fold(-1)  # then what is left, into the previous one
    return [tuple(entry) for entry in merged if entry is not None]


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
