"""The native core against Cirq, finite differences and bad arrays at its boundary."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, cirq_expectations, random_circuit, random_paulisum,
                      random_values, reference_gradient)

import qml
import _qml_core as _core
from qml.circuits import compiler
from qml.circuits.serialize import serialize_circuit, serialize_paulisum
from qml.errors import NonFiniteValueError
from qml.executors.base import prepare
from qml.executors.native import NativeExecutor, pack

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


def _batch(circuits, values, operators):
    return prepare([serialize_circuit(c) for c in circuits], NAMES, values,
                   [[serialize_paulisum(o) for o in row] for row in operators])


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 5, 8, 12, 14, 17, 20])
def test_expectations_and_states_match_cirq(num_qubits):
    """Every native gate, controls and expressions, rows of different circuits in one
    call, narrow rows (in parallel) and wide ones (parallel kernels)."""
    rng = np.random.default_rng(100 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    rows = 4 if num_qubits < 17 else 2
    circuits = [random_circuit(qubits, 24, rng) for _ in range(rows)]
    operators = [[random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
                 for _ in circuits]
    values = random_values(rng, rows)
    batch = _batch(circuits, values, operators)
    executor = NativeExecutor()
    expected = cirq_expectations(circuits, values, NAMES, operators)
    np.testing.assert_allclose(executor.expectation(batch), expected, atol=1e-5)
    state = executor.final_states(batch)[0]
    resolver = {name: float(values[0, k]) for k, name in enumerate(NAMES)}
    reference = cirq.final_state_vector(cirq.resolve_parameters(circuits[0], resolver),
                                        qubit_order=qubits, dtype=np.complex128)
    np.testing.assert_allclose(state, reference, atol=1e-5)


@pytest.mark.parametrize("num_qubits", [1, 2, 4, 7, 14])
def test_adjoint_matches_finite_differences(num_qubits):
    rng = np.random.default_rng(200 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuits = [random_circuit(qubits, 14, rng) for _ in range(3)]
    operators = [[random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
                 for _ in circuits]
    values = random_values(rng, 3).astype(np.float64)
    upstream = rng.normal(size=(3, 2))
    batch = _batch(circuits, values, operators)
    executor = NativeExecutor()
    expected = reference_gradient(circuits, values, operators, upstream)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(executor.adjoint_gradient(batch, upstream), expected, atol=1e-4)
    _, kept = executor.expectation_and_kept(batch)  # from the forward pass's states
    np.testing.assert_allclose(executor.adjoint_gradient(batch, upstream, kept), expected,
                               atol=1e-4)


@pytest.mark.parametrize("num_qubits", [3, 12])
def test_diagonal_operator_terms_summed_in_one_pass_match_cirq(num_qubits):
    """Z strings on the low index bits, on the high ones, across both, an identity term
    and a term with an X, in operators of rows that run in SIMD lanes (eight of one
    circuit) and of rows that run alone: their expectations (read from the state's
    marginal probabilities) and gradients."""
    rng = np.random.default_rng(400 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    z = [cirq.Z(q) for q in qubits]
    first = sum((float(c) * zq for c, zq in zip(rng.normal(size=num_qubits), z)),
                cirq.PauliSum())
    second = 0.3 * z[0] * z[-1] - 0.7 * cirq.PauliString() + 0.5 * z[-1] * cirq.X(qubits[1])
    circuits = [random_circuit(qubits, 12, rng) for _ in range(3)]
    circuits = circuits + [circuits[0]] * 7  # with the first, eight rows of one circuit
    operators = [[first, second]] * 10
    values = random_values(rng, 10).astype(np.float64)
    upstream = rng.normal(size=(10, 2))
    batch = _batch(circuits, values, operators)
    np.testing.assert_allclose(NativeExecutor().expectation(batch),
                               cirq_expectations(circuits, values, NAMES, operators),
                               atol=1e-5)
    expected = reference_gradient(circuits, values, operators, upstream)
    assert np.abs(expected).max() > 1e-2
    got = NativeExecutor().adjoint_gradient(batch, upstream)
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("num_qubits", [1, 3, 6, 13, 16])
def test_rows_of_one_circuit_run_in_simd_lanes_and_match_cirq(num_qubits):
    """Many rows of one circuit run kLanes at a time (up to 16 qubits): a full group, a
    padded one, rows on other operators in a group of their own, a smaller group and a
    distinct circuit, which run row by row; expectations, states and the adjoint."""
    rng = np.random.default_rng(300 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    shared = random_circuit(qubits, 16, rng)
    other = random_circuit(qubits, 16, rng)
    first = [random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
    second = [random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
    third = [random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
    circuits = [shared] * 25 + [other] + [shared] * 10 + [shared] * 3
    operators = [first] * 25 + [second] + [second] * 10 + [third] * 3
    values = random_values(rng, len(circuits)).astype(np.float64)
    batch = _batch(circuits, values, operators)
    executor = NativeExecutor()
    expected = cirq_expectations(circuits, values, NAMES, operators)
    np.testing.assert_allclose(executor.expectation(batch), expected, atol=1e-5)
    states = executor.final_states(batch)
    for row in (0, 24, 25, 35, 38):
        resolver = {name: float(values[row, k]) for k, name in enumerate(NAMES)}
        reference = cirq.final_state_vector(
            cirq.resolve_parameters(circuits[row], resolver), qubit_order=qubits,
            dtype=np.complex128)
        np.testing.assert_allclose(states[row], reference, atol=1e-5)
    picked = [0, 16, 24, 25, 30, 37]  # finite differences of Cirq are slow: a few rows
    upstream = rng.normal(size=(len(circuits), 2))
    gradient = executor.adjoint_gradient(batch, upstream)
    reference = reference_gradient([circuits[r] for r in picked], values[picked],
                                   [operators[r] for r in picked], upstream[picked])
    assert np.abs(reference).max() > 1e-2
    np.testing.assert_allclose(gradient[picked], reference, atol=1e-4)
    _, kept = executor.expectation_and_kept(batch)
    np.testing.assert_allclose(executor.adjoint_gradient(batch, upstream, kept), gradient,
                               atol=1e-5)


def _diagonal_circuit(qubits: list, rng: np.random.Generator) -> cirq.Circuit:
    """Layers of rotations, each followed by a CZ brick ladder, then diagonal gates of
    every kind that stay blocks of their own: constant CZ powers and ZZ powers with
    complex entries, a controlled T and a controlled CZ, and a parameterized ZZ."""
    a, b = SYMBOLS[0], SYMBOLS[1]
    ops = []
    for layer in range(3):
        ops += [cirq.rx(a * float(rng.uniform(0.5, 2)))(q) for q in qubits]
        ops += [cirq.ry(float(rng.uniform(-2, 2)))(q) for q in qubits]
        for start in (0, 1):
            ops += [cirq.CZ(qubits[i], qubits[i + 1])
                    for i in range(start, len(qubits) - 1, 2)]
    ops += [cirq.CZPowGate(exponent=0.3)(qubits[0], qubits[2]),
            cirq.ZZPowGate(exponent=0.37)(qubits[1], qubits[4]),
            cirq.T(qubits[3]).controlled_by(qubits[1], control_values=[0]),
            cirq.CZ(qubits[2], qubits[4]).controlled_by(qubits[0]),
            cirq.ZZPowGate(exponent=b)(qubits[3], qubits[4])]
    return cirq.Circuit(ops)


@pytest.mark.parametrize("num_qubits,rows", [(6, 20), (8, 3), (14, 1)])
def test_diagonal_gates_are_scaled_and_match_cirq(num_qubits, rows):
    """Gates whose matrix is diagonal are applied by the scale kernels, which touch
    only the amplitudes whose entry is not 1: in SIMD lanes (twenty rows of one
    circuit), row by row, and with threads inside each gate (one 14-qubit row).
    Expectations, a final state and the adjoint gradient against Cirq."""
    rng = np.random.default_rng(500 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuit = _diagonal_circuit(qubits, rng)
    program = compiler.compile_circuit(circuit)
    alone = [block for block in program.blocks if len(block.steps) == 1]
    # each layer's rotations join its even CZs, so its odd CZs and the five gates at
    # the end stay blocks of their own
    assert len(alone) == 3 * (num_qubits // 2 - 1) + 5
    circuits = [circuit] * rows
    operators = [[random_paulisum(qubits, rng), cirq.Z(qubits[0]) * cirq.Z(qubits[3])]] * rows
    values = random_values(rng, rows).astype(np.float64)
    batch = _batch(circuits, values, operators)
    executor = NativeExecutor()
    np.testing.assert_allclose(executor.expectation(batch),
                               cirq_expectations(circuits, values, NAMES, operators),
                               atol=1e-5)
    resolver = {name: float(values[-1, k]) for k, name in enumerate(NAMES)}
    reference = cirq.final_state_vector(cirq.resolve_parameters(circuit, resolver),
                                        qubit_order=qubits, dtype=np.complex128)
    np.testing.assert_allclose(executor.final_states(batch)[-1], reference, atol=1e-5)
    upstream = rng.normal(size=(rows, 2))
    picked = sorted({0, rows - 1})
    expected = reference_gradient([circuit] * len(picked), values[picked],
                                  operators[:len(picked)], upstream[picked])
    assert np.abs(expected).max() > 1e-2
    gradient = executor.adjoint_gradient(batch, upstream)
    np.testing.assert_allclose(gradient[picked], expected, atol=1e-4)


def test_rotations_by_angles_of_every_size_match_cirq():
    """The core's exp(i phase) for phases near each quadrant boundary, tiny, and large
    (up to where its reduction hands over to libm, and beyond), in lanes and alone."""
    q = cirq.LineQubit(0)
    a, b = SYMBOLS[:2]
    circuit = cirq.Circuit(cirq.rx(a)(q), cirq.rz(b)(q), cirq.ry(2.5 * a - b)(q))
    edges = (np.pi / 2 * np.arange(-8, 9)).astype(np.float32)  # float32, as layers pass
    angles = np.concatenate([edges, np.nextafter(edges, np.float32(10)),
                             np.nextafter(edges, np.float32(-10)),
                             np.float32([1e-9, -3e-7, 123.456, -4567.8, 2.0**21 - 1,
                                         2.0**21 + 3, -3e6, 5e7, 4e8, -1.5e9])])
    rng = np.random.default_rng(7)
    values = np.zeros((len(angles), len(NAMES)), np.float32)
    values[:, 0] = angles
    values[:, 1] = rng.permutation(angles)
    for rows in (np.arange(len(angles)), [3]):  # lane groups, then one row alone
        states = NativeExecutor().final_states(
            _batch([circuit] * len(rows), values[rows], [[]] * len(rows)))
        for state, row in zip(states, values[rows]):
            resolver = dict(zip(NAMES, map(float, row)))
            reference = cirq.final_state_vector(cirq.resolve_parameters(circuit, resolver),
                                                dtype=np.complex128)
            np.testing.assert_allclose(state, reference, atol=2e-6, err_msg=str(row[:2]))


@pytest.mark.parametrize("num_qubits", [7, 15])
def test_gates_on_the_lowest_bits_match_cirq(num_qubits):
    """Gates whose targets or controls sit on the last qubits (the lowest index bits)
    run sixteen amplitudes at a time: alone, with a target or control far away, and
    under controls of either value; constant and parameterized, forward and adjoint."""
    rng = np.random.default_rng(500 + num_qubits)
    q = cirq.LineQubit.range(num_qubits)
    last = num_qubits - 1  # q[last] is index bit 0
    a, b, _, _ = SYMBOLS
    placements = [((last, last - 1), ()), ((last, 0), ()), ((2, last - 2), ()),
                  ((0,), (last,)), ((last,), (0,)), ((last - 1, 3), (last, 1)),
                  ((last - 2,), (last, last - 1))]
    ops = [cirq.H.on_each(*q)]
    for targets, controls in placements:
        qubits = [q[i] for i in targets]
        values = [int(v) for v in rng.integers(2, size=len(controls))]
        constant = cirq.MatrixGate(cirq.testing.random_unitary(2 ** len(qubits),
                                                               random_state=int(rng.integers(2**31))))
        parameterized = cirq.XXPowGate(exponent=a) if len(qubits) == 2 else cirq.rx(b)
        for gate in (constant, parameterized):
            op = gate.on(*qubits)
            if controls:
                op = op.controlled_by(*[q[i] for i in controls], control_values=values)
            ops.append(op)
        ops.append(cirq.ry(a * b).on(q[int(rng.integers(num_qubits))]))
    circuits = [cirq.Circuit(ops), cirq.Circuit(ops[::-1])]
    operators = [[random_paulisum(q, rng), cirq.Z(q[last]) * cirq.X(q[0])]] * 2
    values = random_values(rng, 2).astype(np.float64)
    batch = _batch(circuits, values, operators)
    executor = NativeExecutor()
    np.testing.assert_allclose(executor.expectation(batch),
                               cirq_expectations(circuits, values, NAMES, operators), atol=1e-5)
    upstream = rng.normal(size=(2, 2))
    reference = reference_gradient(circuits, values, operators, upstream)
    assert np.abs(reference).max() > 1e-2
    np.testing.assert_allclose(executor.adjoint_gradient(batch, upstream), reference, atol=1e-4)


@pytest.mark.parametrize("num_qubits", [2, 5])
def test_affine_parameters_are_bound_in_one_pass(num_qubits):
    """Angles affine in several symbols, shared between gates, with global shifts and
    constant offsets: the batch binds them as gathers and sums (not per gate), with the
    same phases as evaluating each gate, and values and gradients that match Cirq."""
    from qml.circuits import compiler
    from qml.executors import native

    rng = np.random.default_rng(400 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    a, b, c, _ = SYMBOLS
    angles = [a, 2 * a - b / 3 + 0.5, -c, a + b + c, 0.7 * b + sympy.pi / 4]
    ops = []
    for _ in range(6 * num_qubits):
        angle = angles[rng.integers(len(angles))]
        q = qubits[rng.integers(num_qubits)]
        kind = rng.integers(4)
        if kind == 0:
            ops.append(cirq.rx(angle)(q))
        elif kind == 1:
            ops.append(cirq.ZPowGate(exponent=angle, global_shift=-0.25)(q))
        elif kind == 2 and num_qubits > 1:
            other = qubits[(qubits.index(q) + 1) % num_qubits]
            ops.append(cirq.XXPowGate(exponent=angle)(q, other))
        else:
            ops.append(cirq.PhasedXPowGate(phase_exponent=0.3, exponent=angle)(q))
    circuit = cirq.Circuit(ops)
    circuits = [circuit] * 20
    operators = [[random_paulisum(qubits, rng), random_paulisum(qubits, rng)]] * 20
    values = random_values(rng, 20).astype(np.float64)
    batch = _batch(circuits, values, operators)
    program = compiler.compile_circuit(circuit)
    table = native._table(program)
    assert table.affine is not None and table.num_phases > 0
    columns = {name: values[:, k] for k, name in enumerate(NAMES)}
    by_gate = dataclasses.replace(table, affine=None)
    rows = np.arange(20)
    np.testing.assert_allclose(table.phases(batch, program, rows),
                               by_gate.phases(batch, program, rows), atol=1e-12)
    by_phase = rng.normal(size=(20, table.num_phases))
    np.testing.assert_allclose(table.symbol_gradients(columns, by_phase, tuple(NAMES)),
                               by_gate.symbol_gradients(columns, by_phase, tuple(NAMES)),
                               atol=1e-12)
    executor = NativeExecutor()
    np.testing.assert_allclose(executor.expectation(batch),
                               cirq_expectations(circuits, values, NAMES, operators), atol=1e-5)
    upstream = rng.normal(size=(20, 2))
    picked = [0, 19]
    reference = reference_gradient([circuits[r] for r in picked], values[picked],
                                   [operators[r] for r in picked], upstream[picked])
    assert np.abs(reference).max() > 1e-2
    np.testing.assert_allclose(executor.adjoint_gradient(batch, upstream)[picked], reference,
                               atol=1e-4)


def test_long_runs_on_one_qubit_split_into_several_ops():
    """A parameterized run longer than the core's step limit still differentiates."""
    q = cirq.LineQubit(0)
    a = SYMBOLS[0]
    steps = _core.MAX_STEPS + 5
    circuit = cirq.Circuit([cirq.rx(a * (k % 3 + 1) / steps)(q) if k % 2 else
                            cirq.rz(0.1 * k)(q) for k in range(steps)])
    values = np.array([[0.7, 0, 0, 0]])
    batch = _batch([circuit], values, [[cirq.Y(q)]])
    got = NativeExecutor().adjoint_gradient(batch, np.ones((1, 1)))
    expected = reference_gradient([circuit], values, [[cirq.Y(q)]], np.ones((1, 1)))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_pqc_rows_share_the_model_and_match_cirq():
    """Joined rows (data circuit then model circuit) on the default backend."""
    rng = np.random.default_rng(5)
    qubits = cirq.GridQubit.rect(1, 4)
    model = random_circuit(qubits, 12, rng, controlled=False)
    data = [cirq.Circuit(cirq.rx(float(v))(q) for v, q in zip(rng.uniform(0, 3, 4), qubits))
            for _ in range(5)]
    layer = qml.layers.PQC(model, [cirq.Z(qubits[0]), cirq.X(qubits[1])])
    out = layer(qml.convert_to_tensor(data)).numpy()
    weights = layer.get_weights()[0]
    names = [s.name for s in layer.symbols]
    full = [d + model for d in data]
    expected = np.zeros((5, 2))
    for row, circuit in enumerate(full):
        resolver = dict(zip(names, map(float, weights)))
        expected[row] = cirq_expectations(
            [cirq.resolve_parameters(circuit, resolver)], np.zeros((1, 4)), NAMES,
            [[cirq.Z(qubits[0]), cirq.X(qubits[1])]])[0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_non_finite_parameters_are_rejected_before_the_core():
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.rx(sympy.log(SYMBOLS[0]))(q))
    batch = _batch([circuit], np.array([[-1.0, 0, 0, 0]]), [[cirq.Z(q)]])
    with pytest.raises(NonFiniteValueError, match="RxRx|Rx"):
        NativeExecutor().expectation(batch)


