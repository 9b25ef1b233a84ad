"""The TensorFlow ops behind the layers: expectations (with their custom gradient),
samples, states and unitaries, and TFQ's ``get_*_op`` factories.

The layers, ``qml.math`` and ``qml.noise`` call these ops; the ops call the
differentiators and executors, which work on numpy batches. Arguments are made
uniform by :mod:`qml.tensors`.

:func:`expectation` runs an executor on string tensors of circuits and operators.
Executing eagerly it calls the executor directly, so bad input raises qml's typed
errors; inside ``tf.function`` and ``model.fit`` it runs as a ``tf.numpy_function``.
Its gradient with respect to ``symbol_values`` comes from the layer's differentiator,
``Adjoint`` by default. With ``Autodiff`` and the TensorFlow executor the simulation
itself is made of TensorFlow ops (inside a ``tf.py_function`` in graph mode).

Example:
    >>> import cirq
    >>> from qml.executors import get_executor
    >>> q = cirq.LineQubit(0)
    >>> out = expectation(get_executor(None), None,
    ...                   as_circuit_tensor([cirq.Circuit(cirq.X(q))]), as_symbol_names([]),
    ...                   tf.zeros([1, 0]), as_operator_tensor([cirq.Z(q)]))
    >>> out.numpy()
    array([[-1.]], dtype=float32)
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
from typing import Any, Optional

import cachetools
import keras
import numpy as np
import tensorflow as tf

try:  # TensorFlow's query of its gradient tapes; internal, so optional
    from tensorflow.python.eager.record import should_record_backprop as _should_record_backprop
except ImportError:
    _should_record_backprop = None

from qml.circuits import serialize
from qml.differentiators import Adjoint, Autodiff, Differentiator, ParameterShift
from qml.errors import BatchSizeError
from qml.executors.base import (
    Batch,
    Estimation,
    Executor,
    check_repetitions,
    evaluate,
    prepare,
)
from qml.executors.tensorflow import TensorflowExecutor
from qml.tensors import (
    as_circuit_tensor,
    as_operator_tensor,
    as_symbol_names,
    as_symbol_values,
    eager_call,
    numpy_call,
)


def string_op(function, inputs: list[tf.Tensor], shape: tf.TensorShape) -> tf.Tensor:
    """``function`` on the numpy values of ``inputs``, giving a ``tf.string`` tensor
    of ``shape`` (see :func:`qml.tensors.numpy_call`)."""
    out, = numpy_call(lambda *values: (function(*values),), inputs,
                      [(tf.string, shape.rank)])
    out.set_shape(shape)
    return out


def join_circuits(circuits: tf.Tensor, added: tf.Tensor, *, added_first: bool,
                  argument: str) -> tf.Tensor:
    """``tf.string [batch]``: each row of ``circuits`` followed (or, with
    ``added_first``, preceded) by its row of ``added``.

    Raises:
        BatchSizeError: if ``added`` (named ``argument``) has another length.
    """
    def join(rows: np.ndarray, extra: np.ndarray) -> np.ndarray:
        if len(rows) != len(extra):
            raise BatchSizeError(f"{argument} has {len(extra)} circuits for {len(rows)} "
                                 "input circuits")
        pairs = zip(extra, rows) if added_first else zip(rows, extra)
        return np.array([serialize.join_rows(bytes(a), bytes(b)) for a, b in pairs],
                        dtype=object).reshape(len(rows))

    return string_op(join, [circuits, added], circuits.shape)


def expectation(
    executor: Executor,
    differentiator: Optional[Differentiator],
    circuits: tf.Tensor,
    symbol_names: tf.Tensor,
    symbol_values: tf.Tensor,
    operators: tf.Tensor,
    appended: Optional[tf.Tensor] = None,
    repetitions: Optional[tf.Tensor] = None,
    sampled: bool = False,
    seed: Optional[tf.Tensor] = None,
) -> tf.Tensor:
    """``[batch, n_ops]`` float32 expectation values, differentiable in symbol_values.

    Args:
        executor: the executor that simulates.
        differentiator: computes gradients; None means ``Adjoint`` for exact values
            and ``ParameterShift`` for sampled or noisy ones.
        circuits: ``tf.string [batch]`` serialized circuits.
        symbol_names: ``tf.string [n_symbols]``.
        symbol_values: ``float32 [batch, n_symbols]``.
        operators: ``tf.string [batch, n_ops]`` serialized Pauli sums, or
            ``[n_ops]``: the same operators for every circuit.
        appended: optional ``tf.string [batch]`` circuits appended to ``circuits``.
        repetitions: optional ``int [batch, n_ops]``: shots per operator when
            ``sampled``, else noise trajectories per operator. None for exact values.
        sampled: estimate from measurement shots.
        seed: ``int64`` scalar seeding the shots and trajectories.
    """
    if differentiator is None:
        differentiator = Adjoint() if repetitions is None else ParameterShift()
    num_ops = operators.shape[-1] if operators.shape.rank is not None else None
    if isinstance(differentiator, Autodiff):
        if repetitions is not None:
            raise TypeError("Autodiff differentiates exact expectations only; use "
                            "ParameterShift for sampled or noisy ones")
        extra = appended if appended is not None else tf.zeros([0], tf.string)
        return _autodiff_expectation(executor, circuits, symbol_names,
                                     tf.cast(symbol_values, tf.float32), operators, extra,
                                     num_ops)
    estimated = repetitions is not None

    def estimating(batch: Optional[Batch], reps: Optional[np.ndarray],
                   seed: int) -> Optional[Batch]:
        if batch is None or not estimated:
            return batch
        return dataclasses.replace(batch, estimation=Estimation(
            check_repetitions(reps, (batch.batch_size, batch.num_operators)),
            sampled=sampled, seed=None if seed < 0 else int(seed)))

    def batch_of(rows, names, values, ops, extra_rows, reps, seed) -> Optional[Batch]:
        if len(rows) == 0:
            return None
        batch = prepare(list(rows), list(names), values, ops, list(extra_rows),
                        state_vectors=executor.simulates_state_vectors)
        return estimating(batch, reps, seed)

    def eager_batch(values: tf.Tensor, reps: Optional[tf.Tensor],
                    seed: Optional[tf.Tensor]) -> Optional[Batch]:
        batch = _EAGER_BATCHES.batch(circuits, symbol_names, values.numpy(), operators,
                                     appended, executor.simulates_state_vectors)
        return estimating(batch, tf.cast(reps, tf.int64).numpy() if estimated else None,
                          -1 if seed is None else int(seed))

    def value(batch: Optional[Batch], ops: np.ndarray) -> np.ndarray:
        if batch is None:
            return np.zeros((0, ops.shape[-1]), np.float32)
        return np.asarray(evaluate(executor, batch), np.float32)

    def gradient(batch: Optional[Batch], names: np.ndarray, upstream: np.ndarray) -> np.ndarray:
        if batch is None:
            return np.zeros((0, len(names)), np.float32)
        if estimated:
            return differentiator.differentiate_sampled(executor, batch, upstream)
        return differentiator.differentiate_analytic(executor, batch, upstream)

    symbol_values = tf.cast(symbol_values, tf.float32)
    if tf.executing_eagerly() and not _taped(symbol_values):  # no gradient: no tape to feed
        batch = eager_batch(symbol_values, repetitions, seed)
        return tf.constant(value(batch, operators.numpy()))
    extra = appended if appended is not None else tf.zeros([0], tf.string)
    reps = tf.cast(repetitions, tf.int64) if estimated else tf.zeros([0, 0], tf.int64)
    seed = tf.cast(seed, tf.int64) if seed is not None else tf.constant(-1, tf.int64)

    @tf.custom_gradient
    def op(values: tf.Tensor) -> tf.Tensor:
        args = [circuits, symbol_names, values, operators, extra, reps, seed]
        if tf.executing_eagerly():  # one checked batch serves the value and its gradient
            batch = eager_batch(values, reps, seed)
            if batch is None:
                result = value(batch, operators.numpy())
            else:  # the forward pass may keep what the gradient can reuse
                result, batch = differentiator.forward(executor, batch)

            names = symbol_names.numpy()

            def eager_grad(upstream: Any) -> tf.Tensor:
                # The upstream gradient may be sparse (tf.IndexedSlices) or symbolic:
                # tape.jacobian, nested tapes and tf.function trace the backward pass.
                upstream = tf.cast(tf.convert_to_tensor(upstream), tf.float32)
                if tf.executing_eagerly():
                    return tf.constant(gradient(batch, names, upstream.numpy()), tf.float32)
                out = tf.numpy_function(lambda u: gradient(batch, names, u), [upstream],
                                        tf.float32, stateful=True)
                out.set_shape(values.shape)
                return out

            return tf.constant(np.asarray(result, np.float32), tf.float32), eager_grad

        # In a graph the forward pass leaves its checked batch, with what it kept for
        # the gradient, under a handle; the gradient takes it from there, or prepares
        # the batch again if it was evicted.
        def forward(*arrays) -> tuple[np.ndarray, np.int64]:
            batch = batch_of(*arrays)
            if batch is None:
                return value(batch, arrays[3]), np.int64(-1)
            result, batch = differentiator.forward(executor, batch)
            return np.asarray(result, np.float32), np.int64(_FORWARD_PASSES.put(batch))

        def backward(*arrays) -> np.ndarray:
            batch = _FORWARD_PASSES.take(int(arrays[7])) or batch_of(*arrays[:7])
            return gradient(batch, arrays[1], arrays[8])

        result, handle = tf.numpy_function(forward, args, [tf.float32, tf.int64],
                                           stateful=True)
        result.set_shape([circuits.shape[0], num_ops])

        def grad(upstream: Any) -> tf.Tensor:
            upstream = tf.cast(tf.convert_to_tensor(upstream), tf.float32)
            out = tf.numpy_function(backward, args + [handle, upstream],
                                    tf.float32, stateful=True)
            out.set_shape(values.shape)
            return out

        return result, grad

    return op(symbol_values)


class _EagerBatches:
    """Checked batches of the last ``size`` eager calls, by their circuit tensors.

    An eager tensor never changes. A call whose circuit tensor (and appended circuits)
    is the very tensor of a recent call, with equal symbol names and operators, reuses
    that call's compiled programs and checks and binds only its own values
    (:meth:`Batch.with_values`): a layer called again and again on one circuit tensor
    prepares it once. Entries hold their tensors, so their ids are not reused.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: cachetools.LRUCache = cachetools.LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def batch(self, circuits: tf.Tensor, symbol_names: tf.Tensor, values: np.ndarray,
              operators: tf.Tensor, appended: Optional[tf.Tensor],
              state_vectors: bool) -> Optional[Batch]:
        """:func:`prepare` of the call's tensors (None for an empty batch)."""
        if circuits.shape[0] == 0:
            return None
        names = tuple(symbol_names.numpy().tolist())
        # A shared operator row is small and compared by value; a row per circuit by
        # its tensor, as the circuits are.
        shared = operators.shape.rank == 1
        operator_key = tuple(operators.numpy().tolist()) if shared else id(operators)
        held = (circuits, appended, None if shared else operators)
        key = (id(circuits), id(appended), operator_key, names, state_vectors)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], held)):
            return entry[1].with_values(values)
        batch = prepare(list(circuits.numpy()), list(names), values, operators.numpy(),
                        list(appended.numpy()) if appended is not None else [],
                        state_vectors=state_vectors)
        with self._lock:
            self._entries[key] = (held, batch)
        return batch


