"""Inner products and fidelities of circuit states, differentiable in symbol values;
and matrix-product-state simulation of 1-D circuits.

As TFQ's ``tfq.math``: ``inner_product`` returns ``<psi(programs[i]) | other[i][j]>``
and ``fidelity`` its squared magnitude. The states of ``programs`` are simulated with
TensorFlow ops, so ``tf.GradientTape`` differentiates them with respect to
``symbol_values``. ``other_programs`` must be free of symbols, and act on the same
qubits as their row's program or on a subset of them.

Example:
    >>> import cirq, sympy, tensorflow as tf
    >>> q = cirq.LineQubit(0)
    >>> circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q))
    >>> f = fidelity([circuit], ["a"], tf.constant([[np.pi]]), [[cirq.Circuit(cirq.X(q))]])
    >>> np.round(f.numpy(), 4)
    array([[1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

import qml.tensors as tensors
from qml.circuits import compiler, serialize
from qml.differentiators.parameter_shift import ParameterShift
from qml.errors import BatchSizeError, QubitMismatchError
from qml.executors.base import Batch, prepare
from qml.executors.mps import MpsExecutor
from qml.executors.qsim import QsimExecutor
from qml.executors.tensorflow import TensorflowExecutor
import qml.ops as ops

__all__ = [
    "inner_product", "fidelity", "mps_1d_expectation", "mps_1d_sample",
    "mps_1d_sampled_expectation",
]

# Traced, not XLA-compiled: these calls are small and rarely repeat a structure.
_STATES = TensorflowExecutor(jit_compile=False)
_REFERENCE = QsimExecutor()


def inner_product(programs: Any, symbol_names: Any, symbol_values: Any,
                  other_programs: Any) -> tf.Tensor:
    """Inner products ``<programs[i] | other_programs[i][j]>``, as ``tfq.math``'s.

    The states of ``programs`` are simulated with TensorFlow ops, so a
    ``tf.GradientTape`` differentiates the result with respect to ``symbol_values``.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        other_programs: ``tf.string [batch, n_others]`` or nested lists of circuits,
            free of symbols, each on its row's qubits or a subset of them.

    Returns:
        ``complex64 [batch, n_others]``.

    Raises:
        BatchSizeError: if ``other_programs`` does not have one row per program.
        QubitMismatchError: if an other program acts on qubits its program lacks.
        ValueError: if an other program has symbols, or ``other_programs`` is not 2-D.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> plus = cirq.Circuit(cirq.H(q))
        >>> product = inner_product([plus], [], tf.zeros([1, 0]), [[cirq.Circuit(cirq.I(q))]])
        >>> np.round(product.numpy().real, 4)  # <+|0> = 1 / sqrt(2)
        array([[0.7071]], dtype=float32)
    """
    circuits = tensors.as_circuit_tensor(programs, "programs")
    names = tensors.as_symbol_names(symbol_names)
    values = tensors.as_symbol_values(symbol_values)
    others = _as_other_tensor(other_programs)

    def compute(values: tf.Tensor, circuits: tf.Tensor, names: tf.Tensor,
                others: tf.Tensor) -> tf.Tensor:
        rows = circuits.numpy()
        other_rows = others.numpy()
        if other_rows.shape[0] != len(rows):
            raise BatchSizeError(
                f"other_programs has {other_rows.shape[0]} rows for {len(rows)} programs")
        if len(rows) == 0:
            return tf.zeros([0, other_rows.shape[1]], tf.complex64)
        batch = prepare(list(rows), list(names.numpy()), values.numpy(),
                        [()] * len(rows))
        states = _STATES.final_states_tensor(batch, values)
        references = _reference_states(batch.programs, other_rows)
        return tf.stack([
            tf.linalg.matvec(tf.constant(reference), tf.math.conj(tf.cast(state, tf.complex64)))
            for state, reference in zip(states, references)])

    return tensors.eager_call(compute, [values, circuits, names, others], tf.complex64,
                              [circuits.shape[0], others.shape[1]])


def fidelity(programs: Any, symbol_names: Any, symbol_values: Any,
             other_programs: Any) -> tf.Tensor:
    """Fidelities ``|<programs[i] | other_programs[i][j]>|**2``, as ``tfq.math``'s.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        other_programs: as :func:`inner_product`.

    Returns:
        ``float32 [batch, n_others]``, differentiable in ``symbol_values``.

    Raises:
        BatchSizeError: as :func:`inner_product`.
        QubitMismatchError: as :func:`inner_product`.
        ValueError: as :func:`inner_product`.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.LineQubit(0)
        >>> circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q))
        >>> f = fidelity([circuit], ["a"], tf.constant([[np.pi / 2]]),
        ...              [[cirq.Circuit(cirq.X(q))]])
        >>> np.round(f.numpy(), 4)
        array([[0.5]], dtype=float32)
    """
    product = inner_product(programs, symbol_names, symbol_values, other_programs)
    return tf.math.real(product * tf.math.conj(product))


def _as_other_tensor(other_programs: Any) -> tf.Tensor:
    if isinstance(other_programs, (list, tuple)) and other_programs and all(
            isinstance(row, (list, tuple)) for row in other_programs):
        other_programs = serialize.convert_to_tensor([list(row) for row in other_programs])
    tensor = tf.convert_to_tensor(other_programs)
    if tensor.dtype != tf.string or tensor.shape.rank != 2:
        raise ValueError(
            "other_programs must be a tf.string [batch, n_others] tensor or nested lists "
            f"of circuits, got {tensor.dtype.name} of shape {tensor.shape}")
    return tensor


def _reference_states(programs, other_rows: np.ndarray) -> list[np.ndarray]:
    """Per program, the ``[n_others, 2**n]`` complex64 states of its row of
    ``other_rows`` on the program's qubits, all simulated in one qsim batch."""
    joined = []
    for index, program in enumerate(programs):
        register = compiler.register(program.qubits)
        for j, row in enumerate(other_rows[index]):
            other = compiler.compile_row(bytes(row))
            if other.symbols:
                raise ValueError(
                    f"other_programs[{index}][{j}] has symbols {sorted(other.symbols)}; "
                    "other_programs must be free of symbols")
            if not set(other.qubits) <= set(program.qubits):
                raise QubitMismatchError(
                    f"other_programs[{index}][{j}] acts on qubits that programs[{index}] "
                    f"lacks: {other.cirq_qubits()} against {program.cirq_qubits()}")
            joined.append(compiler.join(register, other))
    count = other_rows.shape[1]
    if not count:
        return [np.zeros((0, 2**p.num_qubits), np.complex64) for p in programs]
    batch = Batch(tuple(joined), (), np.zeros((len(joined), 0), np.float32),
                  ((),) * len(joined))
    states = _REFERENCE.final_states(batch)
    return [np.stack(states[i * count:(i + 1) * count]) for i in range(len(programs))]


