"""Expectation values from every executor, checked against cirq.Simulator."""

import gc
import weakref

import cachetools
import cirq
import numpy as np
import pytest
import qsimcirq
import sympy
import tensorflow as tf
from conftest import (NAMES, SYMBOLS, cirq_expectations, random_circuit, random_paulisum,
                      random_values, reference_gradient)

import qml
from qml.circuits import serialize
from qml.circuits import compiler
from qml.executors import tensorflow_plan
from qml.executors import (CirqExecutor, NativeExecutor, QsimExecutor, QsimOptions,
                           TensorflowExecutor, prepare)


def _batch(circuits, values, operators):
    rows = [serialize.serialize_circuit(c) for c in circuits]
    op_rows = [[serialize.serialize_paulisum(o) for o in row] for row in operators]
    return prepare(rows, NAMES, values, op_rows)


@pytest.mark.parametrize("num_qubits", range(1, 13))
def test_qsim_matches_cirq_on_random_circuits(num_qubits):
    rng = np.random.default_rng(100 + num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [random_circuit(qubits, 4 * num_qubits + 6, rng) for _ in range(3)]
    circuits = [c for c in circuits for _ in range(2)]  # rows share programs
    operators = [[random_paulisum(qubits, rng) for _ in range(3)]] * len(circuits)
    values = random_values(rng, len(circuits))
    expected = cirq_expectations(circuits, values, NAMES, operators)
    got = QsimExecutor().expectation(_batch(circuits, values, operators))
    assert got.dtype == np.float32 and got.shape == (len(circuits), 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("qubits", [cirq.LineQubit.range(4),
                                    [cirq.NamedQubit(n) for n in "abcd"],
                                    [cirq.GridQubit(1, 0), cirq.LineQubit(3),
                                     cirq.NamedQubit("z"), cirq.GridQubit(0, 2)]],
                         ids=["line", "named", "mixed"])
def test_qubit_types_and_order(qubits, rng):
    circuits = [random_circuit(qubits, 20, rng) for _ in range(2)]
    operators = [[cirq.Z(qubits[0]) * cirq.X(qubits[2]), cirq.Y(qubits[3])]] * 2
    values = random_values(rng, 2)
    expected = cirq_expectations(circuits, values, NAMES, operators)
    got = QsimExecutor().expectation(_batch(circuits, values, operators))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_cirq_backend_matches_cirq(rng):
    qubits = cirq.LineQubit.range(3)
    circuits = [random_circuit(qubits, 15, rng) for _ in range(3)]
    operators = [[random_paulisum(qubits, rng)] for _ in range(3)]
    values = random_values(rng, 3)
    expected = cirq_expectations(circuits, values, NAMES, operators)
    got = CirqExecutor(cirq.Simulator()).expectation(_batch(circuits, values, operators))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_padding_follows_tfq():
    q = cirq.LineQubit.range(2)
    circuits = [cirq.Circuit(cirq.X(q[0]), cirq.I(q[1])), cirq.Circuit()]
    operators = [[cirq.Z(q[0]), cirq.PauliSum()], [cirq.Z(q[0]), cirq.PauliSum()]]
    for executor in (QsimExecutor(), CirqExecutor(cirq.Simulator())):
        got = executor.expectation(_batch(circuits, np.zeros((2, 4)), operators))
        np.testing.assert_array_equal(got, [[-1, 0], [-2, -2]])


def test_terminal_measurements_are_ignored():
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q), cirq.measure(*q, key="m"))
    got = QsimExecutor().expectation(_batch([circuit], np.zeros((1, 4)),
                                            [[cirq.Z(q[0]) * cirq.Z(q[1])]]))
    np.testing.assert_allclose(got, [[1.0]], atol=1e-6)