_EAGER_BATCHES = _EagerBatches(4)


def _taped(values: tf.Tensor) -> bool:
    """Whether a gradient tape records ``values`` (an eager tensor), so that the
    forward pass should keep its final states for the gradient. True where
    TensorFlow cannot tell."""
    return _should_record_backprop is None or bool(_should_record_backprop([values]))


class _ForwardPasses:
    """Checked batches of graph-mode forward passes, by handle, for their gradients.

    Bounded: at most ``max_entries`` batches, and at most ``max_bytes`` of kept states;
    the oldest go first. A gradient whose batch was evicted prepares it again.
    """

    def __init__(self, max_entries: int = 16, max_bytes: int = 2**30) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: collections.OrderedDict[int, tuple[Batch, int]] = collections.OrderedDict()
        self._next = itertools.count()
        self._lock = threading.Lock()

    def put(self, batch: Batch) -> int:
        size = _kept_bytes(batch.kept)
        with self._lock:
            handle = next(self._next)
            self._entries[handle] = (batch, size)
            while self._entries and (len(self._entries) > self.max_entries or sum(
                    s for _, s in self._entries.values()) > self.max_bytes):
                self._entries.popitem(last=False)
            return handle

    def take(self, handle: int) -> Optional[Batch]:
        with self._lock:
            entry = self._entries.pop(handle, None)
        return entry[0] if entry else None


