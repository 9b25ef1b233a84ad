"""The default backend: qsim, or the TensorFlow executor where it measured faster.

``backend=None`` is a policy decided by the ``qml-bench`` suite (docs/backends.md). The
TensorFlow executor wins when many rows share one circuit structure on few enough
qubits, since each structure is traced and XLA-compiled once (seconds) and then runs
the whole batch in fused loops. qsim wins on larger registers, on small batches, and
on batches of many distinct structures, and it compiles nothing.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit
    >>> q = cirq.LineQubit(0)
    >>> def batch(rows):
    ...     circuits = [serialize_circuit(cirq.Circuit(cirq.X(q)))] * rows
    ...     return prepare(circuits, [], np.zeros((rows, 0)), [[]] * rows)
    >>> DefaultExecutor().choose(batch(1000)).name, DefaultExecutor().choose(batch(10)).name
    ('tensorflow', 'qsim')
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from qml.executors.base import Batch, Executor, prepare  # noqa: F401 (doctest)
from qml.executors.qsim import QsimExecutor
from qml.executors.tensorflow import TensorflowExecutor, structure_key

# The TensorFlow executor runs a batch when each of its structures has at least this
# many rows on average, and the register has at most this many qubits.
TENSORFLOW_MIN_ROWS_PER_STRUCTURE = 256
TENSORFLOW_MAX_QUBITS = 14


class DefaultExecutor(Executor):
    """Chooses qsim or the TensorFlow executor for each batch (:meth:`choose`)."""

    name = "default"

    def __init__(self, qsim: Optional[QsimExecutor] = None,
                 tensorflow: Optional[TensorflowExecutor] = None) -> None:
        self.qsim = qsim or QsimExecutor()
        self.tensorflow = tensorflow or TensorflowExecutor()

    def choose(self, batch: Batch) -> Executor:
        """The TensorFlow executor for many rows per structure on at most
        ``TENSORFLOW_MAX_QUBITS`` qubits, otherwise qsim."""
        if batch.batch_size < TENSORFLOW_MIN_ROWS_PER_STRUCTURE or batch.noisy:
            return self.qsim
        programs = set(batch.programs)  # rows repeat programs; look at each once
        if max(p.num_qubits for p in programs) > TENSORFLOW_MAX_QUBITS:
            return self.qsim
        structures = {structure_key(p) for p in programs if p.num_qubits}
        if batch.batch_size < TENSORFLOW_MIN_ROWS_PER_STRUCTURE * max(len(structures), 1):
            return self.qsim
        return self.tensorflow

    def expectation(self, batch: Batch) -> np.ndarray:
        return self.choose(batch).expectation(batch)

    # Sampling, noise and states run on qsim.
    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        return self.qsim.sampled_expectation(batch)

    def noisy_expectation(self, batch: Batch) -> np.ndarray:
        return self.qsim.noisy_expectation(batch)

    def samples(self, batch: Batch, repetitions: int) -> list[np.ndarray]:
        return self.qsim.samples(batch, repetitions)

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        return self.qsim.final_states(batch)