NO_SEEDS = np.zeros(0, np.uint64)


def _packed_arrays():
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(SYMBOLS[0])(q[0]), cirq.CNOT(*q))
    batch = _batch([circuit] * 2, np.ones((2, 4)), [[cirq.Z(q[1])]] * 2)
    return list(pack(batch).arrays), pack(batch).state_offsets


def _forward(arrays, offsets):
    out = np.zeros((2, 1))
    _core.forward(*arrays, NO_SEEDS, out, np.zeros(0, np.complex64), offsets)
    return out


# (argument index, replacement, message) for arrays corrupted at the core's boundary.
CORRUPTIONS = [
    (0, lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, 99, a), "qubits past"),
    (1, lambda a: a + 7, "outside a program"),
    (1, lambda a: np.zeros_like(a), "repeats"),
    (2, lambda a: a[::-1].copy(), "program_ops"),
    (3, lambda a: a + 40, "program_qubits"),
    (5, lambda a: np.where(np.arange(a.size).reshape(a.shape) % 4 == 1, 5, a), "phase column"),
    (6, lambda a: a[:3].copy(), "matrix offset"),
    (6, lambda a: np.full_like(a, np.nan), "not finite"),
    (7, lambda a: np.full_like(a, np.inf), "not finite"),
    (8, lambda a: a + 31, "row_qubits"),
    (9, lambda a: a * 5, "row_pieces"),
    (10, lambda a: a + 3, "out of range"),
    (11, lambda a: a + 9, "position"),
    (13, lambda a: a + 4, "row_opset"),
    (15, lambda a: a + np.uint64(2**40), "outside row"),
]