def _kept_bytes(kept: Any) -> int:
    if kept is None:
        return 0
    if isinstance(kept, (list, tuple)):
        return sum(np.asarray(state).nbytes for state in kept)
    return int(getattr(getattr(kept, "states", None), "nbytes", 0))


_FORWARD_PASSES = _ForwardPasses()


def samples(executor: Executor, circuits: tf.Tensor, symbol_names: tf.Tensor,
            symbol_values: tf.Tensor, repetitions: Any, seed: tf.Tensor) -> tf.RaggedTensor:
    """Measured bitstrings, a ragged ``int8 [batch, repetitions, n_qubits]``."""
    repetitions = tf.convert_to_tensor(repetitions)
    if not repetitions.dtype.is_integer or repetitions.shape not in ([], [1]):
        raise TypeError(f"repetitions must be an int, or an int tensor of one element "
                        f"(shape [] or [1]), got {repetitions!r:.80}")
    repetitions = tf.reshape(repetitions, [])  # TFQ's Sample passes [n]

    def run(rows, names, values, count, seed) -> tuple[np.ndarray, np.ndarray]:
        count = int(count)
        if count < 1:
            raise ValueError(f"repetitions must be at least 1, got {count}")
        if len(rows) == 0:
            return np.zeros(0, np.int8), np.zeros(0, np.int32)
        batch = prepare(list(rows), list(names), values, [()] * len(rows),
                        state_vectors=executor.simulates_state_vectors)
        batch = dataclasses.replace(
            batch, estimation=Estimation(seed=None if seed < 0 else int(seed)))
        executor.require("samples", "use backend=None, 'qsim', 'noisy' or a cirq.Sampler")
        rows_bits = executor.samples(batch, count)
        widths = np.array([bits.shape[1] for bits in rows_bits], np.int32)
        return np.concatenate([bits.reshape(-1) for bits in rows_bits]), widths

    args = [circuits, symbol_names, tf.cast(symbol_values, tf.float32),
            tf.cast(repetitions, tf.int64), tf.cast(seed, tf.int64)]
    bits, widths = numpy_call(run, args, [(tf.int8, 1), (tf.int32, 1)])
    count = tf.cast(repetitions, tf.int32)
    return tf.RaggedTensor.from_nested_row_lengths(
        bits, [tf.fill(tf.shape(widths), count), tf.repeat(widths, count)], validate=False)


