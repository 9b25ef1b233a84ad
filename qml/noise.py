"""Noisy simulation with TFQ's ``tfq.noise`` signatures, as Monte Carlo trajectories.

Circuits may hold any supported noise channel (see docs/noise.md). Every function
takes ``seed=``: an int gives the same numbers on every run; None follows
``tf.random.set_seed``.

Example:
    >>> import cirq, tensorflow as tf
    >>> q = cirq.LineQubit(0)
    >>> noisy = cirq.Circuit(cirq.X(q), cirq.bit_flip(0.1)(q))
    >>> values = expectation([noisy], [], tf.zeros([1, 0]), [[cirq.Z(q)]], [[2000]], seed=1)
    >>> bool(abs(float(values[0, 0]) - (-0.8)) < 0.1)
    True
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from qml.executors import get_executor
import qml.ops as ops

__all__ = [
    "expectation", "sampled_expectation", "samples",
]


def expectation(programs: Any, symbol_names: Any, symbol_values: Any, pauli_sums: Any,
                num_samples: Any, *, seed: Optional[int] = None) -> tf.Tensor:
    """Expectations averaged over ``num_samples`` noise trajectories.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        pauli_sums: ``tf.string [batch, n_ops]`` or nested lists of Pauli sums.
        num_samples: trajectories per operator, ``int [batch, n_ops]`` or an int.
        seed: seeds the trajectories; None follows ``tf.random.set_seed``.

    Returns:
        ``float32 [batch, n_ops]``, differentiable by ``ParameterShift``.

    Raises:
        NotACircuitError: if ``programs`` does not hold circuits.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        ValueError: for ``num_samples`` below 1, or a negative ``seed``.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> flipped = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(1.0)(q))
        >>> expectation([flipped], [], tf.zeros([1, 0]), [[cirq.Z(q)]], [[50]], seed=1).numpy()
        array([[1.]], dtype=float32)
    """
    op = ops.SampledExpectationOp(get_executor("noisy"), None, seed, sampled=False)
    return op(programs, symbol_names, symbol_values, pauli_sums, num_samples)


def sampled_expectation(programs: Any, symbol_names: Any, symbol_values: Any,
                        pauli_sums: Any, num_samples: Any, *,
                        seed: Optional[int] = None) -> tf.Tensor:
    """Expectations estimated from measured shots, one noise trajectory per shot.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        pauli_sums: ``tf.string [batch, n_ops]`` or nested lists of Pauli sums.
        num_samples: shots per operator, ``int [batch, n_ops]`` or an int.
        seed: seeds the shots and trajectories; None follows ``tf.random.set_seed``.

    Returns:
        ``float32 [batch, n_ops]``, differentiable by ``ParameterShift``.

    Raises:
        NotACircuitError: if ``programs`` does not hold circuits.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        ValueError: for ``num_samples`` below 1, or a negative ``seed``.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> decayed = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(1.0)(q))
        >>> sampled_expectation([decayed], [], tf.zeros([1, 0]), [[cirq.Z(q)]], [[20]],
        ...                     seed=1).numpy()
        array([[1.]], dtype=float32)
    """
    op = ops.SampledExpectationOp(get_executor("noisy"), None, seed, sampled=True)
    return op(programs, symbol_names, symbol_values, pauli_sums, num_samples)


def samples(programs: Any, symbol_names: Any, symbol_values: Any, num_samples: Any, *,
            seed: Optional[int] = None) -> tf.RaggedTensor:
    """Measured bitstrings, one noise trajectory per sample.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list of ``cirq.Circuit``.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        num_samples: samples per circuit, an int or a ``[1]`` int tensor, as TFQ.
        seed: seeds the draws; None follows ``tf.random.set_seed``.

    Returns:
        A ragged ``int8 [batch, num_samples, n_qubits]``.

    Raises:
        NotACircuitError: if ``programs`` does not hold circuits.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        ValueError: for ``num_samples`` below 1, or a negative ``seed``.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> decayed = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(1.0)(q))
        >>> samples([decayed], [], tf.zeros([1, 0]), 2, seed=1).to_list()
        [[[0], [0]]]
    """
    return ops.get_sampling_op("noisy", seed=seed)(programs, symbol_names, symbol_values,
                                                   num_samples)