@pytest.mark.parametrize("index,corrupt,message", CORRUPTIONS)
def test_bad_arrays_get_a_typed_error(index, corrupt, message):
    arrays, offsets = _packed_arrays()
    _forward(arrays, offsets)  # the uncorrupted arrays run
    arrays[index] = corrupt(arrays[index])
    with pytest.raises(ValueError, match=message):
        _forward(arrays, offsets)


def test_wrong_dtypes_and_shapes_get_a_typed_error():
    arrays, offsets = _packed_arrays()
    wrong = list(arrays)
    wrong[0] = wrong[0].astype(np.float64)
    with pytest.raises(TypeError):
        _forward(wrong, offsets)
    with pytest.raises(ValueError, match="expectations"):
        _core.forward(*arrays, NO_SEEDS, np.zeros((3, 1)), np.zeros(0, np.complex64), offsets)
    with pytest.raises(ValueError, match="states"):
        _core.forward(*arrays, NO_SEEDS, np.zeros((2, 1)), np.zeros(3, np.complex64), offsets)
    with pytest.raises(ValueError, match="upstream"):
        _core.adjoint(*arrays, np.full((2, 1), np.nan), np.zeros(0, np.complex64), offsets,
                      np.zeros(arrays[7].size))
    with pytest.raises(ValueError, match="at least 1"):
        _core.set_num_threads(0)


