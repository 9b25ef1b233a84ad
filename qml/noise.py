"""Noisy simulation with TFQ's ``tfq.noise`` signatures, on qsim's trajectories.

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


def expectation(programs: Any, symbol_names: Any, symbol_values: Any, pauli_sums: Any,
                num_samples: Any, *, seed: Optional[int] = None) -> tf.Tensor:
    """Expectations averaged over ``num_samples`` noise trajectories.

    Args:
        programs: circuits, ``tf.string [batch]`` or a list.
        symbol_names, symbol_values: ``[n_symbols]`` and ``float32 [batch, n_symbols]``.
        pauli_sums: ``tf.string [batch, n_ops]`` or nested lists of Pauli sums.
        num_samples: trajectories per operator, ``int [batch, n_ops]`` or an int.
        seed: seeds the trajectories.

    Returns:
        ``float32 [batch, n_ops]``, differentiable by ``ParameterShift``.
    """
    op = ops.SampledExpectationOp(get_executor("noisy"), None, seed, sampled=False)
    return op(programs, symbol_names, symbol_values, pauli_sums, num_samples)


def sampled_expectation(programs: Any, symbol_names: Any, symbol_values: Any,
                        pauli_sums: Any, num_samples: Any, *,
                        seed: Optional[int] = None) -> tf.Tensor:
    """Expectations estimated from ``num_samples`` measured shots per operator, one
    noise trajectory per shot. Arguments as :func:`expectation`."""
    op = ops.SampledExpectationOp(get_executor("noisy"), None, seed, sampled=True)
    return op(programs, symbol_names, symbol_values, pauli_sums, num_samples)


def samples(programs: Any, symbol_names: Any, symbol_values: Any, num_samples: Any, *,
            seed: Optional[int] = None) -> tf.RaggedTensor:
    """Measured bitstrings, one noise trajectory per sample.

    Args:
        num_samples: samples per circuit, an int or a ``[1]`` int tensor, as TFQ.

    Returns:
        A ragged ``int8 [batch, num_samples, n_qubits]``.
    """
    return ops.get_sampling_op("noisy", seed=seed)(programs, symbol_names, symbol_values,
                                                   num_samples)
