"""Bad input gets a typed error that names the argument and the value."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

import qml
from qml import errors

Q = cirq.GridQubit.rect(1, 2)
A, B = sympy.symbols("a b")
CIRCUIT = cirq.Circuit(cirq.rx(A)(Q[0]), cirq.ry(B)(Q[1]))


def expectation(**overrides):
    args = dict(symbol_names=["a", "b"], symbol_values=[[0.1, 0.2]], operators=cirq.Z(Q[0]))
    args.update(overrides)
    inputs = args.pop("inputs", [CIRCUIT])
    return qml.layers.Expectation()(inputs, **args)


@pytest.mark.parametrize("backend", [None, "qsim", "tensorflow"])
def test_unsupported_gate_is_named_on_every_backend(backend):
    class Opaque(cirq.Gate):
        def _num_qubits_(self):
            return 1

    with pytest.raises(errors.UnsupportedGateError, match="Opaque.*no unitary.*decompose"):
        qml.layers.Expectation(backend=backend)([cirq.Circuit(Opaque().on(Q[0]))],
                                                operators=cirq.Z(Q[0]))


def test_symbol_missing_from_symbol_names():
    with pytest.raises(errors.MissingSymbolError, match=r"\['b'\].*symbol_names"):
        expectation(symbol_names=["a"], symbol_values=[[0.1]])


def test_mismatched_batch_sizes():
    with pytest.raises(errors.BatchSizeError, match=r"symbol_values has shape \(3, 2\)"):
        expectation(inputs=[CIRCUIT, CIRCUIT], symbol_values=np.zeros((3, 2)))
    with pytest.raises(errors.BatchSizeError, match="operators has 3 rows"):
        expectation(operators=qml.convert_to_tensor([[cirq.Z(Q[0])]] * 3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_symbol_values(bad):
    with pytest.raises(errors.NonFiniteValueError, match=r"symbol_values\[0, 1\].*'b'"):
        expectation(symbol_values=[[0.1, bad]])


@pytest.mark.parametrize("backend", [None, "tensorflow"])
def test_expression_that_evaluates_to_nan(backend):
    circuit = cirq.Circuit(cirq.rx(sympy.log(A))(Q[0]))
    with pytest.raises(errors.NonFiniteValueError, match="NaN or infinity"):
        qml.layers.Expectation(backend=backend)(
            [circuit], symbol_names=["a"], symbol_values=[[-1.0]], operators=cirq.Z(Q[0]))


def test_operator_on_a_qubit_not_in_the_circuit():
    other = cirq.GridQubit(5, 5)
    with pytest.raises(errors.QubitMismatchError, match=r"q\(5, 5\)"):
        expectation(operators=cirq.Z(other))


def test_state_too_large_is_refused_before_allocating():
    qubits = cirq.LineQubit.range(45)
    with pytest.raises(errors.StateTooLargeError, match="45 qubits.*mps_1d_expectation"):
        expectation(inputs=[cirq.Circuit(cirq.H.on_each(*qubits))], symbol_names=[],
                    symbol_values=np.zeros((1, 0)), operators=cirq.Z(qubits[0]))


@pytest.mark.parametrize("row", [b"{not json", b'{"qml":1,"type":"circuit","qubits":[["g",0,0]]',
                                 b'{"some": "other json"}',
                                 b'{"qml":1,"type":"circuit","qubits":[["l",0]]}'])
def test_malformed_or_truncated_row(row):
    with pytest.raises(errors.CircuitFormatError, match="qml.convert_to_tensor"):
        expectation(inputs=tf.constant([row]), symbol_names=[], symbol_values=np.zeros((1, 0)))


@pytest.mark.parametrize("row", [
    # a matrix gate on more qubits than qml simulates as one gate
    b'{"qml":1,"type":"circuit","qubits":[["l",0],["l",1],["l",2],["l",3],["l",4]],'
    b'"gates":[{"g":"Matrix","n":5,"m":[]}],"moments":[[[0,[0,1,2,3,4]]]]}',
    # an expression nested deeper than any circuit needs
    b'{"qml":1,"type":"circuit","qubits":[["l",0]],"gates":[{"g":"Rx","r":'
    + b'["sin",' * 5000 + b'1' + b']' * 5000 + b'}],"moments":[[[0,[0]]]]}',
])
def test_hostile_rows_are_refused(row):
    with pytest.raises(errors.CircuitFormatError):
        expectation(inputs=tf.constant([row]), symbol_names=[], symbol_values=np.zeros((1, 0)),
                    operators=cirq.Z(cirq.LineQubit(0)))


def test_non_circuit_input():
    with pytest.raises(errors.NotACircuitError, match="str"):
        expectation(inputs=["not a circuit"])
    with pytest.raises(errors.NotACircuitError, match="float32"):
        expectation(inputs=tf.zeros([1]))
    with pytest.raises(errors.NotACircuitError, match="model_circuit"):
        qml.layers.PQC("{}".encode(), cirq.Z(Q[0]))


def test_mid_circuit_measurement():
    circuit = cirq.Circuit(cirq.measure(Q[0], key="m"), cirq.X(Q[0]))
    with pytest.raises(errors.MeasurementError, match="measures qubit q\\(0, 0\\)"):
        expectation(inputs=[circuit], symbol_names=[], symbol_values=np.zeros((1, 0)))


def test_bad_backend_and_differentiator():
    with pytest.raises(ValueError, match="'gpu-please'"):
        qml.layers.Expectation(backend="gpu-please")
    with pytest.raises(TypeError, match="backend"):
        qml.layers.Expectation(backend=42)
    with pytest.raises(TypeError, match="differentiator"):
        qml.layers.Expectation(differentiator="adjoint")
    with pytest.raises(ValueError, match="error_order"):
        qml.differentiators.CentralDifference(error_order=3)


def test_errors_in_graph_mode_name_the_problem():
    layer = qml.layers.Expectation()

    @tf.function
    def run(values):
        return layer([CIRCUIT], symbol_names=["a", "b"], symbol_values=values,
                     operators=cirq.Z(Q[0]))

    with pytest.raises(tf.errors.OpError, match="NonFiniteValueError"):
        run(tf.constant([[np.nan, 0.0]]))
