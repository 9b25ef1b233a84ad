"""The TensorFlow executor: batched state vectors simulated with TensorFlow ops.

Rows are grouped by their program's structure: the qubits each block acts on, in
order. A group is simulated as one ``[rows, 2**n]`` state, so a TFQ-style batch, with a
different constant data circuit per row followed by a shared model circuit, runs as a
single batch whose data blocks are stacked per row. Each group's simulation is traced
once into a ``tf.function`` (compiled by XLA with ``jit_compile=True``) and runs on a
GPU when TensorFlow sees one.

A block is applied by slicing the state on the block's qubits and combining the
slices with the block matrix entries, which XLA fuses into a few loops over the
state. Parameterized blocks are built from the symbol values with TensorFlow ops
(each gate as ``sum_m exp(i phase_m) matrix_m``, see :func:`gates.fourier_terms`),
so gradients with respect to ``symbol_values`` follow from automatic
differentiation, to any order, and the adjoint method needs no finite differences.

Example:
    >>> import cirq, qml
    >>> a, b = cirq.LineQubit.range(2)
    >>> bell = cirq.Circuit(cirq.H(a), cirq.CNOT(a, b))
    >>> op = qml.get_expectation_op("tensorflow")
    >>> np.round(op([bell], [], np.zeros((1, 0)), [[cirq.Z(a) * cirq.Z(b), cirq.X(a)]]), 4)
    array([[1., 0.]], dtype=float32)
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
from typing import Optional, Sequence

import cachetools
import numpy as np
import tensorflow as tf

from qml.circuits import compiler, expressions, gates
from qml.errors import NonFiniteValueError
from qml.executors.base import (
    PADDED_CIRCUIT_VALUE,
    Batch,
    Executor,
    operator_qubits,
    require_noiseless,
)



def _as_float64(value) -> tf.Tensor:
    # tf.cast would first make a Python float a float32 tensor, losing precision.
    return tf.cast(value, tf.float64) if tf.is_tensor(value) else tf.constant(value, tf.float64)


def _float64(function):
    return lambda *args: function(*(_as_float64(a) for a in args))


TF_FUNCTIONS = {name: _float64(f) for name, f in {
    "pow": tf.pow, "sin": tf.sin, "cos": tf.cos, "tan": tf.tan, "exp": tf.exp,
    "log": tf.math.log}.items()}
PRECISIONS = {"complex64": tf.complex64, "complex128": tf.complex128}
# Blocks on more qubits than this are applied with einsum instead of slices.
_MAX_SLICED_QUBITS = 3
_PLAN_CACHE_SIZE = 256
# One traced call simulates at most this many amplitudes (rows * 2**n).
_MAX_AMPLITUDES_PER_CALL = 2**22


# ------------------------------------------------------------------------ plans
@dataclasses.dataclass(frozen=True, eq=False)
class _Placed:
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
def _placed_blocks(row_program, block_qubits: Optional[int]) -> tuple[_Placed, ...]:
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
                  block_qubits: int) -> tuple[_Placed, ...]:
    """One segment's ops on the register; cached per program, so that rows sharing a
    model circuit share its parameterized blocks. Segments never merge their gates."""
    blocks = tuple(
        _Placed(block, tuple(positions[q] for q in block.controls + block.targets))
        for block in program.blocks)
    return blocks if block_qubits == 2 else _single_qubit_plan(blocks, num_qubits)


def plan_cost(plan: Sequence[_Placed], num_qubits: int) -> int:
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


def _single_qubit_plan(placed: Sequence[_Placed], num_qubits: int) -> tuple[_Placed, ...]:
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
            plan.append(_Placed(None, positions, content))
        elif kind == "run":
            plan.append(_Placed(compiler.make_block(positions, (), (), tuple(content)),
                                positions))
        else:
            plan.append(_Placed(content, positions))
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
def _structure_key(row_program, block_qubits: Optional[int]) -> tuple:
    """Rows with equal keys are simulated together: the same kind of op on the same
    qubits, and the same parameterized blocks (their matrices then come from one
    computation)."""
    return (row_program.num_qubits,) + tuple(
        (p.positions, id(p.block)) if p.symbolic else (p.positions, p.diagonal is None)
        for p in _placed_blocks(row_program, block_qubits))


def _symbolic_matrix(block: compiler.Block, columns: dict, rows: tf.Tensor,
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
        result = unitary if result is None else _small_matmul(unitary, result)
    if block.controls:  # the identity outside the controlled window, result inside it
        dim_t = 2**size
        outside = compiler.controlled(np.zeros((dim_t, dim_t)), block.control_values)
        start = compiler.control_offset(block.control_values, dim_t)
        end = outside.shape[0] - start - dim_t
        result = tf.constant(outside[None], dtype) + tf.pad(
            result, [[0, 0], [start, end], [start, end]])
    return result


def _small_matmul(left: tf.Tensor, right: tf.Tensor) -> tf.Tensor:
    """Batched product of small matrices as a broadcast multiply and sum, which XLA
    fuses; batched matmul of 4x4 matrices runs one tiny kernel per row."""
    return tf.reduce_sum(left[:, :, :, None] * right[:, None, :, :], axis=2)


# ------------------------------------------------------------- state kernels
def _split(state: tf.Tensor, positions: Sequence[int], num_qubits: int) -> dict:
    """Slices of a ``[rows, 2**n]`` state, one per basis state of ``positions``.

    Returns ``{bits: slice}`` with ``bits`` in the order of ``positions``; each slice
    has shape ``[rows, a_0, ..., a_k]`` over the other qubits.
    """
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    shape, previous = [-1], 0
    for i in order:
        shape += [2 ** (positions[i] - previous), 2]
        previous = positions[i] + 1
    shape.append(2 ** (num_qubits - previous))
    tensor = tf.reshape(state, shape)
    parts = {}
    for bits in itertools.product((0, 1), repeat=len(positions)):
        index = [slice(None)] * len(shape)
        for rank, i in enumerate(order):
            index[2 + 2 * rank] = bits[i]
        parts[bits] = tensor[tuple(index)]
    return parts


def _merge(parts: dict, positions: Sequence[int], num_qubits: int) -> tf.Tensor:
    """The inverse of :func:`_split`: a ``[rows, 2**n]`` state from its slices."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])

    def assemble(rank: int, bits: dict) -> tf.Tensor:
        if rank == len(order):
            return parts[tuple(bits[i] for i in range(len(positions)))]
        halves = [assemble(rank + 1, {**bits, order[rank]: b}) for b in (0, 1)]
        return tf.stack(halves, axis=2 + rank)

    return tf.reshape(assemble(0, {}), [-1, 2**num_qubits])