def test_appended_circuits_match_joined_circuits(rng):
    qubits = cirq.GridQubit.rect(2, 2)
    data = [random_circuit(qubits[:3], 6, rng, symbolic=False) for _ in range(3)]
    model = random_circuit(qubits[1:], 12, rng)
    operators = [[cirq.Z(qubits[0]), cirq.X(qubits[3])]] * 3
    values = random_values(rng, 3)
    expected = cirq_expectations([d + model for d in data], values, NAMES, operators)
    batch = prepare([serialize.serialize_circuit(d) for d in data], NAMES, values,
                    [[serialize.serialize_paulisum(o) for o in r] for r in operators],
                    [serialize.serialize_circuit(model)] * 3)
    np.testing.assert_allclose(QsimExecutor().expectation(batch), expected, atol=1e-5)


def test_threads_and_fusion_options_agree(rng):
    qubits = cirq.LineQubit.range(14)  # enough qubits for qsim's threads to be used
    circuits = [random_circuit(qubits, 40, rng)]
    operators = [[random_paulisum(qubits, rng)]]
    values = random_values(rng, 1)
    expected = cirq_expectations(circuits, values, NAMES, operators)
    for options in (QsimOptions(cpu_threads=1, max_fused_gate_size=1),
                    QsimOptions(cpu_threads=2, max_fused_gate_size=4)):
        got = QsimExecutor(options).expectation(_batch(circuits, values, operators))
        np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="max_fused_gate_size"):
        QsimOptions(max_fused_gate_size=9)