def states(executor: Executor, circuits: tf.Tensor, symbol_names: tf.Tensor,
           symbol_values: tf.Tensor) -> tf.RaggedTensor:
    """Final state vectors, a ragged ``complex64 [batch, 2**n_qubits]``."""
    def run(rows, names, values) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) == 0:
            return np.zeros((0, 0), np.complex64), np.zeros([0], np.int32)
        batch = prepare(list(rows), list(names), values, [()] * len(rows))
        executor.require("final_states", "use backend=None, 'qsim', 'tensorflow' or a "
                                         "cirq.SimulatesFinalState")
        vectors = executor.final_states(batch)
        sizes = np.array([len(v) for v in vectors], np.int32)
        padded = np.zeros((len(rows), max(sizes)), np.complex64)
        for index, vector in enumerate(vectors):
            padded[index, :len(vector)] = vector
        return padded, sizes

    args = [circuits, symbol_names, tf.cast(symbol_values, tf.float32)]
    padded, sizes = numpy_call(run, args, [(tf.complex64, 2), (tf.int32, 1)])
    return tf.RaggedTensor.from_tensor(padded, lengths=sizes)


def unitaries(circuits: tf.Tensor, symbol_names: tf.Tensor,
              symbol_values: tf.Tensor) -> tf.RaggedTensor:
    """Each circuit's unitary, a ragged ``complex64 [batch, 2**n, 2**n]``."""
    from qml.executors.unitary import unitaries as compute

    def run(rows, names, values) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) == 0:
            return np.zeros((0, 0, 0), np.complex64), np.zeros([0], np.int32)
        matrices = compute(prepare(list(rows), list(names), values, [()] * len(rows)))
        sizes = np.array([len(m) for m in matrices], np.int32)
        padded = np.zeros((len(rows), max(sizes), max(sizes)), np.complex64)
        for index, matrix in enumerate(matrices):
            padded[index, :len(matrix), :len(matrix)] = matrix
        return padded, sizes

    args = [circuits, symbol_names, tf.cast(symbol_values, tf.float32)]
    padded, sizes = numpy_call(run, args, [(tf.complex64, 3), (tf.int32, 1)])
    mask = tf.range(tf.shape(padded)[1])[None, None, :] < sizes[:, None, None]
    mask = tf.logical_and(mask, tf.transpose(mask, [0, 2, 1]))
    return tf.RaggedTensor.from_nested_row_lengths(
        tf.boolean_mask(padded, mask), [sizes, tf.repeat(sizes, sizes)], validate=False)


