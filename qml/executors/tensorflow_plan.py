"""The TensorFlow executor's plans: which blocks a group of rows applies, in which
form (the compiler's blocks, or single-qubit runs with constant diagonals combined),
what each plan costs, and the TensorFlow ops that build a parameterized block's
matrix from symbol values."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from qml.circuits import compiler, expressions, gates


def _as_float64(value) -> tf.Tensor:
    # tf.cast would first make a Python float a float32 tensor, losing precision.
    return tf.cast(value, tf.float64) if tf.is_tensor(value) else tf.constant(value, tf.float64)


def _float64(function):
    return lambda *args: function(*(_as_float64(a) for a in args))


TF_FUNCTIONS = {name: _float64(f) for name, f in {
    "pow": tf.pow, "sin": tf.sin, "cos": tf.cos, "tan": tf.tan, "exp": tf.exp,
    "log": tf.math.log}.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class Placed:
    """A block placed on a row's register: ``positions`` are its controls, then targets.

    A ``diagonal`` holds the ``[2**n]`` diagonal of constant diagonal gates combined on
    the whole register; ``block`` is then None and ``positions`` all qubits.
    """

    block: Optional[compiler.Block]
    positions: tuple[int, ...]
    diagonal: Optional[np.ndarray] = None

    @property
    def symbolic(self) -> bool:
        return self.diagonal is None and self.block.constant is None

    @property
    def constant(self) -> np.ndarray:
        """The constant ``[d, d]`` matrix, or the ``[2**n]`` diagonal."""
        return self.diagonal if self.diagonal is not None else self.block.controlled_constant


@compiler.cached_on_program
def placed_blocks(row_program, block_qubits: Optional[int]) -> tuple[Placed, ...]:
    """The row's ops: two-qubit blocks (2), single-qubit runs and combined diagonals
    (1), or whichever :func:`plan_cost` finds cheaper (None)."""
    plans = {k: sum((_segment_plan(segment.program, segment.positions, row_program.num_qubits,
                                   k) for segment in row_program.segments), ())
             for k in (1, 2)}
    if block_qubits is None:
        return min(plans.values(), key=lambda plan: plan_cost(plan, row_program.num_qubits))
    return plans[block_qubits]


@compiler.cached_on_program
def _segment_plan(program: compiler.Program, positions: tuple[int, ...], num_qubits: int,
                  block_qubits: int) -> tuple[Placed, ...]:
    """One segment's ops on the register; cached per program, so that rows sharing a
    model circuit share its parameterized blocks. Segments never merge their gates."""
    blocks = tuple(
        Placed(block, tuple(positions[q] for q in block.controls + block.targets))
        for block in program.blocks)
    return blocks if block_qubits == 2 else _single_qubit_plan(blocks, num_qubits)


def plan_cost(plan: Sequence[Placed], num_qubits: int) -> int:
    """Estimated work per row of a forward and backward pass, in complex products.

    Applying a k-qubit matrix costs ``2**n * 2**k``, and its adjoint overlap the same
    again with ``4**k`` for a parameterized one; building a parameterized block's
    matrix costs ``8**k`` per gate. Few qubits therefore favour single-qubit runs, and
    circuits dense in two-qubit gates favour two-qubit blocks (measured in
    docs/backends.md).
    """
    cost = 0
    for placed in plan:
        dim = 2 ** len(placed.positions) if placed.diagonal is None else 1
        cost += 2 * 2**num_qubits * dim
        if placed.symbolic:
            cost += 2**num_qubits * dim * dim + len(placed.block.steps) * dim**3
    return cost


def _single_qubit_plan(placed: Sequence[Placed], num_qubits: int) -> tuple[Placed, ...]:
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
            ops[before][2].append(compiler.Step(gate, (0,)))
            continue
        diagonal = _constant_diagonal(gate, control_values, qubits, num_qubits)
        if diagonal is not None and latest_diagonal >= max(before, 0):
            ops[latest_diagonal][2] = ops[latest_diagonal][2] * diagonal
            index = latest_diagonal
        elif diagonal is not None:
            ops.append(["diagonal", tuple(range(num_qubits)), diagonal])
            index = latest_diagonal = len(ops) - 1
        elif controls or len(targets) > 1:
            ops.append(["gate", qubits, compiler.make_block(
                targets, controls, control_values,
                (compiler.Step(gate, tuple(range(len(targets)))),))])
            index = len(ops) - 1
        else:
            ops.append(["run", targets, [compiler.Step(gate, (0,))]])
            index = len(ops) - 1
        last.update({q: index for q in qubits})
    plan = []
    for kind, positions, content in ops:
        if kind == "diagonal":
            plan.append(Placed(None, positions, content))
        elif kind == "run":
            plan.append(Placed(compiler.make_block(positions, (), (), tuple(content)),
                                positions))
        else:
            plan.append(Placed(content, positions))
    return tuple(plan)


def _constant_diagonal(gate: compiler.Gate, control_values: tuple[int, ...],
                       qubits: tuple[int, ...], num_qubits: int) -> Optional[np.ndarray]:
    """The ``[2**n]`` diagonal of a constant diagonal gate on ``qubits``, else None."""
    if gate.constant is None:
        return None
    matrix = compiler.controlled(gate.constant[0], control_values)
    entries = np.diagonal(matrix)
    if np.count_nonzero(matrix - np.diag(entries)):
        return None
    basis = np.arange(2**num_qubits)
    index = np.zeros_like(basis)
    for qubit in qubits:
        index = (index << 1) | ((basis >> (num_qubits - 1 - qubit)) & 1)
    return entries[index]


@compiler.cached_on_program
def structure_key(row_program, block_qubits: Optional[int]) -> tuple:
    """Rows with equal keys are simulated together: the same kind of op on the same
    qubits, and the same parameterized blocks (their matrices then come from one
    computation)."""
    return (row_program.num_qubits,) + tuple(
        (p.positions, id(p.block)) if p.symbolic else (p.positions, p.diagonal is None)
        for p in placed_blocks(row_program, block_qubits))


def symbolic_matrix(block: compiler.Block, columns: dict, rows: tf.Tensor,
                     dtype: tf.DType) -> tf.Tensor:
    """``[rows, d, d]`` matrix of a parameterized block on its controls and targets."""
    size = len(block.targets)
    result = None
    for step in block.steps:
        if step.gate.constant is not None:
            unitary = tf.constant(compiler.embed(step.gate.constant[0], step.places, size)[None],
                                  dtype)
        else:
            phases, matrices = compiler.embedded_terms(step, size)
            values = {name: expressions.evaluate(step.gate.fields[name], columns, TF_FUNCTIONS)
                      for name in gates.KIND_PARAMS[step.gate.kind]}
            angle = tf.stack([tf.broadcast_to(_as_float64(gates.phase_value(p, values)),
                                              [rows]) for p in phases], axis=1)
            factors = tf.cast(tf.complex(tf.cos(angle), tf.sin(angle)), dtype)
            unitary = tf.reduce_sum(factors[:, :, None, None] * tf.constant(matrices, dtype),
                                    axis=1)
        result = unitary if result is None else small_matmul(unitary, result)
    if block.controls:  # the identity outside the controlled window, result inside it
        dim_t = 2**size
        outside = compiler.controlled(np.zeros((dim_t, dim_t)), block.control_values)
        start = compiler.control_offset(block.control_values, dim_t)
        end = outside.shape[0] - start - dim_t
        result = tf.constant(outside[None], dtype) + tf.pad(
            result, [[0, 0], [start, end], [start, end]])
    return result


def small_matmul(left: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
    """Batched product of small matrices as a broadcast multiply and sum, which XLA
    fuses; batched matmul of 4x4 matrices runs one tiny kernel per row."""
    return tf.reduce_sum(left[:, :, :, None] * right[:, None, :, :], axis=2)