def test_qsim_executor_builds_no_cirq_circuit_per_row(monkeypatch, rng):
    """Binding happens on the compiled program: no resolve or qsimcirq translation."""
    qubits = cirq.LineQubit.range(4)
    circuit = random_circuit(qubits, 20, rng)
    batch = _batch([circuit] * 50, random_values(rng, 50), [[cirq.Z(qubits[0])]] * 50)
    calls = []

    def forbidden(name):
        def record(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")
        return record

    monkeypatch.setattr(cirq, "resolve_parameters", forbidden("cirq.resolve_parameters"))
    monkeypatch.setattr(cirq.protocols, "resolve_parameters", forbidden("resolve_parameters"))
    monkeypatch.setattr(qsimcirq.QSimCircuit, "translate_cirq_to_qsim",
                        forbidden("translate_cirq_to_qsim"))
    monkeypatch.setattr(qsimcirq.QSimSimulator, "simulate_expectation_values_sweep_iter",
                        forbidden("QSimSimulator"))
    added = []
    for name in ("add_matrix_gate", "add_gate"):
        original = getattr(qsimcirq.qsim, name)
        monkeypatch.setattr(qml.executors.qsim.qsim, name,
                            lambda *a, f=original: (added.append(1), f(*a))[1])
    out = QsimExecutor().expectation(batch)
    assert calls == [] and out.shape == (50, 1)
    program = batch.programs[0]
    assert len(added) == 50 * len(program.blocks)  # one qsim gate per fused block per row


def test_programs_are_compiled_once_per_distinct_row(rng, monkeypatch):
    circuit = random_circuit(cirq.LineQubit.range(3), 10, rng)
    row = serialize.serialize_circuit(circuit)
    compiled = []
    original = compiler._compile_parsed
    monkeypatch.setattr(compiler, "_compile_parsed",
                        lambda *args: (compiled.append(1), original(*args))[1])
    monkeypatch.setattr(compiler, "_PROGRAMS", cachetools.LRUCache(
        maxsize=compiler.PROGRAM_CACHE_ROW_BYTES, getsizeof=lambda entry: entry[1]))
    prepare([row] * 20, NAMES, random_values(rng, 20), [[b""]] * 20)
    assert len(compiled) == 1


def test_a_shared_operator_row_is_held_once(rng):
    qubits = cirq.LineQubit.range(3)
    circuits = [random_circuit(qubits, 8, rng) for _ in range(5)]
    rows = [serialize.serialize_circuit(c) for c in circuits]
    operators = [random_paulisum(qubits, rng) for _ in range(2)]
    row = np.array([serialize.serialize_paulisum(o) for o in operators], dtype=object)
    values = random_values(rng, 5)
    shared = prepare(rows, NAMES, values, row)  # 1-D: the operators of every circuit
    tiled = prepare(rows, NAMES, values, np.stack([row] * 5))  # equal rows, as tf.tile gives
    assert len({id(r) for r in shared.operators}) == len({id(r) for r in tiled.operators}) == 1
    expected = cirq_expectations(circuits, values, NAMES, [operators] * 5)
    for batch in (shared, tiled):
        np.testing.assert_allclose(NativeExecutor().expectation(batch), expected, atol=1e-5)
    distinct = np.stack([row] * 4 + [row[::-1]])
    got = NativeExecutor().expectation(prepare(rows, NAMES, values, distinct))
    np.testing.assert_allclose(
        got, cirq_expectations(circuits, values, NAMES, [operators] * 4 + [operators[::-1]]),
        atol=1e-5)
    with pytest.raises(qml.errors.BatchSizeError, match="operators has 2 rows"):
        prepare(rows, NAMES, values, np.stack([row] * 2))


def test_calls_on_one_circuit_tensor_prepare_it_once(rng, monkeypatch):
    """A layer called again on the same circuit tensor reuses its compiled and checked
    batch, and each call still gets its own values, operators and symbol order."""
    qubits = cirq.LineQubit.range(3)
    circuits = [random_circuit(qubits, 10, rng) for _ in range(4)] * 5
    tensor = qml.convert_to_tensor(circuits)
    layer = qml.layers.Expectation()
    prepared = []
    original = qml.ops.prepare
    monkeypatch.setattr(qml.ops, "prepare",
                        lambda *args, **kwargs: (prepared.append(1), original(*args, **kwargs))[1])
    operator_sets = [[random_paulisum(qubits, rng)], [random_paulisum(qubits, rng)]]
    for call in range(6):
        values = random_values(rng, 20)
        operators = operator_sets[call % 2]
        reordered = call >= 4  # the same symbols, their columns in another order
        got = layer(tensor, symbol_names=NAMES[::-1] if reordered else NAMES,
                    symbol_values=tf.Variable(values[:, ::-1] if reordered else values),
                    operators=operators)
        np.testing.assert_allclose(got, cirq_expectations(circuits, values, NAMES,
                                                          [operators] * 20), atol=1e-5)
    assert len(prepared) == 4  # one per operator set and order of the names
    values = tf.Variable(random_values(rng, 20))
    upstream = rng.normal(size=(20, 1))
    with tf.GradientTape() as tape:
        out = layer(tensor, symbol_names=NAMES, symbol_values=values, operators=operator_sets[0])
    np.testing.assert_allclose(
        tape.gradient(out, values, output_gradients=tf.constant(upstream, tf.float32)),
        reference_gradient(circuits, values.numpy(), [operator_sets[0]] * 20, upstream),
        atol=1e-4)
    assert len(prepared) == 4
    bad = random_values(rng, 20)
    bad[7, 2] = np.nan
    with pytest.raises(qml.errors.NonFiniteValueError, match=r"symbol_values\[7, 2\]"):
        layer(tensor, symbol_names=NAMES, symbol_values=bad, operators=operator_sets[0])
    with pytest.raises(qml.errors.BatchSizeError, match="symbol_values has shape"):
        layer(tensor, symbol_names=NAMES, symbol_values=bad[:5], operators=operator_sets[0])
    for _ in range(10):  # other tensors push the oldest out of the bounded cache
        layer(qml.convert_to_tensor(circuits[:2]), symbol_names=NAMES,
              symbol_values=random_values(rng, 2), operators=operator_sets[0])
    assert len(qml.ops._EAGER_BATCHES._entries) <= qml.ops._EAGER_BATCHES.size
    assert len(qml.executors.native._LAYOUTS._entries) <= qml.executors.native.LAYOUTS


def test_compiled_programs_and_their_plans_are_freed_past_the_byte_bound(rng, monkeypatch):
    """Rows beyond the cache's byte budget are evicted, and nothing else (joins, native
    tables, qsim layouts) keeps their programs alive."""
    qubits = cirq.LineQubit.range(4)
    rows = [serialize.serialize_circuit(random_circuit(qubits, 8, rng)) for _ in range(30)]
    budget = sum(len(r) for r in rows[:10])
    monkeypatch.setattr(compiler, "_PROGRAMS", cachetools.LRUCache(
        maxsize=budget, getsizeof=lambda entry: entry[1]))
    model = serialize.serialize_circuit(random_circuit(qubits, 3, rng))
    alive = []
    for row in rows:
        batch = prepare([row], NAMES, random_values(rng, 1), [[b""]], [model])
        QsimExecutor().expectation(prepare([row], NAMES, random_values(rng, 1),
                                           [[serialize.serialize_paulisum(cirq.Z(qubits[0]))]]))
        NativeExecutor().final_states(batch)
        alive.append(weakref.ref(compiler.compile_row(row)))
        del batch
    gc.collect()
    assert compiler._PROGRAMS.currsize <= budget
    assert sum(ref() is not None for ref in alive) == len(compiler._PROGRAMS) - 1  # model
    assert alive[-1]() is not None and alive[0]() is None


def test_gates_are_fused_into_two_qubit_blocks(rng):
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit([cirq.rx(SYMBOLS[0])(q[0]), cirq.rz(SYMBOLS[1])(q[0]),
                            cirq.ry(0.2)(q[1]), cirq.CZ(q[0], q[1]), cirq.X(q[0]),
                            cirq.Y(q[0]), cirq.H(q[2]),
                            cirq.X(q[2]).controlled_by(q[1]), cirq.Z(q[2])])
    program = compiler.compile_circuit(circuit)
    # rx, rz, ry, CZ, then X, Y fold into one block; H and Z stay beside the CNOT
    # (CXPow is a native two-qubit gate) and fold into it as well.
    assert [len(b.steps) for b in program.blocks] == [6, 3]
    assert [b.targets for b in program.blocks] == [(0, 1), (1, 2)]
    values = np.array([[0.3, -1.1, 0, 0]], np.float32)
    expected = cirq_expectations([circuit], values, NAMES, [[cirq.Z(q[0]) * cirq.X(q[2])]])
    got = QsimExecutor().expectation(_batch([circuit], values,
                                            [[cirq.Z(q[0]) * cirq.X(q[2])]]))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_batch_of_new_rows_compiles_as_each_row_alone(rng):
    """compile_rows checks the gate tables of its new rows as one; each program is the
    row compiled alone, and a batch with a malformed row raises that row's error."""
    qubits = cirq.LineQubit.range(4)
    rows = [serialize.serialize_circuit(random_circuit(qubits, 5 + 5 * k, rng))
            for k in range(6)]
    compiler._PROGRAMS.clear()
    together = compiler.compile_rows(rows)
    assert len({id(program.fused.gates.matrices) for program in together}) == 1  # as one
    for row, program in zip(rows, together):
        alone = compiler._compile_parsed(compiler._parse_circuit(row), row)
        for name in ("items", "qubits", "steps", "places"):
            np.testing.assert_array_equal(getattr(program.fused, name),
                                          getattr(alone.fused, name))
        np.testing.assert_allclose(program.fused.matrices, alone.fused.matrices, atol=1e-12)
        assert program.symbols == alone.symbols
        for index in range(len(alone.fused.gates)):
            mine, theirs = program.fused.gates.gate(index), alone.fused.gates.gate(index)
            assert (mine.kind, mine.symbols) == (theirs.kind, theirs.symbols)
            if theirs.constant is not None:
                np.testing.assert_allclose(mine.constant, theirs.constant, atol=1e-12)
    bad_row = rows[3].replace(b'"g":"', b'"g":"Nope', 1)
    with pytest.raises(qml.errors.CircuitFormatError) as alone_error:
        compiler.compile_row(bad_row)
    compiler._PROGRAMS.clear()
    with pytest.raises(qml.errors.CircuitFormatError) as batch_error:
        compiler.compile_rows(rows[:3] + [bad_row] + rows[4:])
    assert str(batch_error.value) == str(alone_error.value)


def test_constant_sympy_parameters(rng):
    """Exponents that are sympy numbers or constant expressions, without symbols.

    Only two-qubit gates, so that the constant ones stay blocks of their own and reach
    qsim as native gate kinds.
    """
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        cirq.XXPowGate(exponent=SYMBOLS[0])(q[0], q[1]),
        cirq.CZPowGate(exponent=sympy.pi / 4)(q[0], q[1]),
        cirq.CXPowGate(exponent=sympy.Rational(1, 3))(q[1], q[2]),
        cirq.YYPowGate(exponent=SYMBOLS[1] * sympy.E)(q[1], q[2]),
    )
    program = compiler.compile_circuit(circuit)
    assert [len(b.steps) for b in program.blocks] == [1, 1, 1, 1]
    values = random_values(rng, 2)
    operators = [[cirq.Z(q[0]) * cirq.Y(q[1]), cirq.X(q[2])]] * 2
    expected = cirq_expectations([circuit] * 2, values, NAMES, operators)
    got = QsimExecutor().expectation(_batch([circuit] * 2, values, operators))
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("precision, tolerance", [("complex64", 1e-5), ("complex128", 1e-10)])
@pytest.mark.parametrize("num_qubits", [1, 2, 3, 5, 7, 10])
def test_tensorflow_executor_matches_cirq(num_qubits, precision, tolerance, eager_functions):
    rng = np.random.default_rng(200 + num_qubits)
    qubits = cirq.GridQubit.rect(1, num_qubits)
    circuits = [random_circuit(qubits, 4 * num_qubits + 6, rng) for _ in range(3)]
    circuits = [c for c in circuits for _ in range(2)]
    operators = [[random_paulisum(qubits, rng) for _ in range(2)] for _ in circuits]
    values = random_values(rng, len(circuits))
    expected = cirq_expectations(circuits, values, NAMES, operators)
    got = TensorflowExecutor(precision).expectation(_batch(circuits, values, operators))
    assert got.shape == (len(circuits), 2)
    np.testing.assert_allclose(got, expected, atol=tolerance)


