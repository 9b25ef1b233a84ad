"""State kernels of the TensorFlow executor: a matrix applied to chosen qubits of
``[rows, 2**n]`` states, and the overlaps the adjoint sweep needs."""

from __future__ import annotations

import itertools
from typing import Sequence

import tensorflow as tf


# Blocks on more qubits than this are applied with einsum instead of slices.
_MAX_SLICED_QUBITS = 3


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
