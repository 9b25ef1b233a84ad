"""Every row of docs/errors.md: the bad input it names gets the error it names, with
a message that names the offending argument or value."""

import pathlib
import re

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

import qml
from qml.circuits import serialize

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "errors.md"
q = cirq.LineQubit.range(3)
a = sympy.Symbol("a")
ROTATION = cirq.Circuit(cirq.rx(a)(q[0]))
Z0 = cirq.Z(q[0])


def expectation(circuits=(ROTATION,), names=("a",), values=((0.1,),), operators=Z0, **layer):
    return qml.layers.Expectation(**layer)(
        list(circuits) if isinstance(circuits, tuple) else circuits, symbol_names=names,
        symbol_values=values if isinstance(values, tf.Tensor) else np.asarray(values)
        if not isinstance(values, (str, list)) else values, operators=operators)


def row_expectation(row: bytes, operator=Z0):
    return qml.get_expectation_op()(tf.constant([row]), ["a"], [[0.1]],
                                    qml.convert_to_tensor([[operator]]))


VALID_ROW = serialize.serialize_circuit(ROTATION)

CASES = {
    "not-a-circuit": lambda: expectation(circuits=[42]),
    "numeric-circuit-tensor": lambda: expectation(circuits=tf.constant([1.0])),
    "circuit-tensor-rank": lambda: expectation(circuits=tf.constant([[VALID_ROW]])),
    "row-not-json": lambda: row_expectation(b"not json"),
    "row-truncated": lambda: row_expectation(VALID_ROW[:40]),
    "row-holds-operator": lambda: row_expectation(serialize.serialize_paulisum(Z0)),
    "row-unknown-gate": lambda: row_expectation(VALID_ROW.replace(b'"Rx"', b'"Eval"')),
    "row-qubit-out-of-range": lambda: row_expectation(
        VALID_ROW.replace(b'[[0,[0]]]', b'[[0,[7]]]')),
    "gate-too-wide": lambda: qml.convert_to_tensor(
        [cirq.Circuit(cirq.QuantumFourierTransformGate(5).on(*cirq.LineQubit.range(5)))]),
    "unsupported-expression": lambda: qml.convert_to_tensor(
        [cirq.Circuit(cirq.rx(sympy.Abs(a))(q[0]))]),
    "missing-symbol": lambda: expectation(names=("b",)),
    "duplicate-symbol-names": lambda: expectation(names=("a", "a"), values=((0.1, 0.2),)),
    "symbol-name-not-a-string": lambda: expectation(names=(3,)),
    "symbol-names-a-string": lambda: expectation(names="a"),
    "symbol-values-nan": lambda: expectation(values=((np.nan,),)),
    "symbol-values-infinite": lambda: expectation(values=((np.inf,),)),
    "symbol-values-1d": lambda: expectation(values=np.array([0.1])),
    "symbol-values-strings": lambda: expectation(values=[["x"]]),
    "symbol-values-complex": lambda: expectation(values=np.array([[1j]])),
    "symbol-values-batch": lambda: expectation(values=((0.1,), (0.2,))),
    "operator-qubit-missing": lambda: expectation(operators=cirq.Z(q[2])),
    "operators-rank": lambda: expectation(
        operators=tf.constant([[[serialize.serialize_paulisum(Z0)]]])),
    "operators-batch": lambda: expectation(
        operators=qml.convert_to_tensor([[Z0], [Z0]])),
    "bare-pauli": lambda: expectation(operators=cirq.Z),
    "operators-missing": lambda: expectation(operators=None),
    "noise-in-exact-expectation": lambda: expectation(
        circuits=(ROTATION + cirq.Circuit(cirq.depolarize(0.1)(q[0])),), backend="qsim"),
    "mid-circuit-measurement": lambda: expectation(
        circuits=(cirq.Circuit(cirq.measure(q[0]), cirq.rx(a)(q[0])),)),
    "state-too-large": lambda: qml.layers.State()(
        [cirq.Circuit(cirq.H.on_each(cirq.LineQubit.range(45)))]),
    "ragged-circuit-list": lambda: qml.convert_to_tensor([[ROTATION], [ROTATION, ROTATION]]),
    "repetitions-zero": lambda: qml.layers.SampledExpectation()(
        [ROTATION], symbol_names=["a"], symbol_values=[[0.1]], operators=Z0, repetitions=0),
    "repetitions-float": lambda: qml.layers.SampledExpectation()(
        [ROTATION], symbol_names=["a"], symbol_values=[[0.1]], operators=Z0,
        repetitions=tf.constant([[1.5]])),
    "unknown-backend": lambda: qml.layers.Expectation(backend="gpu-please"),
    "backend-wrong-type": lambda: qml.layers.Expectation(backend=42),
    "differentiator-wrong-type": lambda: qml.layers.Expectation(differentiator="adjoint"),
    "seed-negative": lambda: qml.layers.SampledExpectation(seed=-1),
    "adjoint-of-samples": lambda: _sampled_gradient(qml.differentiators.Adjoint()),
    "reserved-symbol-name": lambda: qml.differentiators.ParameterShift().get_gradient_circuits(
        [ROTATION], ["a", "__qml_parameter_shift__"], [[0.1, 0.2]]),
    "mps-non-neighbour-gate": lambda: qml.math.mps_1d_expectation(
        [cirq.Circuit(cirq.H(q[1]), cirq.CNOT(q[0], q[2]))], [], tf.zeros([1, 0]), [[Z0]]),
    "mps-bond-dim": lambda: qml.math.mps_1d_expectation(
        [ROTATION], ["a"], [[0.1]], [[Z0]], bond_dim=0),
    "dataset-size": lambda: qml.datasets.tfi_chain(cirq.GridQubit.rect(1, 5)),
}


def _sampled_gradient(differentiator):
    values = tf.Variable([[0.1]])
    with tf.GradientTape() as tape:
        out = qml.layers.SampledExpectation(differentiator=differentiator)(
            [ROTATION], symbol_names=["a"], symbol_values=values, operators=Z0,
            repetitions=10)
    return tape.gradient(out, values)


def documented_rows() -> dict[str, tuple[str, str]]:
    """``id -> (error class name, message fragment)`` from the table in docs/errors.md."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[a-z0-9-]+`", cells[0]):
            error = cells[2].strip("`")
            fragment = re.search(r"“(.+?)”", cells[3]).group(1)
            rows[cells[0].strip("`")] = (error, fragment)
    return rows


def test_the_catalogue_and_the_cases_list_the_same_inputs():
    rows = documented_rows()
    assert len(rows) >= 30
    assert set(rows) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_catalogued_input_gets_its_error(case):
    error_name, fragment = documented_rows()[case]
    with pytest.raises(Exception) as caught:
        CASES[case]()
    error = caught.value
    names = {cls.__name__ for cls in type(error).__mro__}
    assert error_name in names, f"{case}: got {type(error).__name__}: {error}"
    if error_name not in ("ValueError", "TypeError"):
        assert hasattr(qml.errors, error_name), error_name  # one of qml's typed errors
    assert fragment in str(error), f"{case}: {error}"