@pytest.mark.parametrize("block_qubits", [1, 2])
@pytest.mark.parametrize("num_qubits", [2, 4, 6])
def test_tensorflow_executor_plans_match_cirq(num_qubits, block_qubits, eager_functions):
    """Single-qubit runs with combined diagonals, and two-qubit blocks, both exact on
    circuits rich in constant diagonal gates, controlled ones included."""
    rng = np.random.default_rng(250 + num_qubits)
    qubits = cirq.LineQubit.range(num_qubits)
    diagonals = [cirq.CZ, cirq.Z, cirq.S, cirq.T, cirq.ZPowGate(exponent=0.3),
                 cirq.CZPowGate(exponent=0.7), cirq.CCZ, cirq.ZZPowGate(exponent=0.2)]
    ops = list(random_circuit(qubits, 3 * num_qubits, rng).all_operations())
    for _ in range(4 * num_qubits):
        gate = diagonals[rng.integers(len(diagonals))]
        if gate.num_qubits() > num_qubits:
            continue
        chosen = [qubits[i] for i in rng.choice(num_qubits, gate.num_qubits(), replace=False)]
        op = gate.on(*chosen)
        if num_qubits > gate.num_qubits() and rng.random() < 0.3:
            free = [q for q in qubits if q not in chosen]
            op = op.controlled_by(free[0], control_values=[int(rng.integers(2))])
        ops.insert(int(rng.integers(len(ops) + 1)), op)
    circuit = cirq.Circuit(ops)
    operators = [[random_paulisum(qubits, rng) for _ in range(2)]] * 3
    values = random_values(rng, 3)
    executor = TensorflowExecutor(block_qubits=block_qubits)
    got = executor.expectation(_batch([circuit] * 3, values, operators))
    expected = cirq_expectations([circuit] * 3, values, NAMES, operators)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_tensorflow_executor_combines_diagonal_gates():
    """A CZ ladder (even, then odd neighbours) after each rotation layer becomes one
    diagonal per layer; each qubit's rotations become one run per layer."""
    qubits = cirq.LineQubit.range(6)
    layer = [cirq.rx(SYMBOLS[0])(q) for q in qubits] + [cirq.rz(SYMBOLS[1])(q) for q in qubits]
    ladder = [cirq.CZ(qubits[i], qubits[i + 1]) for start in (0, 1) for i in range(start, 5, 2)]
    program = compiler.compile_circuit(cirq.Circuit(layer, ladder, layer, ladder))
    plan = tensorflow_plan.placed_blocks(program, 1)
    assert [p.diagonal is not None for p in plan] == ([False] * 6 + [True]) * 2
    assert [len(p.block.steps) for p in plan if p.diagonal is None] == [2] * 12


