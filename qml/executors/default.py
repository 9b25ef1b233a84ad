"""The default backend: the native core, or qsim for wide noisy registers.

``backend=None`` is a policy decided by the ``qml-bench`` suite (docs/backends.md). The
native core takes every row of a batch as data, whatever its circuit, and compiles
nothing per structure, so it runs exact expectations, states, samples, expectations
estimated from shots, noise trajectories and the adjoint gradient, at every width.
Noisy batches on ``QSIM_MIN_NOISY_QUBITS`` or more qubits run on qsim, whose
trajectories are faster on one wide state.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit
    >>> def batch(qubits):
    ...     circuit = cirq.Circuit(cirq.X.on_each(cirq.LineQubit.range(qubits)))
    ...     return prepare([serialize_circuit(circuit)], [], np.zeros((1, 0)), [[]])
    >>> DefaultExecutor().choose(batch(4)).name, DefaultExecutor().choose(batch(20)).name
    ('native', 'native')
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from qml.executors.base import CAPABILITIES, Batch, Executor, prepare  # noqa: F401 (doctest)
from qml.executors.native import Kept, NativeExecutor
from qml.executors.qsim import QsimExecutor

# Noise trajectories of batches whose widest circuit has at least this many qubits run
# on qsim; narrower ones run on the native core, several trajectories to a group of SIMD
# lanes (docs/backends.md).
QSIM_MIN_NOISY_QUBITS = 15
# A forward pass for the Adjoint gradient keeps its final states, which the gradient's
# sweep starts from, when they take at most this many bytes.
KEPT_STATES_MAX_BYTES = 2**30


class DefaultExecutor(Executor):
    """qml's default policy: the native core or qsim, chosen per batch.

    :meth:`choose` sends wide noisy registers to qsim and the rest to the native core
    (see docs/backends.md).

    Args:
        native: the native executor to use; None makes one.
        qsim: the qsim executor to use; None makes one.

    Raises:
        TypeError: from a computation the chosen executor cannot do.

    Example:
        >>> import cirq, qml
        >>> q = cirq.LineQubit(0)
        >>> layer = qml.layers.Expectation(backend=qml.executors.DefaultExecutor())
        >>> layer(cirq.Circuit(cirq.H(q)), operators=cirq.X(q)).numpy().round(4)
        array([[1.]], dtype=float32)
    """

    name = "default"
    capabilities = frozenset(CAPABILITIES)

    def __init__(self, native: Optional[NativeExecutor] = None,
                 qsim: Optional[QsimExecutor] = None) -> None:
        self.native = native or NativeExecutor()
        self.qsim = qsim or QsimExecutor()

    def choose(self, batch: Batch) -> Executor:
        """qsim for noisy batches on ``QSIM_MIN_NOISY_QUBITS`` or more qubits, otherwise
        the native core. Expectations (exact, from shots or over trajectories) and
        samples follow it."""
        widest = max((p.num_qubits for p in batch.distinct_programs[0]), default=0)
        if batch.noisy and widest >= QSIM_MIN_NOISY_QUBITS:
            return self.qsim
        return self.native

    def expectation(self, batch: Batch) -> np.ndarray:
        return self.choose(batch).expectation(batch)

    def expectation_and_kept(self, batch: Batch) -> tuple[np.ndarray, Optional[Kept]]:
        """The expectations, and the final states the native core keeps for the adjoint
        when they fit in :data:`KEPT_STATES_MAX_BYTES`: the gradient's sweep starts
        from them instead of simulating every row again. Larger batches keep nothing
        (None)."""
        if not batch.noisy and _state_bytes(batch) <= KEPT_STATES_MAX_BYTES:
            return self.native.expectation_and_kept(batch)
        return self.choose(batch).expectation(batch), None

    def adjoint_gradient(self, batch: Batch, upstream: np.ndarray,
                         kept: Optional[Kept] = None) -> np.ndarray:
        return self.native.adjoint_gradient(batch, upstream, kept)

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        return self.native.final_states(batch)

    def samples(self, batch: Batch, repetitions: int) -> list[np.ndarray]:
        return self.choose(batch).samples(batch, repetitions)

    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        return self.choose(batch).sampled_expectation(batch)

    def noisy_expectation(self, batch: Batch) -> np.ndarray:
        return self.choose(batch).noisy_expectation(batch)


def _state_bytes(batch: Batch) -> int:
    """The bytes of every row's complex64 final state."""
    return 8 * int(np.left_shift(1, batch.row_qubits.astype(np.int64)).sum())