def _entries(matrix: tf.Tensor, rank: int) -> list[list[tf.Tensor]]:
    """Matrix entries ``[r][c]``, each shaped ``[rows or 1, 1, ..., 1]`` to broadcast."""
    dim = matrix.shape[-1]
    flat = tf.reshape(matrix, [-1, dim * dim] + [1] * rank)
    return [[flat[:, r * dim + c] for c in range(dim)] for r in range(dim)]


def apply_matrix(state: tf.Tensor, matrix: tf.Tensor, positions: Sequence[int],
                 num_qubits: int) -> tf.Tensor:
    """Applies ``[rows or 1, d, d]`` matrices on ``positions`` to a ``[rows, 2**n]`` state."""
    k = len(positions)
    if k > _MAX_SLICED_QUBITS:
        return _apply_einsum(state, matrix, positions, num_qubits)
    parts = _split(state, positions, num_qubits)
    keys = list(itertools.product((0, 1), repeat=k))
    entries = _entries(matrix, k + 1)
    out = {}
    for r, row_bits in enumerate(keys):
        total = None
        for c, col_bits in enumerate(keys):
            term = entries[r][c] * parts[col_bits]
            total = term if total is None else total + term
        out[row_bits] = total
    return _merge(out, positions, num_qubits)


def _apply_einsum(state: tf.Tensor, matrix: tf.Tensor, positions: Sequence[int],
                  num_qubits: int) -> tf.Tensor:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
    k = len(positions)
    qubits = letters[:num_qubits]
    outs = letters[num_qubits:num_qubits + k]
    ins = "".join(qubits[p] for p in positions)
    result = list(qubits)
    for i, p in enumerate(positions):
        result[p] = outs[i]
    tensor = tf.reshape(state, [-1] + [2] * num_qubits)
    gate = tf.reshape(matrix, [-1] + [2] * (2 * k))
    batch = "Z" if matrix.shape[0] != 1 else ""
    if not batch:
        gate = gate[0]
    product = tf.einsum(f"{batch}{outs}{ins},Z{qubits}->Z{''.join(result)}", gate, tensor)
    return tf.reshape(product, [-1, 2**num_qubits])