def draw_seed(seed: Any = None) -> tf.Tensor:
    """An ``int64`` seed for one sampling call.

    Args:
        seed: an int (used as it is), a ``keras.random.SeedGenerator`` (a new seed
            from its state on every call), or None (drawn with ``tf.random``, so
            ``tf.random.set_seed`` makes it repeatable).
    """
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(keras.random.randint((), 0, 2**31 - 1, seed=seed), tf.int64)
    if seed is None:
        return tf.random.uniform((), 0, 2**31 - 1, dtype=tf.int64)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
    return tf.constant(int(seed), tf.int64)


def repetitions_tensor(repetitions: Any, batch: Any, num_ops: Any) -> tf.Tensor:
    """``int64 [batch, n_ops]`` repetitions from an int or a tensor, as TFQ takes them."""
    if repetitions is None:
        raise ValueError("repetitions is required: the number of shots or trajectories")
    if isinstance(repetitions, (int, np.integer)) and not isinstance(repetitions, bool):
        if repetitions < 1:
            raise ValueError(f"repetitions must be at least 1, got {repetitions}")
        return tf.fill(tf.stack([batch, num_ops]), tf.constant(int(repetitions), tf.int64))
    tensor = tf.convert_to_tensor(repetitions)
    if not tensor.dtype.is_integer:
        raise TypeError(f"repetitions must be an int or an int tensor, got {tensor.dtype.name}")
    tensor = tf.cast(tensor, tf.int64)
    if tensor.shape.rank == 0:
        return tf.fill(tf.stack([batch, num_ops]), tensor)
    if tensor.shape.rank != 2:
        raise ValueError(f"repetitions must be an int or [batch, n_ops], got shape "
                         f"{tensor.shape}")
    return tensor


class ExpectationOp:
    """``op(programs, symbol_names, symbol_values, pauli_sums)``, as TFQ's ops.

    Made by :func:`qml.get_expectation_op` (differentiated by ``Adjoint``) or by a
    differentiator's ``generate_differentiable_op``.
    """

    sampled_op = False  # the kind of op, for a differentiator's generate_differentiable_op

    def __init__(self, executor: Executor, differentiator: Optional[Differentiator]) -> None:
        self.executor = executor
        self.differentiator = differentiator

    def with_differentiator(self, differentiator: Differentiator) -> "ExpectationOp":
        """The same op, differentiated by ``differentiator``."""
        return ExpectationOp(self.executor, differentiator)

    def __call__(self, programs: Any, symbol_names: Any, symbol_values: Any,
                 pauli_sums: Any) -> tf.Tensor:
        circuits = as_circuit_tensor(programs, "programs")
        values = as_symbol_values(symbol_values)
        operators = as_operator_tensor(pauli_sums)
        return expectation(self.executor, self.differentiator, circuits,
                           as_symbol_names(symbol_names), values, operators)


def _check_concurrent(quantum_concurrent: Any) -> None:
    if not isinstance(quantum_concurrent, bool):
        raise TypeError(f"quantum_concurrent must be a bool, got {quantum_concurrent!r}")