def _noisy_arrays():
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q[0]), cirq.amplitude_damp(0.3)(q[0]), cirq.CNOT(*q),
                           cirq.depolarize(0.1)(q[1]))
    batch = _batch([circuit] * 2, np.zeros((2, 4)), [[cirq.Z(q[1])]] * 2)
    return list(pack(batch).arrays), pack(batch).state_offsets


def _corrupt_channel(column, value):
    def corrupt(ops):
        ops = ops.copy()
        ops[np.flatnonzero(ops[:, 7] > 0)[0], column] = value
        return ops
    return corrupt


# (op table corruption, message) for a channel op
CHANNEL_CORRUPTIONS = [
    (_corrupt_channel(7, _core.MAX_KRAUS + 1), "Kraus operators"),
    (_corrupt_channel(7, -1), "Kraus operators"),
    (_corrupt_channel(8, 2), "mixture 2"),
    (_corrupt_channel(2, 1), "no controls"),
    (_corrupt_channel(5, 0), "no terms"),
    (_corrupt_channel(4, 10**6), "matrix offset"),
    (_corrupt_channel(7, 40), "matrix offset"),  # more operators than matrices hold
]


@pytest.mark.parametrize("corrupt,message", CHANNEL_CORRUPTIONS)
def test_bad_channel_arrays_get_a_typed_error(corrupt, message):
    arrays, offsets = _noisy_arrays()
    seeds = np.arange(2, dtype=np.uint64)
    _core.forward(*arrays, seeds, np.zeros((2, 1)), np.zeros(0, np.complex64), offsets)
    arrays[0] = corrupt(arrays[0])
    with pytest.raises(ValueError, match=message):
        _core.forward(*arrays, seeds, np.zeros((2, 1)), np.zeros(0, np.complex64), offsets)