def test_tensorflow_executor_builds_only_the_plans_it_needs(rng, monkeypatch):
    """A fixed plan never builds the other; the estimate builds both once and keeps
    the cheaper; the two-qubit plan is the compiler's blocks as they are."""
    from qml.circuits import fusion

    built = []
    gate_runs = fusion.gate_runs
    monkeypatch.setattr(fusion, "gate_runs", lambda *args: built.append(1) or gate_runs(*args))
    qubits = cirq.LineQubit.range(5)
    program = compiler.compile_circuit(random_circuit(qubits, 40, rng))
    blocks = tensorflow_plan.placed_blocks(program, 2)
    assert built == [] and [p.block for p in blocks] == list(program.blocks)
    chosen = tensorflow_plan.placed_blocks(program, None)
    runs = tensorflow_plan.placed_blocks(program, 1)
    assert built == [1]
    costs = {id(plan): tensorflow_plan.plan_cost(plan, 5) for plan in (blocks, runs)}
    assert chosen in (blocks, runs) and costs[id(chosen)] == min(costs.values())


def test_tensorflow_executor_compiled_with_xla(rng):
    """The default path: one traced, XLA-compiled function for rows of one structure."""
    qubits = cirq.LineQubit.range(4)
    circuit = random_circuit(qubits, 20, rng)
    operators = [[cirq.Z(qubits[0]) * cirq.X(qubits[3]), cirq.Y(qubits[1])]] * 5
    values = random_values(rng, 5)
    executor = TensorflowExecutor(jit_compile=True)
    got = executor.expectation(_batch([circuit] * 5, values, operators))
    np.testing.assert_allclose(got, cirq_expectations([circuit] * 5, values, NAMES, operators),
                               atol=1e-5)
    assert len(executor._functions) == 1


