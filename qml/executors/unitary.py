"""Unitaries of compiled programs, computed with numpy.

Each row's unitary is built by applying its blocks, bound for the whole batch at once
(:func:`compiler.bind`), to the identity, treated as ``2**n`` states side by side.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit
    >>> from qml.executors.base import prepare
    >>> q = cirq.LineQubit(0)
    >>> batch = prepare([serialize_circuit(cirq.Circuit(cirq.X(q)))], [], np.zeros((1, 0)), [()])
    >>> unitaries(batch)[0].real
    array([[0., 1.],
           [1., 0.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from qml.circuits import blocks, compiler
from qml.executors.base import Batch, check_memory, require_noiseless


def unitaries(batch: Batch) -> list[np.ndarray]:
    """Each row's ``[2**n, 2**n]`` complex64 unitary, in Cirq's qubit order.

    An empty circuit gives ``[[1]]``.

    Raises:
        ValueError: for a circuit with noise channels, which has no unitary.
        StateTooLargeError: if a unitary would not fit in memory.
    """
    require_noiseless(batch, "unitary")
    bound = {}
    for key, (program, rows) in batch.segment_groups().items():
        matrices = compiler.bind(program, batch.columns(program, rows))
        bound[key] = (matrices, {row: i for i, row in enumerate(rows)})
    out = []
    for row, row_program in enumerate(batch.programs):
        n = row_program.num_qubits
        check_memory(2 * n, bytes_per_amplitude=16)
        matrix = np.eye(2**n, dtype=complex).reshape((2,) * n + (2**n,))
        for segment in row_program.segments:
            matrices, position = bound[id(segment.program)]
            for block, unitary in zip(segment.program.blocks, matrices):
                gate = unitary[0] if len(unitary) == 1 else unitary[position[row]]
                gate = blocks.controlled(gate, block.control_values)
                qubits = [segment.positions[q] for q in block.controls + block.targets]
                matrix = _apply(matrix, gate, qubits)
        out.append(matrix.reshape(2**n, 2**n).astype(np.complex64))
    return out


def _apply(tensor: np.ndarray, gate: np.ndarray, qubits: list[int]) -> np.ndarray:
    """``gate`` on axes ``qubits`` of ``tensor`` (one axis per qubit, then columns)."""
    k = len(qubits)
    product = np.tensordot(gate.reshape((2,) * 2 * k), tensor,
                           axes=(list(range(k, 2 * k)), qubits))
    return np.moveaxis(product, list(range(k)), qubits)
