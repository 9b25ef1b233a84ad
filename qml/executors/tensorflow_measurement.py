"""Measurement in the TensorFlow executor: Pauli sums as bit masks, and their
expectation values on ``[rows, 2**n]`` states."""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf

from qml.executors.base import Batch, operator_qubits


@dataclasses.dataclass(frozen=True)
class Terms:
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


def operator_terms(batch: Batch, rows: np.ndarray, num_qubits: int) -> tuple[Terms, np.ndarray]:
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
    return Terms(flips, signs), weights


def _parity_signs(sign_masks: Sequence[int], num_qubits: int) -> np.ndarray:
    """``[2**n, len(sign_masks)]`` of (-1)**popcount(x & mask)."""
    x = np.arange(2**num_qubits, dtype=np.int64)[:, None]
    masked = x & np.asarray(sign_masks, dtype=np.int64)[None, :]
    parity = np.zeros_like(masked)
    while masked.any():
        parity ^= masked & 1
        masked = masked >> 1
    return 1.0 - 2.0 * parity


def measure(state: tf.Tensor, terms: Terms, weights: tf.Tensor, num_qubits: int) -> tf.Tensor:
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