def test_tensorflow_executor_batches_distinct_data_circuits(rng):
    """Different constant data circuits of one structure, then a shared model circuit,
    run as one group: one traced function, and values that match Cirq."""
    qubits = cirq.LineQubit.range(3)
    model = random_circuit(qubits, 12, rng, controlled=False)
    data = [cirq.Circuit(cirq.rx(float(x))(q) for x, q in zip(row, qubits))
            for row in rng.uniform(0, np.pi, (6, 3))]
    data_rows = [serialize.serialize_circuit(c) for c in data]
    model_row = serialize.serialize_circuit(model)
    operators = [[cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.Z(qubits[2])]] * 6
    op_rows = [[serialize.serialize_paulisum(o) for o in row] for row in operators]
    values = random_values(rng, 6)
    batch = prepare(data_rows, NAMES, values, op_rows, [model_row] * 6)
    executor = TensorflowExecutor(jit_compile=False)
    got = executor.expectation(batch)
    expected = cirq_expectations([d + model for d in data], values, NAMES, operators)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(executor._functions) == 1


def test_tensorflow_executor_padding_follows_tfq():
    q = cirq.LineQubit.range(2)
    rows = [serialize.serialize_circuit(c) for c in
            (cirq.Circuit(cirq.X(q[0]), cirq.I(q[1])), cirq.Circuit())]
    ops = [[serialize.serialize_paulisum(cirq.Z(q[0])), b""]] * 2
    got = TensorflowExecutor().expectation(prepare(rows, [], np.zeros((2, 0)), ops))
    np.testing.assert_array_equal(got, [[-1.0, 0.0], [-2.0, -2.0]])
    no_operators = TensorflowExecutor().expectation(prepare(rows[:1], [], np.zeros((1, 0)),
                                                            [[]]))
    assert no_operators.shape == (1, 0)


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="no GPU")
def test_tensorflow_executor_on_gpu(rng):
    qubits = cirq.LineQubit.range(6)
    circuits = [random_circuit(qubits, 30, rng)] * 4
    operators = [[random_paulisum(qubits, rng)]] * 4
    values = random_values(rng, 4)
    with tf.device("/GPU:0"):
        got = TensorflowExecutor().expectation(_batch(circuits, values, operators))
    np.testing.assert_allclose(got, cirq_expectations(circuits, values, NAMES, operators),
                               atol=1e-5)


