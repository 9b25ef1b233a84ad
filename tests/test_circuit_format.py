"""Circuit tensors: round trips through qml's format, and malformed rows."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import SYMBOLS, random_circuit, random_paulisum

import qml
from qml.circuits import expressions, gates
from qml.errors import CircuitFormatError, NotACircuitError, UnsupportedGateError

QUBIT_KINDS = [
    cirq.GridQubit.rect(2, 3),
    cirq.LineQubit.range(6),
    [cirq.NamedQubit(f"q{i}") for i in range(6)],
]

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


@pytest.mark.parametrize("qubits", QUBIT_KINDS, ids=["grid", "line", "named"])
@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_round_trip(qubits, seed):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(qubits, 30, rng, non_native=False)
    circuit.append(cirq.measure(*qubits[:2], key="m", invert_mask=(True, False)))
    back = qml.from_tensor(qml.convert_to_tensor([circuit]))[0]
    assert back == circuit


def test_rotations_keep_their_type():
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.rx(0.3)(q), cirq.ry(SYMBOLS[0])(q), cirq.rz(2 * SYMBOLS[1])(q))
    back = qml.from_tensor(qml.convert_to_tensor([circuit]))[0]
    assert [type(op.gate) for op in back.all_operations()] == [cirq.Rx, cirq.Ry, cirq.Rz]
    assert cirq.approx_eq(back, circuit, atol=1e-12)


def test_non_native_gate_becomes_its_matrix():
    qubits = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.qft(*qubits))
    back = qml.from_tensor(qml.convert_to_tensor([circuit]))[0]
    np.testing.assert_allclose(cirq.unitary(back), cirq.unitary(circuit), atol=1e-12)


def test_pauli_sums_round_trip(rng):
    qubits = cirq.GridQubit.rect(1, 4)
    sums = [random_paulisum(qubits, rng) for _ in range(6)]
    items = sums + [cirq.Z(qubits[0]), 2.0 * cirq.X(qubits[1]) * cirq.Y(qubits[2])]
    back = qml.from_tensor(qml.convert_to_tensor(items))
    for original, restored in zip(items, back):
        assert restored == cirq.PauliSum.wrap(original)


def test_nested_shapes_and_padding():
    q = cirq.LineQubit(0)
    tensor = qml.convert_to_tensor([[cirq.Z(q), cirq.PauliSum()], [cirq.X(q), cirq.Y(q)]])
    assert tensor.shape == (2, 2) and tensor.dtype == tf.string
    assert tensor.numpy()[0, 1] == b""
    back = qml.from_tensor(tensor)
    assert back.shape == (2, 2) and back[0, 1] == cirq.PauliSum()
    with pytest.raises(ValueError, match="rectangular"):
        qml.convert_to_tensor([[cirq.Z(q)], [cirq.X(q), cirq.Y(q)]])


def test_expression_encoding_round_trips_and_evaluates(rng):
    a, b = SYMBOLS[:2]
    exprs = [a, 2 * a + 1, sympy.sin(a) * sympy.cos(b), a**2 / (b + 3), sympy.sqrt(a**2 + 1),
             sympy.exp(a) - sympy.log(b**2 + 1), sympy.tan(a / 7), a * sympy.pi,
             sympy.Rational(3, 7) * b]
    columns = {"alpha": rng.uniform(-2, 2, 5), "beta": rng.uniform(-2, 2, 5)}
    for expr in exprs:
        tree = expressions.encode(expr)
        assert expressions.decode(tree) == expr
        reference = sympy.lambdify([a, b], expr, "numpy")(columns["alpha"], columns["beta"])
        np.testing.assert_allclose(expressions.evaluate(tree, columns), reference, rtol=1e-12)


def test_unsupported_expression_is_refused():
    with pytest.raises(qml.errors.UnsupportedExpressionError, match="Abs"):
        expressions.encode(sympy.Abs(SYMBOLS[0]))


@pytest.mark.parametrize("seed", range(3))
def test_gate_table_matches_cirq_unitaries(seed):
    rng = np.random.default_rng(seed)
    qubits = cirq.LineQubit.range(4)
    circuit = random_circuit(qubits, 40, rng, symbolic=False)
    for op in circuit.all_operations():
        while isinstance(op, cirq.ControlledOperation):
            op = op.sub_operation
        kind, fields = gates.encode_gate(op.gate)
        np.testing.assert_allclose(
            gates.batched_unitary(kind, fields, {})[0], cirq.unitary(op.gate), atol=1e-10)


@pytest.mark.parametrize("row", [
    b"not json",
    b'{"qml":1,"type":"circuit","qubits":[["g",0,0]],"gates":[],"moments":[[[0,[0]]]]}',
    b'{"qml":1,"type":"circuit","qubits":[["g",0,0]],"gates":[{"g":"Nope"}],"moments":[]}',
    b'{"qml":99,"type":"circuit","qubits":[],"gates":[],"moments":[]}',
    b'{"qml":1,"type":"circuit","qubits":[["x",1]],"gates":[],"moments":[]}',
    b'{"qml":1,"type":"circuit","qubits":[["g",0,0]],"gates":[{"g":"XPow","t":["sym"],"s":0}]',
])
def test_malformed_rows_are_refused(row):
    with pytest.raises(CircuitFormatError):
        qml.from_tensor(tf.constant([row]))


def test_truncated_row_is_refused():
    row = qml.convert_to_tensor([cirq.Circuit(cirq.X(cirq.LineQubit(0)))]).numpy()[0]
    with pytest.raises(CircuitFormatError):
        qml.from_tensor(tf.constant([row[: len(row) // 2]]))


def test_non_circuits_are_refused():
    with pytest.raises(NotACircuitError, match="int"):
        qml.convert_to_tensor([cirq.Circuit(), 42])
    with pytest.raises(NotACircuitError, match="qubit"):
        qml.convert_to_tensor([cirq.Circuit(cirq.X(cirq.GridQid(0, 0, dimension=2)))])


def test_unsupported_gate_is_refused():
    q = cirq.LineQubit.range(5)
    # A large matrix is named by its type and size, not by its entries.
    with pytest.raises(UnsupportedGateError, match=r"^gate MatrixGate on 5 qubits .*decompose"):
        qml.convert_to_tensor([cirq.Circuit(cirq.MatrixGate(np.eye(32)).on(*q))])
    with pytest.raises(UnsupportedGateError, match="GlobalPhaseGate.*acts on 0 qubits"):
        qml.convert_to_tensor([cirq.Circuit(cirq.global_phase_operation(1j))])
    with pytest.raises(UnsupportedGateError, match="symbolic"):
        qml.convert_to_tensor([cirq.Circuit(cirq.DiagonalGate([0.0, SYMBOLS[0]]).on(q[0]))])