def overlap_matrix(bra: tf.Tensor, ket: tf.Tensor, positions: Sequence[int],
                   num_qubits: int) -> tf.Tensor:
    """``G[rows, r, c] = sum over other qubits of conj(bra_r) * ket_c`` on ``positions``.

    For ``bra = lambda`` after a block and ``ket = psi`` before it,
    ``<lambda| dU |psi> = sum(dU * G)``: the adjoint method's gradient of a block matrix.
    """
    k = len(positions)
    if k <= _MAX_SLICED_QUBITS:
        bras = _split(tf.math.conj(bra), positions, num_qubits)
        kets = _split(ket, positions, num_qubits)
        keys = list(itertools.product((0, 1), repeat=k))
        axes = list(range(1, k + 2))
        entries = [tf.reduce_sum(bras[r] * kets[c], axis=axes) for r in keys for c in keys]
        return tf.reshape(tf.stack(entries, axis=1), [-1, 2**k, 2**k])
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
    qubits = letters[:num_qubits]
    rows = "".join(qubits[p] for p in positions)
    cols = letters[num_qubits:num_qubits + k]
    ket_qubits = list(qubits)
    for i, p in enumerate(positions):
        ket_qubits[p] = cols[i]
    shape = [-1] + [2] * num_qubits
    overlap = tf.einsum(f"Z{qubits},Z{''.join(ket_qubits)}->Z{rows}{cols}",
                        tf.reshape(tf.math.conj(bra), shape), tf.reshape(ket, shape))
    return tf.reshape(overlap, [-1, 2**k, 2**k])


# ------------------------------------------------------------------ measurement
@dataclasses.dataclass(frozen=True)
class _Terms:
    """The distinct Pauli strings of a group's operators, grouped by their bit flips.

    ``flips[f]`` is a flip mask; ``signs[f]`` lists ``(sign mask, number of Ys)`` of
    the strings with that flip. Term ``t`` (in that order) has coefficients
    ``coefficients[row or 0, operator, t]``.
    """

    flips: tuple[int, ...]
    signs: tuple[tuple[tuple[int, int], ...], ...]


def _pauli_masks(paulis: tuple, num_qubits: int) -> tuple[int, int, int]:
    flip = sign = ys = 0
    for pauli, position in paulis:
        bit = 1 << (num_qubits - 1 - position)
        if pauli in ("X", "Y"):
            flip |= bit
        if pauli in ("Z", "Y"):
            sign |= bit
        ys += pauli == "Y"
    return flip, sign, ys


def _operator_terms(batch: Batch, rows: np.ndarray, num_qubits: int) -> tuple[_Terms, np.ndarray]:
    """Measurement terms of ``rows`` and their ``[rows or 1, n_ops, n_terms]`` weights."""
    distinct = {}
    for row in rows:
        distinct.setdefault(batch.operators[row], row)
    by_flip: dict[int, dict[tuple[int, int], None]] = collections.defaultdict(dict)
    parsed = {}
    for operator_row, row in distinct.items():
        parsed[operator_row] = []
        for op in operator_row:
            terms = []
            for coefficient, paulis in operator_qubits(batch.programs[row], op, int(row)):
                flip, sign, ys = _pauli_masks(paulis, num_qubits)
                by_flip[flip][(sign, ys)] = None
                terms.append((flip, sign, ys, coefficient))
            parsed[operator_row].append(terms)
    flips = tuple(sorted(by_flip))
    signs = tuple(tuple(by_flip[f]) for f in flips)
    index = {(f, s, y): i for i, (f, s, y) in enumerate(
        (f, s, y) for f, group in zip(flips, signs) for s, y in group)}
    shared = len(distinct) == 1
    weights = np.zeros((1 if shared else len(rows), batch.num_operators, len(index)))
    for out_row, row in enumerate(rows[:1] if shared else rows):
        for op, terms in enumerate(parsed[batch.operators[row]]):
            for flip, sign, ys, coefficient in terms:
                weights[out_row, op, index[(flip, sign, ys)]] += float(np.real(coefficient))
    return _Terms(flips, signs), weights


