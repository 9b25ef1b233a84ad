"""Sampling, states, unitaries and noise: statistics against Cirq's simulators."""

import dataclasses

import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import (NAMES, cirq_expectations, keras_round_trip, random_circuit,
                      random_paulisum, random_values)
from scipy import stats

import qml
from qml.circuits.serialize import serialize_circuit, serialize_paulisum
from qml.errors import CircuitFormatError, UnsupportedGateError
from qml.executors import Estimation, QsimExecutor, prepare
from qml.executors.native import NativeExecutor

# A chi-square test at this level fails a correct sampler once in 10**4 runs; the
# seeds are fixed, so a pass is repeatable.
P_VALUE_FLOOR = 1e-4

CHANNELS = {
    "depolarize": lambda rng: cirq.depolarize(rng.uniform(0.05, 0.3)),
    "depolarize-2q": lambda rng: cirq.depolarize(rng.uniform(0.05, 0.3), n_qubits=2),
    "asymmetric_depolarize": lambda rng: cirq.asymmetric_depolarize(
        *rng.uniform(0.02, 0.15, 3)),
    "amplitude_damp": lambda rng: cirq.amplitude_damp(rng.uniform(0.1, 0.5)),
    "generalized_amplitude_damp": lambda rng: cirq.generalized_amplitude_damp(
        rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.5)),
    "phase_damp": lambda rng: cirq.phase_damp(rng.uniform(0.1, 0.5)),
    "phase_flip": lambda rng: cirq.phase_flip(rng.uniform(0.1, 0.4)),
    "bit_flip": lambda rng: cirq.bit_flip(rng.uniform(0.1, 0.4)),
    "reset": lambda rng: cirq.ResetChannel(),
    "kraus-1q": lambda rng: _random_kraus(rng, 1),
    "kraus-2q": lambda rng: _random_kraus(rng, 2),
    "mixture": lambda rng: cirq.X.with_probability(rng.uniform(0.1, 0.5)),
}


def _random_kraus(rng, num_qubits: int) -> cirq.KrausChannel:
    """A random channel: blocks of a random isometry are Kraus operators."""
    dim = 2**num_qubits
    isometry = cirq.testing.random_unitary(3 * dim, random_state=int(rng.integers(2**31)))
    return cirq.KrausChannel([isometry[k * dim:(k + 1) * dim, :dim] for k in range(3)])


def noisy_circuit(qubits, rng, channel: str, num_ops: int = 8) -> cirq.Circuit:
    """A random circuit with the channel inserted after a few of its operations."""
    base = random_circuit(qubits, num_ops, rng, symbolic=False, controlled=False)
    ops = []
    for op in base.all_operations():
        ops.append(op)
        if rng.random() < 0.4:
            gate = CHANNELS[channel](rng)
            if gate.num_qubits() > len(qubits):
                continue
            chosen = rng.choice(len(qubits), gate.num_qubits(), replace=False)
            ops.append(gate.on(*(qubits[i] for i in chosen)))
    gate = CHANNELS[channel](rng)  # at least one channel
    ops.append(gate.on(*qubits[:gate.num_qubits()]) if gate.num_qubits() <= len(qubits)
               else cirq.bit_flip(0.2).on(qubits[0]))
    return cirq.Circuit(ops)


def density_expectations(circuit, qubits, operators) -> np.ndarray:
    rho = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(
        circuit, qubit_order=qubits).final_density_matrix
    return np.array([np.real(np.trace(rho @ op.matrix(qubits))) for op in operators])