def get_expectation_op(backend: Any = None, *, quantum_concurrent: bool = True
                       ) -> ExpectationOp:
    """TFQ's ``get_expectation_op``: an op computing exact expectation values.

    The op is ``op(programs, symbol_names, symbol_values, pauli_sums)`` and is
    differentiable with respect to ``symbol_values`` (by ``Adjoint``). Its inputs take
    tensors, circuits or lists of them, and are checked as ``Expectation``'s are.

    Args:
        backend: None (qml's default policy), ``'qsim'``, ``'tensorflow'`` or a
            ``cirq.SimulatesExpectationValues``.
        quantum_concurrent: accepted for TFQ's sake; it changes nothing (see
            :func:`qml.set_quantum_concurrent_op_mode`).

    Returns:
        The op. It returns ``float32 [batch, n_ops]``.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for a backend of another type, or a ``quantum_concurrent`` that
            is not a bool.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> op = get_expectation_op("tensorflow")
        >>> op([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]), [[cirq.Z(q)]]).numpy()
        array([[-1.]], dtype=float32)
    """
    _check_concurrent(quantum_concurrent)
    from qml.executors import get_executor

    return ExpectationOp(get_executor(backend), None)


class SampledExpectationOp:
    """``op(programs, symbol_names, symbol_values, pauli_sums, num_samples)``, as TFQ's.

    ``num_samples`` is ``int [batch, n_ops]``: shots per operator. Made by
    :func:`qml.get_sampled_expectation_op` (differentiated by ``ParameterShift``) or
    by a differentiator's ``generate_differentiable_op``.
    """

    sampled_op = True  # the kind of op, for a differentiator's generate_differentiable_op

    def __init__(self, executor: Executor, differentiator: Optional[Differentiator],
                 seed: Any = None, sampled: bool = True) -> None:
        self.executor = executor
        self.differentiator = differentiator
        self.seed = seed
        self.sampled = sampled

    def with_differentiator(self, differentiator: Differentiator) -> "SampledExpectationOp":
        """The same op, differentiated by ``differentiator``."""
        return SampledExpectationOp(self.executor, differentiator, self.seed, self.sampled)

    def __call__(self, programs: Any, symbol_names: Any, symbol_values: Any,
                 pauli_sums: Any, num_samples: Any) -> tf.Tensor:
        circuits = as_circuit_tensor(programs, "programs")
        values = as_symbol_values(symbol_values)
        batch = tf.shape(circuits)[0]
        operators = as_operator_tensor(pauli_sums)
        repetitions = repetitions_tensor(num_samples, batch, tf.shape(operators)[-1])
        return expectation(self.executor, self.differentiator, circuits,
                           as_symbol_names(symbol_names), values, operators,
                           repetitions=repetitions, sampled=self.sampled,
                           seed=draw_seed(self.seed))


def get_sampled_expectation_op(backend: Any = None, *, seed: Optional[int] = None,
                               quantum_concurrent: bool = True) -> SampledExpectationOp:
    """TFQ's ``get_sampled_expectation_op``: expectations estimated from shots.

    The op is ``op(programs, symbol_names, symbol_values, pauli_sums, num_samples)``,
    with ``num_samples`` an ``int [batch, n_ops]`` of shots per operator. It is
    differentiable by ``ParameterShift``.

    Args:
        backend: None, ``'qsim'`` or ``'noisy'`` (all sample on qsim), or a Cirq
            simulator.
        seed: seeds the shots; None follows ``tf.random.set_seed``.
        quantum_concurrent: accepted for TFQ's sake; it changes nothing.

    Returns:
        The op. It returns ``float32 [batch, n_ops]``.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for a backend of another type, or a ``quantum_concurrent`` that
            is not a bool.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> op = get_sampled_expectation_op(seed=1)
        >>> op([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]), [[cirq.Z(q)]], [[100]]).numpy()
        array([[-1.]], dtype=float32)
    """
    _check_concurrent(quantum_concurrent)
    from qml.executors import get_executor

    return SampledExpectationOp(get_executor(backend), None, seed)