def _parity_signs(sign_masks: Sequence[int], num_qubits: int) -> np.ndarray:
    """``[2**n, len(sign_masks)]`` of (-1)**popcount(x & mask)."""
    x = np.arange(2**num_qubits, dtype=np.int64)[:, None]
    masked = x & np.asarray(sign_masks, dtype=np.int64)[None, :]
    parity = np.zeros_like(masked)
    while masked.any():
        parity ^= masked & 1
        masked = masked >> 1
    return 1.0 - 2.0 * parity


def measure(state: tf.Tensor, terms: _Terms, weights: tf.Tensor, num_qubits: int) -> tf.Tensor:
    """``[rows, n_ops]`` expectation values of the weighted Pauli strings."""
    real = state.dtype.real_dtype
    values = []
    for flip, group in zip(terms.flips, terms.signs):
        signs = _parity_signs([s for s, _ in group], num_qubits)
        if flip == 0:
            probabilities = tf.math.real(state * tf.math.conj(state))
            values.append(tf.matmul(probabilities, tf.constant(signs, real)))
            continue
        partner = tf.gather(state, np.arange(2**num_qubits) ^ flip, axis=1)
        products = tf.math.conj(partner) * state
        sums = tf.matmul(products, tf.constant(signs, state.dtype))
        phases = np.array([1j**ys for _, ys in group])
        values.append(tf.math.real(sums * tf.constant(phases[None], state.dtype)))
    if not values:
        return tf.zeros([tf.shape(state)[0], weights.shape[1]], real)
    term_values = tf.concat(values, axis=1)
    if weights.shape[0] == 1:  # the same operators on every row
        return tf.einsum("rt,ot->ro", term_values, tf.cast(weights[0], real))
    return tf.einsum("rt,rot->ro", term_values, tf.cast(weights, real))


# ----------------------------------------------------------------- the executor
@dataclasses.dataclass(frozen=True, eq=False)
class _Plan:
    """How one group of rows is simulated."""

    num_qubits: int
    blocks: tuple[_Placed, ...]
    terms: _Terms


@tf.custom_gradient
def _with_dense_gradient(values: tf.Tensor):
    """``values``, whose gradient arrives as a dense tensor even when the rows were
    gathered (whose gradient TensorFlow gives as ``tf.IndexedSlices``)."""
    return tf.identity(values), tf.convert_to_tensor