def test_default_policy_keeps_wide_forward_states_for_the_gradient(monkeypatch, rng):
    """On a wide register the default computes values on the native core, and the
    Adjoint gradient's sweep starts from the final states its forward pass kept; both
    match Cirq."""
    wide = cirq.LineQubit.range(18)
    circuits = [random_circuit(wide, 24, rng) for _ in range(2)]  # distinct: no lanes
    operators = [[random_paulisum(wide, rng), cirq.Z(wide[0]) * cirq.Z(wide[-1])]] * 2
    values = random_values(rng, 2)
    upstream = rng.normal(size=(2, 2))
    calls = []
    native_gradient = NativeExecutor.adjoint_gradient
    monkeypatch.setattr(QsimExecutor, "expectation",
                        lambda self, batch: pytest.fail("a noiseless batch ran on qsim"))
    monkeypatch.setattr(NativeExecutor, "adjoint_gradient",
                        lambda self, batch, up, kept=None: calls.append(kept is not None)
                        or native_gradient(self, batch, up, kept))
    layer = qml.layers.Expectation()
    variable = tf.Variable(values)
    got = layer(circuits, symbol_names=NAMES, symbol_values=variable, operators=operators[0])
    np.testing.assert_allclose(got.numpy(), cirq_expectations(circuits, values, NAMES,
                                                              operators), atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(upstream.astype(np.float32) * layer(
            circuits, symbol_names=NAMES, symbol_values=variable, operators=operators[0]))
    np.testing.assert_allclose(tape.gradient(loss, variable).numpy(),
                               reference_gradient(circuits, values, operators, upstream),
                               atol=1e-4)
    assert calls == [True]


def test_default_policy_chooses_by_noise_and_qubits(rng):
    """backend=None runs noiseless batches on the native core at every width, distinct
    circuits included, and noisy ones on qsim from QSIM_MIN_NOISY_QUBITS qubits; the
    values are Cirq's."""
    from qml.executors.default import QSIM_MIN_NOISY_QUBITS

    qubits = cirq.LineQubit.range(3)
    distinct = [random_circuit(qubits, 10, rng) for _ in range(6)]
    operators = [[cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.Y(qubits[2])]] * 6
    values = random_values(rng, 6)
    executor = qml.executors.get_executor(None)
    batch = _batch(distinct, values, operators)
    assert executor.choose(batch).name == "native"
    expected = cirq_expectations(distinct, values, NAMES, operators)
    np.testing.assert_allclose(executor.expectation(batch), expected, atol=1e-5)
    wide = cirq.LineQubit.range(QSIM_MIN_NOISY_QUBITS)
    circuit = cirq.Circuit(cirq.rx(SYMBOLS[0])(q) for q in wide)
    wide_batch = _batch([circuit] * 2, values[:2], [[cirq.Z(wide[0])]] * 2)
    assert executor.choose(wide_batch).name == "native"
    np.testing.assert_allclose(executor.expectation(wide_batch)[:, 0],
                               np.cos(values[:2, 0]), atol=1e-5)
    noisy = _batch([circuit.with_noise(cirq.depolarize(0.01))] * 2, values[:2],
                   [[cirq.Z(wide[0])]] * 2)
    assert executor.choose(noisy).name == "qsim"
    narrow_noisy = _batch([c.with_noise(cirq.depolarize(0.01)) for c in distinct[:2]],
                          values[:2], operators[:2])
    assert executor.choose(narrow_noisy).name == "native"
