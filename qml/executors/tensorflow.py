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

import dataclasses
import threading
from typing import Optional, Sequence

import cachetools
import numpy as np
import tensorflow as tf

from qml.circuits.fusion import Placed
from qml.errors import NonFiniteValueError
from qml.executors.base import (
    PADDED_CIRCUIT_VALUE,
    Batch,
    Executor,
    require_noiseless,
)
from qml.executors.tensorflow_kernels import apply_matrix, overlap_matrix
from qml.executors.tensorflow_measurement import Terms, measure, operator_terms
from qml.executors.tensorflow_plan import (
    placed_blocks,
    small_matmul,
    structure_key,
    symbolic_matrix,
)

PRECISIONS = {"complex64": tf.complex64, "complex128": tf.complex128}
_PLAN_CACHE_SIZE = 256
# One traced call simulates at most this many amplitudes (rows * 2**n).
_MAX_AMPLITUDES_PER_CALL = 2**22


@dataclasses.dataclass(frozen=True, eq=False)
class _Plan:
    """How one group of rows is simulated."""

    num_qubits: int
    blocks: tuple[Placed, ...]
    terms: Terms


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
    capabilities = frozenset({"final_states", "adjoint_gradient"})

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

    def expectation_and_kept(self, batch: Batch) -> tuple[np.ndarray, list[np.ndarray]]:
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
                key = structure_key(program, self.block_qubits)
                groups.setdefault(key, []).append(row)
        chunks = []
        for rows in groups.values():
            size = max(1, _MAX_AMPLITUDES_PER_CALL >> batch.programs[rows[0]].num_qubits)
            chunks += [rows[start:start + size] for start in range(0, len(rows), size)]
        for rows in chunks:
            rows = np.asarray(rows)
            first = batch.programs[rows[0]]
            num_qubits = first.num_qubits
            terms, weights = operator_terms(batch, rows, num_qubits) if with_operators \
                else (Terms((), ()), None)
            placed = placed_blocks(first, self.block_qubits)
            plan = _Plan(num_qubits, placed, terms)
            shared = all(batch.programs[r] is first for r in rows)
            row_plans = [placed] if shared else \
                [placed_blocks(batch.programs[r], self.block_qubits) for r in rows]
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
                matrices.append(symbolic_matrix(placed.block, columns, rows, self.dtype))
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
                    overlaps[index] = small_matmul(
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


def _apply(state: tf.Tensor, placed: Placed, matrix: tf.Tensor, num_qubits: int) -> tf.Tensor:
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
