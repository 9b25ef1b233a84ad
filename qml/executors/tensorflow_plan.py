"""The TensorFlow executor's plans: which of the two fusion plans
(:mod:`qml.circuits.fusion`) a group of rows applies, what each plan costs, and the
TensorFlow ops that build a parameterized block's matrix from symbol values."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from qml.circuits import blocks, compiler, expressions, fusion, gates
from qml.circuits.fusion import Placed


def _as_float64(value) -> tf.Tensor:
    # tf.cast would first make a Python float a float32 tensor, losing precision.
    return tf.cast(value, tf.float64) if tf.is_tensor(value) else tf.constant(value, tf.float64)


def _float64(function):
    return lambda *args: function(*(_as_float64(a) for a in args))


TF_FUNCTIONS = {name: _float64(f) for name, f in {
    "pow": tf.pow, "sin": tf.sin, "cos": tf.cos, "tan": tf.tan, "exp": tf.exp,
    "log": tf.math.log}.items()}


@compiler.cached_on_program
def placed_blocks(row_program, block_qubits: Optional[int]) -> tuple[Placed, ...]:
    """The row's ops: the compiler's blocks (2), :func:`fusion.gate_runs` (1), or
    whichever :func:`plan_cost` finds cheaper (None); only the plans asked for are
    built."""
    if block_qubits is None:
        return min((placed_blocks(row_program, k) for k in (1, 2)),
                   key=lambda plan: plan_cost(plan, row_program.num_qubits))
    return sum((_segment_plan(segment.program, segment.positions, row_program.num_qubits,
                              block_qubits) for segment in row_program.segments), ())


@compiler.cached_on_program
def _segment_plan(program: compiler.Program, positions: tuple[int, ...], num_qubits: int,
                  block_qubits: int) -> tuple[Placed, ...]:
    """One segment's ops on the register; cached per program, so that rows sharing a
    model circuit share its parameterized blocks. Segments never merge their gates."""
    placed = tuple(
        Placed(block, tuple(positions[q] for q in block.controls + block.targets))
        for block in program.blocks)
    return placed if block_qubits == 2 else fusion.gate_runs(placed, num_qubits)


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


@compiler.cached_on_program
def structure_key(row_program, block_qubits: Optional[int]) -> tuple:
    """Rows with equal keys are simulated together: the same kind of op on the same
    qubits, and the same parameterized blocks (their matrices then come from one
    computation)."""
    return (row_program.num_qubits,) + tuple(
        (p.positions, id(p.block)) if p.symbolic else (p.positions, p.diagonal is None)
        for p in placed_blocks(row_program, block_qubits))


def symbolic_matrix(block: blocks.Block, columns: dict, rows: tf.Tensor,
                     dtype: tf.DType) -> tf.Tensor:
    """``[rows, d, d]`` matrix of a parameterized block on its controls and targets."""
    size = len(block.targets)
    result = None
    for step in block.steps:
        if step.gate.constant is not None:
            unitary = tf.constant(blocks.embed(step.gate.constant[0], step.places, size)[None],
                                  dtype)
        else:
            phases, matrices = blocks.embedded_terms(step, size)
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
        outside = blocks.controlled(np.zeros((dim_t, dim_t)), block.control_values)
        start = blocks.control_offset(block.control_values, dim_t)
        end = outside.shape[0] - start - dim_t
        result = tf.constant(outside[None], dtype) + tf.pad(
            result, [[0, 0], [start, end], [start, end]])
    return result


def small_matmul(left: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
    """Batched product of small matrices as a broadcast multiply and sum, which XLA
    fuses; batched matmul of 4x4 matrices runs one tiny kernel per row."""
    return tf.reduce_sum(left[:, :, :, None] * right[:, None, :, :], axis=2)