def get_sampling_op(backend: Any = None, *, seed: Optional[int] = None,
                    quantum_concurrent: bool = True):
    """TFQ's ``get_sampling_op``: an op drawing bitstrings.

    The op is ``op(programs, symbol_names, symbol_values, num_samples)``, with
    ``num_samples`` a one-element int tensor or list.

    Args:
        backend: None, ``'qsim'``, ``'noisy'`` or a ``cirq.Sampler``.
        seed: seeds the draws; None follows ``tf.random.set_seed``.
        quantum_concurrent: accepted for TFQ's sake; it changes nothing.

    Returns:
        The op. It returns a ragged ``int8 [batch, num_samples, n_qubits]``, columns in
        each circuit's sorted qubit order.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for a backend of another type, or a ``quantum_concurrent`` that
            is not a bool.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> get_sampling_op(seed=1)([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]),
        ...                         [2]).to_list()
        [[[1], [1]]]
    """
    _check_concurrent(quantum_concurrent)
    from qml.executors import get_executor

    executor = get_executor(backend)

    def sampling_op(programs: Any, symbol_names: Any, symbol_values: Any,
                    num_samples: Any) -> tf.RaggedTensor:
        count = tf.reshape(tf.convert_to_tensor(num_samples), [-1])[0]
        return samples(executor, as_circuit_tensor(programs, "programs"),
                       as_symbol_names(symbol_names), as_symbol_values(symbol_values),
                       count, draw_seed(seed))

    return sampling_op


def get_state_op(backend: Any = None, *, quantum_concurrent: bool = True):
    """TFQ's ``get_state_op``: an op computing final state vectors.

    The op is ``op(programs, symbol_names, symbol_values)``.

    Args:
        backend: None, ``'qsim'``, ``'tensorflow'`` or a ``cirq.SimulatesFinalState``.
        quantum_concurrent: accepted for TFQ's sake; it changes nothing.

    Returns:
        The op. It returns a ragged ``complex64 [batch, 2**n_qubits]`` in Cirq's qubit
        order.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for a backend of another type, or a ``quantum_concurrent`` that
            is not a bool.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> state = get_state_op()([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0]))
        >>> np.round(np.abs(state.to_tensor().numpy()) ** 2, 3)
        array([[0., 1.]], dtype=float32)
    """
    _check_concurrent(quantum_concurrent)
    from qml.executors import get_executor

    executor = get_executor(backend)

    def state_op(programs: Any, symbol_names: Any, symbol_values: Any) -> tf.RaggedTensor:
        return states(executor, as_circuit_tensor(programs, "programs"),
                      as_symbol_names(symbol_names), as_symbol_values(symbol_values))

    return state_op


def get_unitary_op(*, quantum_concurrent: bool = True):
    """TFQ's ``get_unitary_op``: an op computing each circuit's unitary.

    The op is ``op(programs, symbol_names, symbol_values)``.

    Args:
        quantum_concurrent: accepted for TFQ's sake; it changes nothing.

    Returns:
        The op. It returns a ragged ``complex64 [batch, 2**n, 2**n]`` in Cirq's qubit
        order.

    Raises:
        TypeError: if ``quantum_concurrent`` is not a bool.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> get_unitary_op()([cirq.Circuit(cirq.X(q))], [], tf.zeros([1, 0])).to_list()
        [[[0j, (1+0j)], [(1+0j), 0j]]]
    """
    _check_concurrent(quantum_concurrent)

    def unitary_op(programs: Any, symbol_names: Any, symbol_values: Any) -> tf.RaggedTensor:
        return unitaries(as_circuit_tensor(programs, "programs"),
                         as_symbol_names(symbol_names), as_symbol_values(symbol_values))

    return unitary_op


def _autodiff_expectation(executor: Executor, circuits, symbol_names, symbol_values,
                          operators, extra, num_ops) -> tf.Tensor:
    """Expectations as TensorFlow ops of ``symbol_values``, for automatic differentiation."""
    if not isinstance(executor, TensorflowExecutor):
        raise TypeError(
            "differentiator=Autodiff() needs backend='tensorflow', whose simulation is "
            f"made of TensorFlow ops; this layer's executor is {executor.name!r}"
        )

    def simulate(values, rows, names, ops, extra_rows) -> tf.Tensor:
        rows, names, ops, extra_rows = (t.numpy() for t in (rows, names, ops, extra_rows))
        if len(rows) == 0:
            return tf.zeros((0, ops.shape[-1]), tf.float32)
        batch = prepare(list(rows), list(names), values.numpy(), ops, list(extra_rows))
        return tf.cast(executor.expectation_tensor(batch, values), tf.float32)

    return eager_call(simulate, [symbol_values, circuits, symbol_names, operators, extra],
                      tf.float32, [circuits.shape[0], num_ops])


# ----------------------------------------------------------- argument normalisation
