"""Fuzzing the boundary: mutated circuit rows, operator rows, symbol names and values
get only qml's typed errors, within a time limit, and nothing in them is evaluated.

``QML_FUZZ_EXAMPLES`` sets the number of cases per test (CI runs a small count;
docs/errors.md gives the figures of a long run).
"""

import contextlib
import copy
import inspect
import json
import os
import signal
import uuid

import cirq
import numpy as np
import pytest
import tensorflow as tf
from conftest import NAMES, SYMBOLS, random_circuit, random_paulisum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qml
from qml.circuits import serialize

EXAMPLES = int(os.environ.get("QML_FUZZ_EXAMPLES", "150"))
TYPED_ERRORS = tuple(cls for _, cls in inspect.getmembers(qml.errors, inspect.isclass)
                     if issubclass(cls, Exception))
CASE_SECONDS = 20
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

ODD_VALUES = [None, True, "", "x", -1, 0, 2**31, -(2**63), 10**400, 1e308, -1e308,
              float("nan"), float("inf"), float("-inf"), [], {}, [[]], {"g": "XPow"},
              "__import__('os')", list(range(200)), [1e9] * 20, "🙂" * 50]

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fails the case if it runs past ``seconds`` (a hang)."""
    def expire(signum, frame):
        raise TimeoutError(f"a fuzz case ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _paths(node, prefix=()):
    """Every path into a parsed JSON row, leaves and containers, to depth 30."""
    yield prefix
    if len(prefix) >= 30:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _replace(node, path, value):
    if not path:
        return value
    parent = node
    for step in path[:-1]:
        parent = parent[step]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return node


_DELETE = object()


DEEP = "__deeply_nested__"  # replaced by thousands of brackets once encoded


@st.composite
def mutated_rows(draw, kind: str):
    """A valid serialized row, mutated one to three times, as bytes."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    qubits = cirq.LineQubit.range(int(rng.integers(1, 5)))
    if kind == "circuit":
        circuit = random_circuit(qubits, int(rng.integers(1, 12)), rng)
        if draw(st.booleans()):
            circuit += cirq.Circuit(cirq.depolarize(0.1)(qubits[0]),
                                    cirq.measure(qubits[-1], key="m"))
        row = serialize.serialize_circuit(circuit)
    else:
        row = serialize.serialize_paulisum(random_paulisum(qubits, rng))
    parsed = json.loads(row)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(parsed))
        path = paths[draw(st.integers(0, len(paths) - 1))]
        action = draw(st.sampled_from(["delete", "odd", "deep", "swap", "unknown"]))
        if action == "delete" and path:
            parsed = _replace(parsed, path, _DELETE)
        elif action == "deep":
            parsed = _replace(parsed, path, DEEP)
        elif action == "swap":
            parsed = _replace(parsed, path, draw(st.sampled_from([str, float, list]))())
        elif action == "unknown":
            parsed = _replace(parsed, path, draw(st.text(max_size=12)))
        else:
            parsed = _replace(parsed, path, copy.deepcopy(draw(st.sampled_from(ODD_VALUES))))
    depth = draw(st.sampled_from([50, 5000]))
    encoded = json.dumps(parsed).replace(f'"{DEEP}"', "[" * depth + "]" * depth).encode()
    if draw(st.integers(0, 5)) == 0:  # truncated, or raw noise
        encoded = encoded[:draw(st.integers(0, max(len(encoded) - 1, 0)))]
    if draw(st.integers(0, 20)) == 0:
        encoded = draw(st.binary(max_size=64))
    return encoded


def _expect_typed(function, *args):
    """Runs ``function``; a result or a qml typed error passes, anything else fails."""
    with time_limit(CASE_SECONDS):
        try:
            out = function(*args)
        except TYPED_ERRORS:
            return None
        except tf.errors.InvalidArgumentError as error:  # raised by a graph op
            pytest.fail(f"untyped TensorFlow error: {error.message[:300]}")
    return out


def _expectation(circuit_row: bytes, operator_row: bytes, names, values):
    return qml.get_expectation_op()(tf.constant([circuit_row]), names, values,
                                    tf.constant([[operator_row]]))


VALID_OPERATOR = serialize.serialize_paulisum(cirq.Z(cirq.LineQubit(0)))
VALID_VALUES = np.zeros((1, len(NAMES)), np.float32)


@FUZZ
@given(mutated_rows("circuit"))
def test_mutated_circuit_rows_get_typed_errors(row):
    out = _expect_typed(_expectation, row, VALID_OPERATOR, NAMES, VALID_VALUES)
    if out is not None:
        assert out.shape == (1, 1) and np.isfinite(out.numpy()).all()


@FUZZ
@given(mutated_rows("paulisum"))
def test_mutated_operator_rows_get_typed_errors(row):
    circuit = serialize.serialize_circuit(cirq.Circuit(cirq.H.on_each(cirq.LineQubit.range(4))))
    out = _expect_typed(_expectation, circuit, row, NAMES, VALID_VALUES)
    if out is not None:
        assert out.shape == (1, 1) and np.isfinite(out.numpy()).all()


@FUZZ
@given(names=st.one_of(st.lists(st.one_of(st.text(max_size=8), st.integers(),
                                          st.none()), max_size=6),
                       st.text(max_size=8), st.integers()),
       values=st.one_of(
           st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                             max_size=6), max_size=3),
           st.floats(), st.text(max_size=4), st.none()))
def test_odd_symbol_names_and_values_get_typed_errors(names, values):
    circuit = serialize.serialize_circuit(cirq.Circuit(cirq.rx(SYMBOLS[0])(cirq.LineQubit(0))))

    def call():
        return _expectation(circuit, VALID_OPERATOR, names, values)

    out = _expect_typed(call)
    if out is not None:
        assert out.shape == (1, 1) and np.isfinite(out.numpy()).all()


def test_a_row_of_python_code_in_every_string_field_has_no_effect(tmp_path):
    """Every string of a valid row replaced by code that would create a file if any
    of it were evaluated; qml only reads it as data."""
    marker = tmp_path / f"evaluated-{uuid.uuid4().hex}"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    q = cirq.NamedQubit("a")
    circuit = cirq.Circuit(cirq.rx(SYMBOLS[0] * 2)(q), cirq.measure(q, key="m"))
    for row in (serialize.serialize_circuit(circuit),
                serialize.serialize_paulisum(cirq.Z(q) + 1)):
        parsed = json.loads(row)
        for path in list(_paths(parsed)):
            node = parsed
            for step in path:
                node = node[step]
            if isinstance(node, str):
                parsed = _replace(parsed, path, code)
        evil = json.dumps(parsed).encode()
        for circuit_row, operator_row in ((evil, VALID_OPERATOR),
                                          (serialize.serialize_circuit(circuit), evil)):
            _expect_typed(_expectation, circuit_row, operator_row, [code], VALID_VALUES[:, :1])
            _expect_typed(qml.from_tensor, tf.constant([evil]))
    assert not marker.exists()