def chi_square_p(counts: np.ndarray, probabilities: np.ndarray) -> float:
    """p-value of observed counts against probabilities; bins expecting fewer than 5
    counts are pooled."""
    expected = probabilities * counts.sum()
    small = expected < 5
    observed = np.append(counts[~small], counts[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    keep = expected > 0
    if keep.sum() < 2:
        return 1.0
    expected = expected[keep] * observed[keep].sum() / expected[keep].sum()
    return float(stats.chisquare(observed[keep], expected).pvalue)


def _indices(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.int64) @ (1 << np.arange(bits.shape[1] - 1, -1, -1))


# ------------------------------------------------------------------------- channels
@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_channels_round_trip_through_the_circuit_format(channel):
    rng = np.random.default_rng(3)
    qubits = cirq.LineQubit.range(2)
    gate = CHANNELS[channel](rng)
    circuit = cirq.Circuit(gate.on(*qubits[:gate.num_qubits()]))
    restored = qml.from_tensor(qml.convert_to_tensor([circuit]))[0]
    original, back = next(circuit.all_operations()), next(restored.all_operations())
    for a, b in zip(cirq.kraus(original), cirq.kraus(back)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    if channel not in ("kraus-1q", "kraus-2q", "mixture"):
        assert back == original


def test_unsupported_channels_are_refused():
    q = cirq.LineQubit.range(3)
    with pytest.raises(UnsupportedGateError, match="symbolic parameters"):
        qml.convert_to_tensor([cirq.Circuit(cirq.X.with_probability(sympy.Symbol("p"))(q[0]))])
    with pytest.raises(UnsupportedGateError, match="1 to 2 qubits"):
        qml.convert_to_tensor([cirq.Circuit(cirq.depolarize(0.1, n_qubits=3)(*q))])
    # A row whose Kraus operators are not trace preserving is rejected when compiled.
    row = qml.convert_to_tensor([cirq.Circuit(cirq.bit_flip(0.1)(q[0]))]).numpy()[0]
    broken = row.replace(b"0.9486832980505138", b"0.5")
    assert broken != row
    with pytest.raises(CircuitFormatError, match="trace preserving"):
        qml.noise.expectation(tf.constant([broken]), [], tf.zeros([1, 0]), [[cirq.Z(q[0])]],
                              10)


# ------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("num_qubits", [1, 2, 3, 5])
def test_sample_frequencies_match_cirq(num_qubits):
    rng = np.random.default_rng(10 + num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [random_circuit(qubits, 4 * num_qubits, rng) for _ in range(3)]
    values = random_values(rng, 3)
    reps = 4000
    samples = qml.layers.Sample(seed=5)(circuits, symbol_names=NAMES, symbol_values=values,
                                        repetitions=reps)
    assert samples.dtype == tf.int8 and samples.shape.as_list() == [3, None, None]
    for row, circuit in enumerate(circuits):
        bits = samples[row].to_tensor().numpy()
        assert bits.shape == (reps, num_qubits)
        resolver = dict(zip(NAMES, map(float, values[row])))
        state = cirq.final_state_vector(circuit, param_resolver=resolver, qubit_order=qubits,
                                        dtype=np.complex128)
        counts = np.bincount(_indices(bits), minlength=2**num_qubits)
        assert chi_square_p(counts, np.abs(state) ** 2) > P_VALUE_FLOOR


@pytest.mark.parametrize("num_qubits,rows", [(3, 16), (15, 1), (17, 1)])
def test_native_samples_match_cirq_in_lanes_and_on_wide_registers(num_qubits, rows):
    """Sixteen rows of one circuit sample from SIMD lanes; a 15-qubit row from a table
    with an entry per amplitude, a 17-qubit row from one per block of amplitudes (its
    nonzero amplitudes lie apart, so a draw must skip zeros inside its block)."""
    rng = np.random.default_rng(40 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    mixed = random_circuit(qubits[:3], 12, rng)
    fixed = rng.integers(2, size=num_qubits - 3)
    circuit = mixed + cirq.Circuit((cirq.X if bit else cirq.I)(q)
                                   for q, bit in zip(qubits[3:], fixed))
    values = random_values(rng, rows)
    reps = 3000
    samples = qml.layers.Sample(backend=NativeExecutor(), seed=9)(
        [circuit] * rows, symbol_names=NAMES, symbol_values=values,
        repetitions=reps).to_tensor().numpy()
    assert samples.shape == (rows, reps, num_qubits)
    assert (samples[:, :, 3:] == fixed).all()
    for row in range(rows):
        resolver = dict(zip(NAMES, map(float, values[row])))
        state = cirq.final_state_vector(mixed, param_resolver=resolver, qubit_order=qubits[:3],
                                        dtype=np.complex128)
        counts = np.bincount(_indices(samples[row, :, :3]), minlength=8)
        assert chi_square_p(counts, np.abs(state) ** 2) > P_VALUE_FLOOR


def test_samples_are_ragged_over_qubit_counts_and_padding():
    q = cirq.LineQubit.range(3)
    circuits = [cirq.Circuit(cirq.X(q[0]), cirq.I(q[2])), cirq.Circuit(),
                cirq.Circuit(cirq.X(q[1]))]
    out = qml.layers.Sample(seed=1)(circuits, repetitions=2).to_list()
    assert out == [[[1, 0], [1, 0]], [[], []], [[1], [1]]]


def test_sample_arguments_are_checked():
    q = cirq.LineQubit(0)
    layer = qml.layers.Sample()
    with pytest.raises(ValueError, match="repetitions"):
        layer(cirq.Circuit(cirq.X(q)))
    with pytest.raises(ValueError, match="at least 1, got 0"):
        layer(cirq.Circuit(cirq.X(q)), repetitions=0)
    with pytest.raises(ValueError, match="seed"):
        qml.layers.Sample(seed=-3)
    with pytest.raises(TypeError, match="tensorflow.* executor cannot compute samples"):
        qml.layers.Sample(backend="tensorflow")(cirq.Circuit(cirq.X(q)), repetitions=2)


def test_sampled_expectation_is_within_4_sigma_and_sigma_shrinks():
    rng = np.random.default_rng(21)
    qubits = cirq.GridQubit.rect(1, 3)
    circuit = random_circuit(qubits, 10, rng, symbolic=False)
    operators = [cirq.Z(qubits[0]) + 0.5 * cirq.X(qubits[1]) * cirq.Y(qubits[2]) + 0.25,
                 cirq.PauliSum.wrap(cirq.X(qubits[2]))]
    exact = density_expectations(circuit, qubits, operators)
    # (coefficient, exact value) of each term measured with shots
    terms = [[(np.real(t.coefficient), density_expectations(
                  circuit, qubits, [cirq.PauliSum.wrap(t / t.coefficient)])[0])
              for t in op if t.qubits] for op in operators]
    layer = qml.layers.SampledExpectation(seed=4)
    spreads = {}
    for reps in (100, 1600):
        # sigma of each operator: sum over its terms of c**2 (1 - <P>**2) / reps
        sigma = np.array([np.sqrt(sum(c**2 * (1 - v**2) for c, v in row) / reps)
                          for row in terms])
        values = np.stack([layer(circuit, operators=operators, repetitions=reps).numpy()[0]
                           for _ in range(200)])
        assert np.all(np.abs(values.mean(axis=0) - exact) < 4 * sigma / np.sqrt(200))
        assert np.all(np.abs(values - exact) < 4 * sigma + 1e-6)
        spreads[reps] = values.std(axis=0)
        np.testing.assert_allclose(spreads[reps], sigma, rtol=0.25)
    np.testing.assert_allclose(spreads[100] / spreads[1600], 4.0, rtol=0.3)


def test_native_sampled_expectations_of_mixed_operators_match_cirq():
    """Sixteen rows of one circuit (SIMD lanes) and two rows of others, each row with
    operators of its own: every estimate lies within 5 sigma of Cirq's exact value,
    sigma bounded by sqrt(sum of squared term coefficients / shots)."""
    rng = np.random.default_rng(77)
    qubits = cirq.GridQubit.rect(1, 4)
    circuits = [random_circuit(qubits, 16, rng)] * 16 + [
        random_circuit(qubits, 16, rng) for _ in range(2)]
    values = random_values(rng, len(circuits))
    operators = [[random_paulisum(qubits, rng) for _ in range(2)] for _ in circuits]
    shots = rng.integers(2000, 4000, (len(circuits), 2))
    estimates = qml.layers.SampledExpectation(backend=NativeExecutor(), seed=3)(
        circuits, symbol_names=NAMES, symbol_values=values, operators=operators,
        repetitions=shots).numpy()
    exact = cirq_expectations(circuits, values, NAMES, operators)
    sigma = np.array([[np.sqrt(sum(abs(t.coefficient) ** 2 for t in op if t.qubits) / n)
                       for op, n in zip(row, counts)]
                      for row, counts in zip(operators, shots)])
    assert np.all(np.abs(estimates - exact) <= 5 * sigma + 1e-6)


def test_sampled_expectation_takes_per_row_repetitions():
    q = cirq.LineQubit(0)
    circuits = [cirq.Circuit(cirq.ry(0.3)(q)), cirq.Circuit(cirq.ry(2.0)(q))]
    out = qml.layers.SampledExpectation(seed=2)(
        circuits, operators=[cirq.Z(q), cirq.X(q)], repetitions=[[5, 7], [1, 3]]).numpy()
    # An average of n shots of +-1 is a multiple of 2 / n.
    for row, counts in enumerate([[5, 7], [1, 3]]):
        for k, n in enumerate(counts):
            assert np.isclose((out[row, k] + 1) * n / 2, round((out[row, k] + 1) * n / 2),
                              atol=1e-5)
    with pytest.raises(ValueError, match="repetitions"):
        qml.layers.SampledExpectation()(circuits[0], operators=cirq.Z(q))
    with pytest.raises(ValueError, match="at least 1"):
        qml.layers.SampledExpectation()(circuits, operators=cirq.Z(q), repetitions=[[1], [0]])


# ---------------------------------------------------------------------------- seeds
def test_seeded_runs_repeat_and_unseeded_runs_differ():
    rng = np.random.default_rng(2)
    qubits = cirq.GridQubit.rect(1, 4)
    circuit = noisy_circuit(qubits, rng, "depolarize")
    clean = random_circuit(qubits, 12, rng, symbolic=False)

    def draws(seed=None):
        return [qml.layers.Sample(seed=seed)([clean, circuit], repetitions=50).to_list(),
                qml.layers.SampledExpectation(seed=seed)(
                    [clean], operators=cirq.Z(qubits[0]), repetitions=50).numpy().tolist(),
                qml.noise.expectation([circuit], [], tf.zeros([1, 0]), [[cirq.Z(qubits[1])]],
                                      20, seed=seed).numpy().tolist()]

    assert draws(seed=7) == draws(seed=7)
    tf.random.set_seed(11)
    first = draws()
    tf.random.set_seed(11)
    assert draws() == first
    assert draws() != first  # the global seed's stream moves on
    assert draws(seed=7) != draws(seed=8)


# ----------------------------------------------------------------------------- noise
@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_noisy_expectations_match_the_density_matrix(channel):
    rng = np.random.default_rng(sorted(CHANNELS).index(channel))
    trajectories = 3000
    for num_qubits in (1, 3, 6):
        qubits = cirq.GridQubit.rect(1, num_qubits)
        circuit = noisy_circuit(qubits, rng, channel)
        # Single Pauli strings: each trajectory's value lies in [-1, 1], so the
        # standard error of the mean is at most 1 / sqrt(trajectories).
        operators = [cirq.PauliSum.from_pauli_strings(
            cirq.PauliString({q: [cirq.X, cirq.Y, cirq.Z][rng.integers(3)]
                              for q in rng.choice(qubits, min(2, num_qubits), replace=False)}))
            for _ in range(3)]
        exact = density_expectations(circuit, qubits, operators)
        bound = 4 / np.sqrt(trajectories)
        noisy = qml.layers.Expectation(backend="noisy", seed=num_qubits)(
            circuit, operators=operators, repetitions=trajectories).numpy()[0]
        assert np.all(np.abs(noisy - exact) < bound), (noisy, exact)
        sampled = qml.noise.sampled_expectation(
            [circuit], [], tf.zeros([1, 0]), [operators], trajectories, seed=3).numpy()[0]
        assert np.all(np.abs(sampled - exact) < bound), (sampled, exact)


def _mixed_noise_circuit(qubits, rng, kinds) -> cirq.Circuit:
    """A random circuit with a channel of each of ``kinds`` on random qubits."""
    ops = list(random_circuit(qubits, 6, rng, symbolic=False, controlled=False).all_operations())
    for name in kinds:
        gate = CHANNELS[name](rng)
        chosen = rng.choice(len(qubits), gate.num_qubits(), replace=False)
        ops.insert(int(rng.integers(len(ops) + 1)), gate.on(*(qubits[i] for i in chosen)))
    return cirq.Circuit(ops)


@pytest.mark.parametrize("executor,width,rows,trajectories", [
    (NativeExecutor(), 4, 4, 20000), (NativeExecutor(), 17, 1, 3000),
    (QsimExecutor(), 4, 4, 2000), (QsimExecutor(), 17, 1, 1000)],
    ids=["native-4q", "native-17q", "qsim-4q", "qsim-17q"])
def test_trajectories_match_the_density_matrix_in_lanes_and_alone(executor, width, rows,
                                                                  trajectories):
    """Narrow rows' trajectories share SIMD lanes in the native core; a 17-qubit row's
    run one at a time. Its circuit acts on three of its qubits and the rest idle, so
    the density matrix of those three is the reference. The four narrow rows hold
    every kind of channel between them; a few channels per row leave values far
    enough from 0 that a wrongly scaled trajectory shows."""
    rng = np.random.default_rng(width)
    register = cirq.LineQubit.range(width)
    active = register[::8] if width > 8 else register[:3]
    idle = [cirq.I(q) for q in register if q not in active]
    kinds = [sorted(CHANNELS)[row::4] for row in range(rows)] if rows > 1 else \
        [["kraus-2q", "reset", "amplitude_damp", "kraus-1q"]]
    circuits = [cirq.Circuit(idle, _mixed_noise_circuit(active, rng, row_kinds))
                for row_kinds in kinds]
    # A last row that every trajectory ends in |000>: a wrongly normalised one shows.
    circuits.append(cirq.Circuit(idle, cirq.H(active[0]), cirq.ResetChannel().on(active[0]),
                                 cirq.ry(1.1)(active[1]), cirq.amplitude_damp(1.0)(active[1]),
                                 cirq.X(active[2]), cirq.amplitude_damp(1.0)(active[2])))
    rows += 1
    operators = [[cirq.Z(active[0]), cirq.X(active[1]) * cirq.Y(active[2]),
                  0.5 * cirq.Z(active[1]) - 0.5 * cirq.X(active[0])] for _ in circuits]
    batch = prepare([serialize_circuit(c) for c in circuits], [], np.zeros((rows, 0)),
                    [[serialize_paulisum(cirq.PauliSum.wrap(o)) for o in row] for row in operators])
    assert list(batch.row_qubits) == [width] * rows
    batch = dataclasses.replace(batch, estimation=Estimation(
        np.full((rows, 3), trajectories), seed=width))
    got = executor.noisy_expectation(batch)
    for row, circuit in enumerate(circuits):
        exact = density_expectations(cirq.Circuit(op for op in circuit.all_operations()
                                                  if op.qubits[0] in active),
                                     active, operators[row])
        # Every operator's value on a trajectory lies in [-1, 1].
        bound = 1e-5 if row == rows - 1 else 5 / np.sqrt(trajectories)
        assert np.all(np.abs(got[row] - exact) < bound), (row, got[row], exact)


def test_channels_on_a_wide_native_row_follow_the_gates_before_them():
    """An 18-qubit row runs its gates on the low bits tile by tile, and a channel must
    wait for those gates: X then a reset on the lowest qubit leaves it in |0>, the
    other order in |1>. Every trajectory is the same, so Cirq's noiseless circuit
    without the X and the reset is the reference."""
    rng = np.random.default_rng(18)
    qubits = cirq.LineQubit.range(18)
    last, others = qubits[-1], qubits[:-1]
    before, after = (random_circuit(others, 20, rng, symbolic=False) for _ in range(2))
    noisy = cirq.Circuit(before, cirq.X(last), cirq.ResetChannel().on(last),
                         cirq.ry(1.1)(last), after)
    clean = cirq.Circuit(before, cirq.ry(1.1)(last), after)
    operators = [[cirq.Z(last), cirq.X(last), random_paulisum(others, rng)]]
    batch = prepare([serialize_circuit(noisy)], [], np.zeros((1, 0)),
                    [[serialize_paulisum(cirq.PauliSum.wrap(o)) for o in operators[0]]])
    batch = dataclasses.replace(batch, estimation=Estimation(np.full((1, 3), 4), seed=1))
    got = NativeExecutor().noisy_expectation(batch)
    expected = cirq_expectations([clean], np.zeros((1, 0)), [], operators)
    assert abs(expected[0, 0]) > 0.3  # an X left until after the reset flips its sign
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_noisy_and_noiseless_rows_mix_in_one_batch():
    """A noisy row, a noiseless row on other qubits and an empty row, through each of
    the three noisy computations, with per-operator trajectory and shot counts."""
    rng = np.random.default_rng(12)
    a, b = cirq.LineQubit.range(2), cirq.GridQubit.rect(1, 3)
    noisy = noisy_circuit(a, rng, "amplitude_damp")
    quiet = random_circuit(b, 6, rng, symbolic=False, controlled=False)
    circuits = [noisy, quiet, cirq.Circuit()]
    operators = [[cirq.Z(a[0]), cirq.X(a[1])], [cirq.Z(b[0]), cirq.Y(b[2])],
                 [cirq.PauliSum(), cirq.PauliSum()]]
    exact = [density_expectations(noisy, a, operators[0]),
             density_expectations(quiet, b, operators[1]), np.full(2, -2.0)]  # TFQ's padding
    counts = [[3000, 4000], [3000, 4000], [1, 1]]
    for function in (qml.noise.expectation, qml.noise.sampled_expectation):
        got = function(circuits, [], tf.zeros([3, 0]), operators, counts, seed=5).numpy()
        for row in range(3):
            assert np.all(np.abs(got[row] - exact[row]) < 5 / np.sqrt(3000)), (function, row, got)
    exact_rows = qml.noise.expectation(circuits[1:], [], tf.zeros([2, 0]), operators[1:],
                                       counts[1:], seed=5).numpy()
    np.testing.assert_allclose(exact_rows[0], exact[1], atol=1e-5)  # no trajectories
    bits = qml.noise.samples(circuits, [], tf.zeros([3, 0]), 3000, seed=5).to_list()
    assert [np.shape(row) for row in bits] == [(3000, 2), (3000, 3), (3000, 0)]
    for row, qubits, circuit in ((0, a, noisy), (1, b, quiet)):
        rho = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(
            circuit, qubit_order=qubits).final_density_matrix
        counts_seen = np.bincount(_indices(np.array(bits[row])), minlength=2**len(qubits))
        assert chi_square_p(counts_seen, np.real(np.diag(rho))) > P_VALUE_FLOOR


@pytest.mark.parametrize("num_qubits", [1, 2, 4])
def test_noisy_samples_match_the_density_matrix(num_qubits):
    rng = np.random.default_rng(40 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    circuit = noisy_circuit(qubits, rng, "amplitude_damp")
    rho = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(
        circuit, qubit_order=qubits).final_density_matrix
    bits = qml.noise.samples([circuit], [], tf.zeros([1, 0]), 3000, seed=9)[0]
    counts = np.bincount(_indices(bits.to_tensor().numpy()), minlength=2**num_qubits)
    assert chi_square_p(counts, np.real(np.diag(rho))) > P_VALUE_FLOOR


def test_a_noise_model_applied_to_a_circuit_runs():
    rng = np.random.default_rng(5)
    qubits = cirq.LineQubit.range(3)
    circuit = random_circuit(qubits, 10, rng, symbolic=False).with_noise(
        cirq.ConstantQubitNoiseModel(cirq.amplitude_damp(0.1)))
    operators = [cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.X(qubits[2])]
    exact = density_expectations(circuit, qubits, operators)
    noisy = qml.layers.Expectation(backend="noisy", seed=1)(
        circuit, operators=operators, repetitions=3000).numpy()[0]
    assert np.all(np.abs(noisy - exact) < 4 / np.sqrt(3000))
    # A Cirq density-matrix backend computes the same exactly.
    dm = qml.layers.Expectation(backend=cirq.DensityMatrixSimulator())(
        circuit, operators=operators).numpy()[0]
    np.testing.assert_allclose(dm, exact, atol=1e-5)


def test_noise_needs_a_noisy_backend():
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.X(q), cirq.bit_flip(0.1)(q))
    for backend in (None, "qsim", "tensorflow"):
        with pytest.raises(ValueError, match="noise channels.*backend='noisy'"):
            qml.layers.Expectation(backend=backend)(circuit, operators=cirq.Z(q))
    with pytest.raises(ValueError, match="needs repetitions"):
        qml.layers.Expectation(backend="noisy")(circuit, operators=cirq.Z(q))
    with pytest.raises(ValueError, match="noise channels"):
        qml.layers.State()(circuit)
    with pytest.raises(ValueError, match="noise channels"):
        qml.layers.Unitary()(circuit)


# ------------------------------------------------------------------ states, unitaries
@pytest.mark.parametrize("backend", [None, "tensorflow", "cirq"])
def test_states_and_unitaries_match_cirq(backend):
    rng = np.random.default_rng(8)
    for num_qubits in (1, 2, 4, 6):
        qubits = cirq.GridQubit.rect(1, num_qubits)
        circuits = [random_circuit(qubits, 3 * num_qubits, rng) for _ in range(2)]
        values = random_values(rng, 2)
        layer = qml.layers.State(backend=cirq.Simulator() if backend == "cirq" else backend)
        states = layer(circuits, symbol_names=NAMES, symbol_values=values)
        unitaries = qml.layers.Unitary()(circuits, symbol_names=NAMES, symbol_values=values)
        assert states.dtype == tf.complex64 and unitaries.dtype == tf.complex64
        for row, circuit in enumerate(circuits):
            resolved = cirq.resolve_parameters(circuit, dict(zip(NAMES, map(float, values[row]))))
            expected = cirq.final_state_vector(resolved, qubit_order=qubits, dtype=np.complex128)
            np.testing.assert_allclose(states[row].numpy(), expected, atol=1e-5)
            np.testing.assert_allclose(unitaries[row].to_tensor().numpy(),
                                       cirq.unitary(resolved), atol=1e-5)


def test_states_of_empty_and_mixed_size_circuits():
    q = cirq.LineQubit.range(2)
    out = qml.get_state_op()([cirq.Circuit(), cirq.Circuit(cirq.X(q[1]), cirq.I(q[0]))], [],
                             tf.zeros([2, 0]))
    assert out.row_lengths().numpy().tolist() == [1, 4]
    np.testing.assert_allclose(out[0].numpy(), [1], atol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), [0, 1, 0, 0], atol=1e-6)
    unitary = qml.get_unitary_op()([cirq.Circuit(cirq.X(q[0]))], [], tf.zeros([1, 0]))
    np.testing.assert_allclose(unitary.to_tensor().numpy(), [cirq.unitary(cirq.X)], atol=1e-6)


# ------------------------------------------------------------------- differentiation
def test_sampled_and_noisy_gradients_match_finite_differences():
    rng = np.random.default_rng(12)
    qubits = cirq.GridQubit.rect(1, 2)
    a, b = sympy.symbols("a b")
    circuit = cirq.Circuit(cirq.rx(a)(qubits[0]), cirq.ry(2 * b)(qubits[1]),
                           cirq.CNOT(*qubits), cirq.amplitude_damp(0.2)(qubits[1]),
                           cirq.rz(a * b)(qubits[0]), cirq.H(qubits[0]))
    operators = [cirq.Z(qubits[0]) * cirq.Z(qubits[1]), cirq.X(qubits[0])]
    values = rng.uniform(-1, 1, (1, 2))
    upstream = np.array([[1.0, -0.5]])

    def exact(v):
        resolved = cirq.resolve_parameters(circuit, {"a": v[0], "b": v[1]})
        return upstream[0] @ density_expectations(resolved, qubits, operators)

    step = 1e-5
    reference = np.array([(exact(values[0] + step * e) - exact(values[0] - step * e)) / (2 * step)
                          for e in np.eye(2)])
    for differentiator in (qml.differentiators.ParameterShift(),
                           qml.differentiators.CentralDifference(grid_spacing=0.2)):
        for sampled in (False, True):
            op = qml.get_sampled_expectation_op(seed=3)
            op.sampled = sampled  # False: average trajectories, as qml.noise.expectation
            # One differentiator serves several ops; refresh() is kept for TFQ code.
            op = differentiator.refresh().generate_differentiable_op(sampled_op=op)
            assert (op.seed, op.sampled) == (3, sampled)
            variable = tf.Variable(values.astype(np.float32))
            with tf.GradientTape() as tape:
                out = op([circuit], ["a", "b"], variable, [operators], 20000)
                loss = tf.reduce_sum(out * upstream)
            gradient = tape.gradient(loss, variable).numpy()[0]
            # ParameterShift: 2 evaluations per occurrence, each within about
            # 1.5 / sqrt(20000); central differences divide by 0.4 and carry an O(h**2)
            # bias.
            tolerance = 0.15 if isinstance(differentiator, qml.differentiators.ParameterShift) \
                else 0.45
            np.testing.assert_allclose(gradient, reference, atol=tolerance)


def test_adjoint_refuses_sampled_and_noisy_expectations():
    q = cirq.LineQubit(0)
    a = sympy.Symbol("a")
    variable = tf.Variable([[0.4]])
    for layer, kwargs in [
            (qml.layers.SampledExpectation(differentiator=qml.differentiators.Adjoint()),
             {"repetitions": 10}),
            (qml.layers.Expectation(backend="noisy",
                                    differentiator=qml.differentiators.Adjoint()),
             {"repetitions": 10})]:
        with tf.GradientTape() as tape:
            out = layer(cirq.Circuit(cirq.rx(a)(q), cirq.bit_flip(0.1)(q)), symbol_names=["a"],
                        symbol_values=variable, operators=cirq.Z(q), **kwargs)
        with pytest.raises(TypeError, match="ParameterShift.*CentralDifference"):
            tape.gradient(out, variable)


# --------------------------------------------------------------------- qml.math
def test_inner_product_and_fidelity_match_cirq_with_gradients():
    rng = np.random.default_rng(31)
    qubits = cirq.GridQubit.rect(1, 3)
    circuits = [random_circuit(qubits, 8, rng) for _ in range(2)]
    others = [[random_circuit(qubits, 6, rng, symbolic=False) for _ in range(3)]
              for _ in range(2)]
    others[1][2] = cirq.Circuit(cirq.X(qubits[1]))  # a subset of the qubits
    values = random_values(rng, 2).astype(np.float64)

    def reference(v):
        out = np.zeros((2, 3), complex)
        for i, circuit in enumerate(circuits):
            resolved = cirq.resolve_parameters(circuit, dict(zip(NAMES, v[i])))
            psi = cirq.final_state_vector(resolved, qubit_order=qubits, dtype=np.complex128)
            for j, other in enumerate(others[i]):
                phi = cirq.final_state_vector(other, qubit_order=qubits, dtype=np.complex128)
                out[i, j] = np.vdot(psi, phi)
        return out

    variable = tf.Variable(values.astype(np.float32))
    with tf.GradientTape() as tape:
        fidelity = qml.math.fidelity(circuits, NAMES, variable, others)
    product = qml.math.inner_product(circuits, NAMES, variable, others)
    np.testing.assert_allclose(product.numpy(), reference(values), atol=1e-5)
    np.testing.assert_allclose(fidelity.numpy(), np.abs(reference(values)) ** 2, atol=1e-5)
    gradient = tape.gradient(fidelity, variable)
    assert isinstance(gradient, tf.Tensor)  # dense, as for any other layer
    gradient = gradient.numpy()
    step = 1e-5
    for col in range(len(NAMES)):
        shift = np.zeros_like(values)
        shift[:, col] = step
        slope = (np.abs(reference(values + shift)) ** 2
                 - np.abs(reference(values - shift)) ** 2).sum(axis=1) / (2 * step)
        np.testing.assert_allclose(gradient[:, col], slope, atol=1e-3)
    with pytest.raises(ValueError, match="free of symbols"):
        qml.math.inner_product(circuits[:1], NAMES, values[:1], [[circuits[0]]])


# -------------------------------------------------------------------- Keras models
def _check_round_trip(model, inputs, tmp_path):
    """A reloaded model starts its layers' seed streams afresh: its first call repeats
    the original's first call."""
    expected = model(inputs)
    model(inputs)
    return keras_round_trip(model, inputs, tmp_path, expected=expected)


def test_new_layers_round_trip_through_keras_files(tmp_path):
    q = cirq.GridQubit.rect(1, 2)
    a = sympy.Symbol("a")
    circuits = qml.convert_to_tensor([cirq.Circuit(cirq.H(q[0]), cirq.I(q[1])),
                                      cirq.Circuit(cirq.X(q[1]), cirq.I(q[0]))])
    model_circuit = cirq.Circuit(cirq.rx(a)(q[0]), cirq.CNOT(*q), cirq.depolarize(0.05)(q[1]))
    single = [
        qml.layers.NoisyPQC(model_circuit, cirq.Z(q[1]), repetitions=50, sample_based=False,
                            seed=1),
        qml.layers.NoisyPQC(model_circuit, cirq.Z(q[1]), repetitions=50, sample_based=True,
                            seed=1),
        qml.layers.PQC(cirq.Circuit(cirq.rx(a)(q[0])), cirq.Z(q[0]), repetitions=20, seed=2),
        lambda x: qml.layers.Sample(seed=3)(x, repetitions=5),
        lambda x: qml.layers.SampledExpectation(seed=3)(x, operators=[cirq.X(q[0])],
                                                         repetitions=7),
        lambda x: qml.layers.Expectation(backend="noisy", seed=3)(
            x, operators=[cirq.Z(q[1])], repetitions=[[9]] * 2),
        lambda x: qml.layers.State()(x),
        lambda x: qml.layers.Unitary()(x),
    ]
    for make in single:
        inputs = keras.Input(shape=(), dtype="string")
        _check_round_trip(keras.Model(inputs, make(inputs)), circuits, tmp_path)

    circuit_input, values_input = keras.Input(shape=(), dtype="string"), keras.Input(shape=(1,))
    controlled = qml.layers.NoisyControlledPQC(model_circuit, [cirq.Z(q[0]), cirq.Z(q[1])],
                                               repetitions=30, sample_based=True, seed=3)
    model = keras.Model([circuit_input, values_input], controlled([circuit_input, values_input]))
    restored = _check_round_trip(model, [circuits, tf.ones((2, 1))], tmp_path)
    layer = restored.layers[-1]
    assert isinstance(layer, qml.layers.NoisyControlledPQC)
    assert (layer.repetitions, layer._sample_based, layer.seed) == (30, True, 3)


def test_noisy_pqc_trains_with_parameter_shift():
    """Learn a rotation: label 1 needs <Z> near -1 after a noisy rx(theta)."""
    q = cirq.GridQubit(0, 0)
    theta = sympy.Symbol("theta")
    model_circuit = cirq.Circuit(cirq.rx(theta)(q), cirq.depolarize(0.02)(q))
    layer = qml.layers.NoisyPQC(model_circuit, cirq.Z(q), repetitions=200, sample_based=False,
                                differentiator=qml.differentiators.ParameterShift(), seed=1,
                                initializer=keras.initializers.Constant(0.3))
    rng = np.random.default_rng(0)
    labels = rng.integers(2, size=64)
    # Data circuits flip the qubit for label 0, so the PQC must rotate by pi.
    data = qml.convert_to_tensor([cirq.Circuit(cirq.X(q)) if y == 0 else cirq.Circuit(cirq.I(q))
                                  for y in labels])
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    targets = np.where(labels == 1, -1.0, 1.0).astype(np.float32)[:, None]
    history = model.fit(data, targets, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.25 * history.history["loss"][0]
    assert abs(abs(float(layer.parameters.numpy()[0])) - np.pi) < 0.4


def test_sampled_expectation_keeps_constant_terms():
    q = cirq.LineQubit.range(2)
    operators = [cirq.PauliSum() + 0.75, 2.0 * cirq.Z(q[0]) - 0.5]
    # Z on q0 is -1 in every shot; the noise acts on q1 only.
    for circuit in (cirq.Circuit(cirq.X(q[0]), cirq.I(q[1])),
                    cirq.Circuit(cirq.X(q[0]), cirq.H(q[1]), cirq.phase_damp(0.3)(q[1]))):
        layer = qml.layers.SampledExpectation(seed=1)
        out = layer(circuit, operators=operators, repetitions=10).numpy()
        np.testing.assert_allclose(out, [[0.75, -2.5]], atol=1e-6)