def test_channels_need_seeds_and_no_adjoint():
    arrays, offsets = _noisy_arrays()
    for seeds in (NO_SEEDS, np.zeros(3, np.uint64)):
        with pytest.raises(ValueError, match="seeds must have one entry per row"):
            _core.forward(*arrays, seeds, np.zeros((2, 1)), np.zeros(0, np.complex64), offsets)
    with pytest.raises(ValueError, match="without noise channels"):
        _core.adjoint(*arrays, np.ones((2, 1)), np.zeros(0, np.complex64), offsets,
                      np.zeros(arrays[7].size))
    gate_arrays, gate_offsets = _packed_arrays()  # seeds are optional without channels
    with pytest.raises(ValueError, match="seeds must have one entry per row"):
        _core.forward(*gate_arrays, np.zeros(1, np.uint64), np.zeros((2, 1)),
                      np.zeros(0, np.complex64), gate_offsets)


def test_sample_arrays_get_a_typed_error():
    arrays, _ = _packed_arrays()  # two rows of two qubits
    seeds = np.arange(2, dtype=np.uint64)
    with pytest.raises(ValueError, match="seeds"):
        _core.sample(*arrays, np.zeros(3, np.uint64), np.zeros((2, 4, 2), np.int8))
    with pytest.raises(ValueError, match="bits must be"):
        _core.sample(*arrays, seeds, np.zeros((3, 4, 2), np.int8))
    with pytest.raises(ValueError, match="row 0 has 2 qubits, wider than 1 columns"):
        _core.sample(*arrays, seeds, np.zeros((2, 4, 1), np.int8))
    for wrong in (np.zeros((2, 4, 2), np.int32), np.zeros((2, 8), np.int8)):
        with pytest.raises(TypeError):
            _core.sample(*arrays, seeds, wrong)
    bits = np.full((2, 4, 3), 7, np.int8)
    _core.sample(*arrays, seeds, bits)
    assert (bits[:, :, 2] == 7).all()  # columns past a row's qubits are left alone
    assert set(np.unique(bits[:, :, :2])) <= {0, 1}