def mps_1d_expectation(programs: Any, symbol_names: Any, symbol_values: Any,
                       pauli_sums: Any, bond_dim: int = 4) -> tf.Tensor:
    """Expectations of 1-D circuits simulated as matrix product states.

    The bond dimension is at most ``bond_dim`` (see :mod:`qml.executors.mps`).

    Every gate must act on one qubit or on two neighbours in the circuit's sorted
    qubit order. The values are exact when ``bond_dim`` reaches ``2**(n/2)``.
    Gradients come from parameter shifts of these values.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        pauli_sums: Pauli sums, ``tf.string [batch, n_ops]`` or nested lists.
        bond_dim: the largest bond dimension kept.

    Returns:
        ``float32 [batch, n_ops]``.

    Raises:
        UnsupportedGateError: for a gate on qubits that are not neighbours, or a
            noise channel.
        ValueError: if ``bond_dim`` is not an int >= 1.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit.range(2)
        >>> bell = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q))
        >>> mps_1d_expectation([bell], [], tf.zeros([1, 0]),
        ...                    [[cirq.Z(q[0]) * cirq.Z(q[1])]]).numpy()
        array([[1.]], dtype=float32)
    """
    executor = MpsExecutor(bond_dim)
    return ops.ExpectationOp(executor, ParameterShift())(
        programs, symbol_names, symbol_values, pauli_sums)


def mps_1d_sample(programs: Any, symbol_names: Any, symbol_values: Any, num_samples: Any,
                  bond_dim: int = 4) -> tf.RaggedTensor:
    """Bitstrings measured on 1-D circuits simulated as matrix product states.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        num_samples: a one-element int tensor or list: draws per circuit.
        bond_dim: the largest bond dimension kept.

    Returns:
        A ragged ``int8 [batch, num_samples, n_qubits]``, as ``qml.get_sampling_op``
        gives.

    Raises:
        UnsupportedGateError: as :func:`mps_1d_expectation`.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit.range(2)
        >>> bits = mps_1d_sample([cirq.Circuit(cirq.X(q[0]), cirq.CNOT(*q))], [],
        ...                      tf.zeros([1, 0]), [3])
        >>> bits.to_list()
        [[[1, 1], [1, 1], [1, 1]]]
    """
    return ops.get_sampling_op(MpsExecutor(bond_dim))(
        programs, symbol_names, symbol_values, num_samples)


def mps_1d_sampled_expectation(programs: Any, symbol_names: Any, symbol_values: Any,
                               pauli_sums: Any, num_samples: Any,
                               bond_dim: int = 4) -> tf.Tensor:
    """Expectations estimated from shots, on 1-D circuits simulated as matrix
    product states.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        pauli_sums: Pauli sums, ``tf.string [batch, n_ops]`` or nested lists.
        num_samples: ``int [batch, n_ops]``: shots per term of each operator.
        bond_dim: the largest bond dimension kept.

    Returns:
        ``float32 [batch, n_ops]``.

    Raises:
        UnsupportedGateError: as :func:`mps_1d_expectation`.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit.range(2)
        >>> mps_1d_sampled_expectation([cirq.Circuit(cirq.X(q[0]))], [], tf.zeros([1, 0]),
        ...                            [[cirq.Z(q[0])]], [[10]]).numpy()
        array([[-1.]], dtype=float32)
    """
    executor = MpsExecutor(bond_dim)
    return ops.SampledExpectationOp(executor, ParameterShift())(
        programs, symbol_names, symbol_values, pauli_sums, num_samples)