class TensorflowExecutor(Executor):
    """Simulates batches of programs as ``[rows, 2**n]`` state vectors in TensorFlow.

    Args:
        precision: ``"complex64"`` (default) or ``"complex128"``.
        jit_compile: compile each group's simulation with XLA.
        block_qubits: apply gates in single-qubit runs with constant diagonal gates
            combined (1), or packed into two-qubit blocks (2); None (default) chooses
            per program by :func:`plan_cost`.

    Raises:
        ValueError: for an unknown ``precision`` or ``block_qubits``.
        TypeError: for a ``jit_compile`` that is not a bool.

    Example:
        >>> TensorflowExecutor(precision="complex128").dtype
        tf.complex128
    """

    name = "tensorflow"

    def __init__(self, precision: str = "complex64", jit_compile: bool = True,
                 block_qubits: Optional[int] = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if not isinstance(jit_compile, bool):
            raise TypeError(f"jit_compile must be a bool, got {jit_compile!r}")
        if block_qubits not in (None, 1, 2):
            raise ValueError(f"block_qubits must be None, 1 or 2, got {block_qubits!r}")
        self.block_qubits = block_qubits
        self.precision = precision
        self.dtype = PRECISIONS[precision]
        self.jit_compile = jit_compile
        self._functions: cachetools.LRUCache = cachetools.LRUCache(maxsize=_PLAN_CACHE_SIZE)
        self._functions_lock = threading.Lock()

    # -- public interface
    def expectation(self, batch: Batch) -> np.ndarray:
        values = tf.constant(batch.symbol_values, tf.float32)
        return self.expectation_tensor(batch, values).numpy()

    def expectation_tensor(self, batch: Batch, symbol_values: tf.Tensor) -> tf.Tensor:
        """``[batch, n_ops]`` expectations, differentiable in ``symbol_values`` by
        TensorFlow's automatic differentiation (also to higher orders).

        The values are float32 in complex64 precision and float64 in complex128.
        """
        groups = self._run_groups(batch, symbol_values, "expectation")
        result = _stitch([rows for rows, _ in groups], [out for _, out in groups], batch)
        if tf.executing_eagerly():
            _require_finite(result.numpy())
        return result

    def expectation_and_states(self, batch: Batch) -> tuple[np.ndarray, list[np.ndarray]]:
        """``[batch, n_ops]`` expectations and each row's final state, from one pass.

        Rows without a state to keep (padding, or no operators) get ``[1]``.
        """
        values = tf.constant(batch.symbol_values, tf.float32)
        groups = self._run_groups(batch, values, "expectation_state")
        result = _stitch([rows for rows, _ in groups], [out[0] for _, out in groups],
                         batch).numpy()
        _require_finite(result)
        states = [np.ones([1], self.dtype.as_numpy_dtype)] * batch.batch_size
        for rows, (_, out) in groups:
            for row, state in zip(rows, out.numpy()):
                states[row] = state
        return result, states

    def _run_groups(self, batch: Batch, symbol_values: tf.Tensor, kind: str) -> list:
        """``(rows, outputs)`` of the traced ``kind`` function for each group of rows."""
        require_noiseless(batch, "tensorflow")
        results = []
        for plan, rows, constants, weights in self._groups(batch):
            whole = len(rows) == batch.batch_size  # then rows is 0, 1, ..., batch - 1
            values = symbol_values if whole else tf.gather(symbol_values, rows)
            function = self._function(kind, plan, batch.symbol_names)
            results.append((rows, function(values, constants, weights)))
        return results

    def adjoint_gradient(self, batch: Batch, upstream: np.ndarray,
                         final_states: Optional[Sequence[np.ndarray]] = None) -> np.ndarray:
        """``[batch, n_symbols]`` gradient of ``sum(upstream * expectation)``.

        One backward sweep per group: the final state is un-computed block by block
        while the adjoint state carries the upstream gradient, and each
        parameterized block's matrix gradient is contracted with the exact derivative
        of its matrix with respect to the symbols.

        Args:
            final_states: optional final states per row, kept by this executor's
                forward pass; otherwise the forward pass runs here.
        """
        require_noiseless(batch, "tensorflow")
        grad = np.zeros(batch.symbol_values.shape, np.float32)
        values = tf.constant(batch.symbol_values, tf.float32)
        for plan, rows, constants, weights in self._groups(batch):
            if not any(p.symbolic for p in plan.blocks):
                continue
            up = tf.constant(upstream[rows], self.dtype.real_dtype)
            function = self._function("adjoint", plan, batch.symbol_names)
            args = [tf.gather(values, rows), constants, weights, up]
            if final_states is not None:
                args.append(tf.constant(np.stack([final_states[r] for r in rows]), self.dtype))
            grad[rows] = function(*args).numpy()
        return grad

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        """Each row's final state vector, ``[2**n]``, in Cirq's qubit order."""
        values = tf.constant(batch.symbol_values, tf.float32)
        return [state.numpy() for state in self.final_states_tensor(batch, values)]

    def final_states_tensor(self, batch: Batch, symbol_values: tf.Tensor) -> list[tf.Tensor]:
        """Each row's final state ``[2**n]`` (``[1]`` for an empty circuit), as
        TensorFlow ops differentiable in ``symbol_values``."""
        require_noiseless(batch, "tensorflow")
        states = [tf.ones([1], self.dtype)] * batch.batch_size
        symbol_values = _with_dense_gradient(symbol_values)
        for plan, rows, constants, _ in self._groups(batch, with_operators=False):
            function = self._function("state", plan, batch.symbol_names)
            out = function(tf.gather(symbol_values, rows), constants)
            for row, state in zip(rows, tf.unstack(out)):
                states[row] = state
        return states

    # -- grouping
    def _groups(self, batch: Batch, with_operators: bool = True):
        """Yields ``(plan, rows, constants, weights)`` per group of rows.

        A group is cut into calls of at most ``_MAX_AMPLITUDES_PER_CALL`` amplitudes,
        which bounds memory on wide registers (20 qubits: 4 rows per call). Without
        operators (for states) the plan has no terms and the weights are None.
        """
        groups: dict[tuple, list[int]] = {}
        for row, program in enumerate(batch.programs):
            if program.num_qubits and (batch.num_operators or not with_operators):
                key = _structure_key(program, self.block_qubits)
                groups.setdefault(key, []).append(row)
        chunks = []
        for rows in groups.values():
            size = max(1, _MAX_AMPLITUDES_PER_CALL >> batch.programs[rows[0]].num_qubits)
            chunks += [rows[start:start + size] for start in range(0, len(rows), size)]
        for rows in chunks:
            rows = np.asarray(rows)
            first = batch.programs[rows[0]]
            num_qubits = first.num_qubits
            terms, weights = _operator_terms(batch, rows, num_qubits) if with_operators \
                else (_Terms((), ()), None)
            placed = _placed_blocks(first, self.block_qubits)
            plan = _Plan(num_qubits, placed, terms)
            shared = all(batch.programs[r] is first for r in rows)
            row_plans = [placed] if shared else \
                [_placed_blocks(batch.programs[r], self.block_qubits) for r in rows]
            constants = [
                tf.constant(np.stack([row_plan[index].constant for row_plan in row_plans]),
                            self.dtype)
                for index, block in enumerate(placed) if not block.symbolic]
            yield plan, rows, constants, (
                None if weights is None else tf.constant(weights, self.dtype.real_dtype))

    # -- traced functions
    def _function(self, kind: str, plan: _Plan, symbol_names: tuple[str, ...]):
        key = (kind, _plan_key(plan), symbol_names)
        with self._functions_lock:
            function = self._functions.get(key)
        if function is not None:
            return function
        builder = {"expectation": self._expectation_fn, "adjoint": self._adjoint_fn,
                   "state": self._state_fn,
                   "expectation_state": self._expectation_state_fn}[kind]
        function = tf.function(builder(plan, symbol_names),
                               jit_compile=self.jit_compile, reduce_retracing=True,
                               autograph=False)
        with self._functions_lock:
            self._functions[key] = function
        return function

    def _matrices(self, plan: _Plan, symbol_names, values: tf.Tensor, constants) -> list:
        index = {name: i for i, name in enumerate(symbol_names)}
        rows = tf.shape(values)[0]
        columns = {name: tf.cast(values[:, i], tf.float64) for name, i in index.items()}
        matrices, constant_iter = [], iter(constants)
        for placed in plan.blocks:
            if placed.symbolic:
                matrices.append(_symbolic_matrix(placed.block, columns, rows, self.dtype))
            else:
                matrices.append(next(constant_iter))
        return matrices

    def _simulate(self, plan: _Plan, matrices: list, rows: tf.Tensor) -> tf.Tensor:
        state = tf.one_hot(tf.zeros([rows], tf.int32), 2**plan.num_qubits, dtype=self.dtype)
        for placed, matrix in zip(plan.blocks, matrices):
            state = _apply(state, placed, matrix, plan.num_qubits)
        return state

    def _expectation_fn(self, plan: _Plan, symbol_names):
        def expectation(values, constants, weights):
            matrices = self._matrices(plan, symbol_names, values, constants)
            state = self._simulate(plan, matrices, tf.shape(values)[0])
            return measure(state, plan.terms, weights, plan.num_qubits)
        return expectation

    def _expectation_state_fn(self, plan: _Plan, symbol_names):
        def expectation_state(values, constants, weights):
            matrices = self._matrices(plan, symbol_names, values, constants)
            state = self._simulate(plan, matrices, tf.shape(values)[0])
            return measure(state, plan.terms, weights, plan.num_qubits), state
        return expectation_state

    def _state_fn(self, plan: _Plan, symbol_names):
        def state(values, constants):
            matrices = self._matrices(plan, symbol_names, values, constants)
            return self._simulate(plan, matrices, tf.shape(values)[0])
        return state

    def _adjoint_fn(self, plan: _Plan, symbol_names):
        n = plan.num_qubits

        def adjoint(values, constants, weights, upstream, state=None):
            matrix_tape = tf.GradientTape(watch_accessed_variables=False)
            with matrix_tape:
                matrix_tape.watch(values)
                matrices = self._matrices(plan, symbol_names, values, constants)
            if state is None:
                state = self._simulate(plan, matrices, tf.shape(values)[0])
            with tf.GradientTape() as tape:
                tape.watch(state)
                loss = tf.reduce_sum(upstream * measure(state, plan.terms, weights, n))
            # TF's gradient of a real loss is 2 dL/d(conj psi), so this is H psi.
            adjoint_state = tape.gradient(loss, state) / 2
            overlaps = {}
            rows = tf.shape(state)[0]
            # psi and lambda are un-applied together, as one batch of 2 * rows states.
            both = tf.concat([state, adjoint_state], axis=0)
            for index in range(len(plan.blocks) - 1, -1, -1):
                placed, matrix = plan.blocks[index], matrices[index]
                inverse = tf.math.conj(matrix) if placed.diagonal is not None \
                    else tf.linalg.adjoint(matrix)
                if inverse.shape[0] != 1:
                    inverse = tf.concat([inverse, inverse], axis=0)
                if placed.symbolic:
                    # <lambda| dU |psi before> with psi before = U^dagger psi after: the
                    # overlap of the states after the block, times conj(U). Both come
                    # from the states that the un-apply reads, in the same pass.
                    overlaps[index] = _small_matmul(
                        overlap_matrix(both[rows:], both[:rows], placed.positions, n),
                        tf.math.conj(matrix))
                both = _apply(both, placed, inverse, n)
                if placed.symbolic:
                    both = _after(both, overlaps[index])
            # d(loss)/d(values) = 2 Re sum(dU * G) over the parameterized blocks U: the
            # gradient of each block matrix's entries is conj(G), pulled back to values.
            symbolic = sorted(overlaps)
            return 2 * matrix_tape.gradient(
                [matrices[i] for i in symbolic], values,
                output_gradients=[tf.math.conj(overlaps[i]) for i in symbolic])

        return adjoint  # traced once without a final state and once with one


def _require_finite(expectations: np.ndarray) -> None:
    if not np.isfinite(expectations).all():
        raise NonFiniteValueError(
            "a gate parameter evaluates to NaN or infinity for the given symbol_values")


def _apply(state: tf.Tensor, placed: _Placed, matrix: tf.Tensor, num_qubits: int) -> tf.Tensor:
    """Applies a placed block's matrix, or its register-wide diagonal, to ``state``."""
    if placed.diagonal is not None:
        return state * matrix
    return apply_matrix(state, matrix, placed.positions, num_qubits)


def _after(state: tf.Tensor, overlap: tf.Tensor) -> tf.Tensor:
    """``state``, made to depend on ``overlap`` (adding zero), so that the next block
    waits for this overlap. Otherwise XLA may schedule every overlap after the sweep
    and keep every intermediate state alive: gigabytes at 20 qubits."""
    zero = tf.zeros_like(tf.math.real(overlap[:1, :1, 0])) * tf.math.real(overlap[:1, :1, 0])
    return state + tf.cast(tf.stop_gradient(zero), state.dtype)


def _plan_key(plan: _Plan) -> tuple:
    blocks = tuple((p.positions, id(p.block) if p.symbolic else p.diagonal is None)
                   for p in plan.blocks)
    return plan.num_qubits, blocks, plan.terms


def _stitch(indices: list, outputs: list, batch: Batch) -> tf.Tensor:
    """Puts each group's rows back in batch order; padding rows get TFQ's values."""
    dtype = outputs[0].dtype if outputs else tf.float32
    padded = [r for r, p in enumerate(batch.programs) if not p.num_qubits]
    if padded:
        indices = indices + [np.asarray(padded)]
        outputs = outputs + [tf.fill([len(padded), batch.num_operators],
                                     tf.constant(PADDED_CIRCUIT_VALUE, dtype))]
    covered = sum(len(i) for i in indices)
    if covered < batch.batch_size:  # no operators: every row is [n_ops = 0]
        return tf.zeros([batch.batch_size, batch.num_operators], dtype)
    if len(outputs) == 1:
        return outputs[0]
    return tf.dynamic_stitch([tf.constant(i, tf.int32) for i in indices], outputs)