def test_simd_build_and_threads_are_reported():
    assert qml.executors.native.simd() in ("avx512", "avx2", "portable")
    assert qml.executors.native.threads() >= 1


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_rows_shared_among_threads_and_concurrent_callers_match_cirq(threads):
    """Rows (single and in lanes) shared among the calling thread and helpers, with
    more helpers than processors, and two Python threads calling the core at once."""
    import concurrent.futures

    rng = np.random.default_rng(300 + threads)
    qubits = cirq.LineQubit.range(5)
    distinct = [random_circuit(qubits, 16, rng) for _ in range(6)]
    circuits = distinct + [distinct[0]] * 40  # six single rows and lane groups
    operators = [[random_paulisum(qubits, rng)]] * len(circuits)
    values = random_values(rng, len(circuits))
    expected = cirq_expectations(circuits, values, NAMES, operators)
    batch = _batch(circuits, values, operators)
    previous = qml.executors.native.threads()
    qml.executors.native.set_threads(threads)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: NativeExecutor().expectation(batch), range(6)))
    finally:
        qml.executors.native.set_threads(previous)
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def _check_values_and_gradients_on(threads: int, circuits: list, values: np.ndarray,
                                   operators: list, upstream: np.ndarray) -> None:
    """The core on ``threads`` threads: expectations against Cirq, and gradients from
    the kept states against finite differences."""
    batch = _batch(circuits, values, operators)
    previous = qml.executors.native.threads()
    qml.executors.native.set_threads(threads)
    try:
        got, kept = NativeExecutor().expectation_and_kept(batch)
        gradient = NativeExecutor().adjoint_gradient(batch, upstream, kept)
    finally:
        qml.executors.native.set_threads(previous)
    np.testing.assert_allclose(got, cirq_expectations(circuits, values, NAMES, operators),
                               atol=1e-5)
    np.testing.assert_allclose(gradient, reference_gradient(circuits, values, operators,
                                                            upstream), atol=1e-4)


@pytest.mark.parametrize("rows", [2, 8])
def test_rows_of_15_qubits_one_per_thread_or_all_threads_per_gate_match_cirq(rows):
    """Distinct rows of 15 qubits run one per thread when each of 2 threads gets 4
    (8 rows), and with both threads inside each gate otherwise (2 rows)."""
    rng = np.random.default_rng(400 + rows)
    qubits = cirq.LineQubit.range(15)
    circuits = [random_circuit(qubits, 12, rng) for _ in range(rows)]
    operators = [[random_paulisum(qubits, rng)] for _ in circuits]
    values = random_values(rng, rows).astype(np.float64)
    upstream = rng.normal(size=(rows, 1))
    _check_values_and_gradients_on(2, circuits, values, operators, upstream)


def _low_bit_circuit(qubits: list, num_ops: int, low: int,
                     rng: np.random.Generator) -> cirq.Circuit:
    """A random circuit whose ops mostly lie on the last ``low`` qubits (the register's
    low index bits), with some on the others and some controlled across the two."""
    wide = random_circuit(qubits, num_ops // 4, rng)
    narrow = random_circuit(qubits[-low:], num_ops - num_ops // 4, rng)
    ops = list(narrow.all_operations())
    for op in wide.all_operations():  # spread among the narrow ones
        ops.insert(int(rng.integers(len(ops) + 1)), op)
    return cirq.Circuit(ops)


@pytest.mark.parametrize("threads", [1, 2])
def test_ops_on_the_low_bits_of_wide_rows_run_tile_by_tile_and_match_cirq(threads):
    """Rows of 18 qubits run their consecutive ops on the low 15 bits tile by tile
    (serially, or tiles shared among threads): expectations against Cirq, gradients
    against finite differences, and a run longer than the core's cap on one."""
    rng = np.random.default_rng(500 + threads)
    qubits = cirq.LineQubit.range(18)
    circuits = [_low_bit_circuit(qubits, 40, 15, rng), _low_bit_circuit(qubits, 160, 15, rng)]
    ops = [op for c in circuits for op in c.all_operations()]
    assert any(min(q.x for q in op.qubits) < 3 for op in ops)  # ops that end a run
    operators = [[random_paulisum(qubits, rng)] for _ in circuits]
    values = random_values(rng, 2).astype(np.float64)
    upstream = rng.normal(size=(2, 1))
    long_program = _batch(circuits[1:], values[1:], operators[1:])
    assert pack(long_program).arrays[2][-1] > _core.MAX_TILE_OPS  # compiled ops
    _check_values_and_gradients_on(threads, circuits, values, operators, upstream)


def test_a_training_step_prepares_each_batch_once(monkeypatch):
    """In graph mode the gradient takes the forward pass's batch and states."""
    import qml.ops as ops

    calls = []
    original = ops.prepare
    monkeypatch.setattr(ops, "prepare", lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(9)
    qubits = cirq.LineQubit.range(3)
    circuits = qml.convert_to_tensor([random_circuit(qubits, 10, rng) for _ in range(4)])
    operators = qml.convert_to_tensor([[random_paulisum(qubits, rng)]] * 4)
    variable = tf.Variable(random_values(rng, 4))
    layer = qml.layers.Expectation()

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
        return out, tape.gradient(out, variable)

    out, grad = step()
    assert len(calls) == 1
    with tf.GradientTape() as tape:
        eager = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=operators)
    eager_grad = tape.gradient(eager, variable)
    np.testing.assert_allclose(out.numpy(), eager.numpy(), atol=1e-6)
    np.testing.assert_allclose(grad.numpy(), eager_grad.numpy(), atol=1e-5)


@pytest.mark.slow
def test_distinct_circuits_keep_memory_bounded():
    """200 distinct 10-qubit circuits (the barren-plateau construction), value and
    gradient, in a fresh process: the call's peak resident memory, over what the
    process held before it (TensorFlow, the Cirq circuits), stays under a budget."""
    script = textwrap.dedent("""
        import gc, cirq, numpy as np, sympy, tensorflow as tf, qml

        def status_mib(field):  # this process's own figures; ru_maxrss would count the
            with open("/proc/self/status") as status:  # parent's pages, copied at fork
                line = next(line for line in status if line.startswith(field))
            return int(line.split()[1]) // 1024

        rng = np.random.default_rng(0)
        qubits = cirq.GridQubit.rect(1, 10)
        theta = sympy.Symbol("theta")
        circuits = []
        for k in range(200):
            ops = [cirq.ry(np.pi / 4)(q) for q in qubits]
            gates = [cirq.rx, cirq.ry, cirq.rz]
            for layer in range(50):
                for q in qubits:
                    angle = theta if (layer, q) == (0, qubits[0]) else float(rng.uniform(0, 6))
                    ops.append(gates[rng.integers(3)](angle)(q))
                ops += [cirq.CZ(a, b) for a, b in zip(qubits, qubits[1:])]
            circuits.append(cirq.Circuit(ops))
        values = tf.Variable(rng.uniform(0, 6, (200, 1)).astype(np.float32))
        gc.collect()
        before = status_mib("VmRSS:")
        with tf.GradientTape() as tape:
            out = qml.layers.Expectation()(circuits, symbol_names=[theta],
                                           symbol_values=values,
                                           operators=cirq.Z(qubits[0]) * cirq.Z(qubits[1]))
        grad = tape.gradient(out, values)
        assert np.isfinite(grad.numpy()).all() and grad.shape == (200, 1)
        print(status_mib("VmHWM:") - before)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    growth_mib = int(result.stdout.strip().splitlines()[-1])
    assert growth_mib < 512, f"peak resident memory grew by {growth_mib} MiB"


def _fuse_inputs():
    """The core's fusion inputs for a small circuit: its word stream and gate table."""
    from qml.circuits import fusion
    from qml.circuits.blocks import GateTable
    from qml.circuits.serialize import parse_row

    q = cirq.LineQubit.range(3)
    parsed = parse_row(serialize_circuit(cirq.Circuit(
        cirq.rx(0.3)(q[0]), cirq.CZ(q[0], q[1]), cirq.X(q[2]).controlled_by(q[0]),
        cirq.ry(sympy.Symbol("a"))(q[1]))))
    table = GateTable.of(parsed["gates"])
    operations = [op for moment in parsed["moments"] for op in moment]
    return [fusion._words(operations), len(operations), table.widths, table.roles,
            table.offsets, table.matrices, 3]


def _corrupt(index, value):
    def corrupt(array):
        array = array.copy()
        array[index] = value
        return array
    return corrupt


# (argument index, corruption, message) for the fusion's gate table.
FUSE_CORRUPTIONS = [
    (2, lambda a: a[:-1].copy(), "one entry per gate"),
    (3, _corrupt(0, 9), "not a gate role"),
    (2, _corrupt(0, 0), "widths"),
    (4, _corrupt(0, 10**6), "outside matrices"),
    (4, _corrupt(0, -3), "outside matrices"),
    (5, lambda a: np.full_like(a, np.nan), "not finite"),
    (1, lambda n: -1, "negative"),
]


@pytest.mark.parametrize("index,corrupt,message", FUSE_CORRUPTIONS)
def test_bad_fusion_tables_get_a_typed_error(index, corrupt, message):
    inputs = _fuse_inputs()
    assert _core.fuse(*inputs)[5][0] == 0  # the uncorrupted inputs fuse
    inputs[index] = corrupt(inputs[index])
    with pytest.raises(ValueError, match=message):
        _core.fuse(*inputs)
    wrong = _fuse_inputs()
    wrong[0] = wrong[0].astype(np.int32)
    with pytest.raises(TypeError):
        _core.fuse(*wrong)


def _word_corruptions():
    """(corruption of the word stream, the operation it makes malformed)."""
    words = _fuse_inputs()[0]
    starts = [0]  # each operation's first word
    while len(starts) < 4:
        start = starts[-1]
        targets = words[start + 1]
        starts.append(start + 3 + targets + 2 * words[start + 2 + targets])
    return [
        (_corrupt(starts[0], 99), 0),                       # no such gate
        (_corrupt(starts[1] + 2, 3), 1),                    # a qubit past the register
        (_corrupt(starts[1] + 3, words[starts[1] + 2]), 1),  # a repeated qubit
        (_corrupt(starts[2] + 1, words[starts[2] + 1] + 1), 2),  # a width the gate lacks
        (lambda a: a[:-1].copy(), 3),                       # the stream ends early
        (lambda a: np.append(a, 0), 3),                     # words left over
    ]


@pytest.mark.parametrize("case", range(6))
def test_malformed_word_streams_name_their_operation(case):
    corrupt, operation = _word_corruptions()[case]
    inputs = _fuse_inputs()
    inputs[0] = corrupt(inputs[0])
    error = _core.fuse(*inputs)[5]
    assert error[0] == 1 and error[1] == operation  # MALFORMED, at that operation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_gate_appended_to_a_table_matches_the_table_built_whole(seed):
    from qml.circuits.blocks import GateTable
    from qml.circuits.serialize import parse_row

    rng = np.random.default_rng(seed)
    qubits = cirq.LineQubit.range(4)
    head, tail = (parse_row(serialize_circuit(random_circuit(qubits, 25, rng)))["gates"]
                  for _ in range(2))
    table = GateTable.of(head)
    for fields in tail:
        whole, table = GateTable.of(head + [fields]), table.appended(fields)
        head = head + [fields]
        np.testing.assert_array_equal(table.widths, whole.widths)
        np.testing.assert_array_equal(table.roles, whole.roles)
        assert dict(table.symbols) == dict(whole.symbols)
        for index in range(len(whole)):
            ours, theirs = table.gate(index), whole.gate(index)
            assert ours.fields == theirs.fields and ours.symbols == theirs.symbols
            if theirs.constant is None:
                assert ours.constant is None
            else:
                np.testing.assert_allclose(ours.constant, theirs.constant, atol=1e-12)


@pytest.fixture
def restore_kernels():
    """Puts back the kernel build in use before the test (QML_KERNELS's, if set)."""
    before = qml.executors.native.simd()
    yield
    qml.executors.native.use_kernels(before)


@pytest.mark.parametrize("num_qubits", [3, 7, 18])
def test_every_kernel_build_this_host_runs_matches_cirq_and_the_others(num_qubits,
                                                                       restore_kernels):
    """The AVX-512, AVX2 and portable builds, each that this processor runs, on
    distinct rows, rows of one circuit (SIMD lanes) and, at 18 qubits, tiles of a wide
    row: values against Cirq and each other, gradients against finite differences."""
    native = qml.executors.native
    rng = np.random.default_rng(900 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    distinct = [random_circuit(qubits, 30, rng) for _ in range(2 if num_qubits < 18 else 1)]
    circuits = distinct + ([distinct[0]] * 17 if num_qubits < 18 else [])
    operators = [[random_paulisum(qubits, rng), random_paulisum(qubits, rng)]
                 for _ in circuits]
    values = random_values(rng, len(circuits)).astype(np.float64)
    upstream = rng.normal(size=(len(circuits), 2))
    batch = _batch(circuits, values, operators)
    expected = cirq_expectations(circuits, values, NAMES, operators)
    expected_gradient = reference_gradient(circuits[:3], values[:3], operators[:3],
                                           upstream[:3])
    results = {}
    for build in native.runnable_kernels():
        native.use_kernels(build)
        assert native.simd() == build
        results[build] = (NativeExecutor().expectation(batch),
                          NativeExecutor().adjoint_gradient(batch, upstream))
        np.testing.assert_allclose(results[build][0], expected, atol=1e-5, err_msg=build)
        np.testing.assert_allclose(results[build][1][:3], expected_gradient, atol=1e-4,
                                   err_msg=build)
    first = next(iter(results.values()))
    for build, (values_, gradient) in results.items():
        np.testing.assert_allclose(values_, first[0], atol=1e-6, err_msg=build)
        np.testing.assert_allclose(gradient, first[1], atol=1e-5, err_msg=build)


def test_a_kernel_build_the_host_cannot_run_is_refused_by_name():
    with pytest.raises(ValueError, match="kernels must name a build.*got 'sse9'"):
        qml.executors.native.use_kernels("sse9")
    script = "import qml"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "QML_KERNELS": "sse9"})
    assert done.returncode != 0 and "QML_KERNELS" in done.stderr and "sse9" in done.stderr
