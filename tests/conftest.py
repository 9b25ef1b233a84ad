"""Shared test helpers: seeded random circuits over every gate, and Cirq references."""

from __future__ import annotations

import importlib.util
import os

# TFQ (compat stack only) needs Keras 2 behind tf.keras; qml itself uses Keras 3.
if importlib.util.find_spec("tensorflow_quantum") is not None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

SYMBOLS = sympy.symbols("alpha beta gamma delta")
NAMES = [s.name for s in SYMBOLS]  # the symbols as the layers take them


def random_parameter(rng: np.random.Generator, symbolic: bool = True):
    """A float, a symbol, number*symbol, or an expression from qml's closed set."""
    a, b = (SYMBOLS[i] for i in rng.choice(len(SYMBOLS), 2, replace=False))
    choices = [
        float(rng.uniform(-2, 2)),
        a,
        float(rng.uniform(-2, 2)) * a,
        sympy.sin(a) + 2 * b,
        a**2 - sympy.cos(b) / 3,
        sympy.sqrt(b**2 + 1) * sympy.exp(-a / 4),
        sympy.log(a**2 + 2) + sympy.tan(b / 5),
        a / sympy.pi + sympy.Rational(1, 3),
    ]
    if not symbolic:
        return choices[0]
    return choices[rng.integers(len(choices))]


def _one_qubit_gate(rng, symbolic):
    p = lambda: random_parameter(rng, symbolic)  # noqa: E731
    makers = [
        lambda: cirq.XPowGate(exponent=p(), global_shift=float(rng.uniform(-1, 1))),
        lambda: cirq.YPowGate(exponent=p()),
        lambda: cirq.ZPowGate(exponent=p(), global_shift=0.25),
        lambda: cirq.HPowGate(exponent=p()),
        lambda: cirq.rx(p()),
        lambda: cirq.ry(p()),
        lambda: cirq.rz(p()),
        lambda: cirq.PhasedXPowGate(phase_exponent=p(), exponent=p()),
        lambda: cirq.PhasedXZGate(x_exponent=p(), z_exponent=p(), axis_phase_exponent=p()),
        lambda: cirq.H,
        lambda: cirq.X,
        lambda: cirq.I,
    ]
    return makers[rng.integers(len(makers))]()


def _two_qubit_gate(rng, symbolic):
    p = lambda: random_parameter(rng, symbolic)  # noqa: E731
    makers = [
        lambda: cirq.XXPowGate(exponent=p()),
        lambda: cirq.YYPowGate(exponent=p()),
        lambda: cirq.ZZPowGate(exponent=p()),
        lambda: cirq.CZPowGate(exponent=p()),
        lambda: cirq.CNotPowGate(exponent=p()),
        lambda: cirq.SwapPowGate(exponent=p()),
        lambda: cirq.ISwapPowGate(exponent=p()),
        lambda: cirq.PhasedISwapPowGate(phase_exponent=p(), exponent=p()),
        lambda: cirq.FSimGate(theta=p(), phi=p()),
        lambda: cirq.MatrixGate(
            cirq.testing.random_unitary(4, random_state=int(rng.integers(2**31)))),
        lambda: cirq.CZ,
    ]
    return makers[rng.integers(len(makers))]()


def _three_qubit_gate(rng, symbolic, non_native):
    p = lambda: random_parameter(rng, symbolic)  # noqa: E731
    makers = [
        lambda: cirq.CCXPowGate(exponent=p()),
        lambda: cirq.CCZPowGate(exponent=p()),
        lambda: cirq.CSWAP,
    ]
    if non_native:
        makers.append(lambda: cirq.qft(*cirq.LineQubit.range(3)).gate)  # becomes a matrix
    return makers[rng.integers(len(makers))]()


def random_circuit(
    qubits: list, num_ops: int, rng: np.random.Generator, symbolic: bool = True,
    controlled: bool = True, non_native: bool = True,
) -> cirq.Circuit:
    """A random circuit over every native gate, with controls and expressions.

    With ``non_native``, it also holds gates that qml stores as matrices."""
    ops = [cirq.H(q) for q in qubits]
    for _ in range(num_ops):
        room = len(qubits)
        choice = rng.integers(10)
        if choice == 9 and room >= 3:
            gate, arity = _three_qubit_gate(rng, symbolic, non_native), 3
        elif choice >= 5 and room >= 2:
            gate, arity = _two_qubit_gate(rng, symbolic), 2
        else:
            gate, arity = _one_qubit_gate(rng, symbolic), 1
        chosen = [qubits[i] for i in rng.choice(room, arity + 1 if room > arity else arity,
                                                replace=False)]
        op = gate.on(*chosen[:arity])
        if controlled and len(chosen) > arity and rng.random() < 0.15:
            op = op.controlled_by(chosen[arity], control_values=[int(rng.integers(2))])
        ops.append(op)
    return cirq.Circuit(ops)


def circuit_from_makers(qubits: list, num_ops: int, rng: np.random.Generator, one: list,
                        two: list, control) -> cirq.Circuit:
    """H on every qubit, then ``num_ops`` gates from the makers on random qubits.

    ``one`` and ``two`` hold functions that make one- and two-qubit gates. Where a
    spare qubit was drawn, ``control(op, gate, arity, chosen)`` returns the operation
    to append: ``op`` itself or a controlled one, with ``chosen[arity:]`` free.
    """
    ops = [cirq.H(q) for q in qubits]
    for _ in range(num_ops):
        if len(qubits) >= 2 and rng.random() < 0.4:
            gate, arity = two[rng.integers(len(two))](), 2
        else:
            gate, arity = one[rng.integers(len(one))](), 1
        chosen = [qubits[i] for i in rng.choice(len(qubits), min(arity + 1, len(qubits)),
                                                replace=False)]
        op = gate.on(*chosen[:arity])
        if len(chosen) > arity:
            op = control(op, gate, arity, chosen)
        ops.append(op)
    return cirq.Circuit(ops)


def random_paulisum(qubits: list, rng: np.random.Generator) -> cirq.PauliSum:
    """1 to 3 terms of random Paulis on random qubits, with a constant now and then."""
    psum = cirq.PauliSum()
    for _ in range(rng.integers(1, 4)):
        count = rng.integers(1, min(3, len(qubits)) + 1)
        chosen = rng.choice(len(qubits), count, replace=False)
        paulis = {qubits[i]: [cirq.X, cirq.Y, cirq.Z][rng.integers(3)] for i in chosen}
        psum += cirq.PauliString(paulis, coefficient=float(rng.uniform(-1, 1)))
    if rng.random() < 0.3:
        psum += float(rng.uniform(-1, 1))
    return psum


def random_values(rng: np.random.Generator, batch: int) -> np.ndarray:
    return rng.uniform(-2, 2, (batch, len(SYMBOLS))).astype(np.float32)


def cirq_expectations(circuits, values, names, operators) -> np.ndarray:
    """The reference: cirq.Simulator in complex128, row by row."""
    simulator = cirq.Simulator(dtype=np.complex128)
    out = np.zeros((len(circuits), len(operators[0])))
    for row, circuit in enumerate(circuits):
        resolver = {name: float(values[row, k]) for k, name in enumerate(names)}
        qubits = sorted(circuit.all_qubits())
        observables = [op if len(op) else cirq.PauliSum() for op in operators[row]]
        out[row] = np.real(simulator.simulate_expectation_values(
            circuit, observables, param_resolver=resolver, qubit_order=qubits))
    return out


def reference_gradient(circuits, values: np.ndarray, operators, upstream: np.ndarray,
                       step: float = 1e-5, names=None) -> np.ndarray:
    """Gradient of ``sum(upstream * expectations)`` with respect to ``values``:
    central differences of :func:`cirq_expectations`, in complex128. ``names`` are
    the symbols of the columns of ``values``, ``SYMBOLS`` by default."""
    names = names or [s.name for s in SYMBOLS]
    gradient = np.zeros(values.shape)
    for col in range(values.shape[1]):
        plus, minus = values.astype(np.float64), values.astype(np.float64)
        plus[:, col] += step
        minus[:, col] -= step
        slope = (cirq_expectations(circuits, plus, names, operators)
                 - cirq_expectations(circuits, minus, names, operators)) / (2 * step)
        gradient[:, col] = np.sum(upstream * slope, axis=1)
    return gradient


def pytest_collection_modifyitems(config, items):
    """With QML_SKIP_STACK_INDEPENDENT=1 (scripts/test.sh on the compat stack), leaves
    out the tests marked stack_independent, which the latest stack runs."""
    if os.environ.get("QML_SKIP_STACK_INDEPENDENT") != "1":
        return
    kept = [item for item in items if item.get_closest_marker("stack_independent") is None]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tfq_or_skip():
    """The tensorflow_quantum module, or a skip where it is not installed."""
    return pytest.importorskip("tensorflow_quantum")


@pytest.fixture
def eager_functions():
    """Runs ``tf.function`` s eagerly: random circuits all differ in structure, and
    tracing each one would cost more than it saves."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _same_output(first, second) -> None:
    import tensorflow as tf

    if isinstance(first, tf.RaggedTensor):
        assert isinstance(second, tf.RaggedTensor)
        assert first.to_list() == second.to_list()
    elif first.dtype == tf.string:
        assert first.numpy().tolist() == second.numpy().tolist()
    else:
        np.testing.assert_allclose(second.numpy(), first.numpy(), atol=1e-6)


def run_layer_test(make_layer, call, inputs, tmp_path, expected_weights: int):
    """Keras's checks of a layer, for a qml layer; returns the layer's output.

    ``make_layer()`` makes a fresh layer and ``call(layer, x)`` applies it to ``x``,
    a tensor or a list of tensors of the shapes of ``inputs`` (concrete values, first
    dimension the batch). In a functional model it checks:

    - the output spec (``compute_output_spec``) against the real output: rank, the
      static dimensions, dtype and raggedness;
    - the number of trainable weights;
    - a layer rebuilt by ``from_config(get_config())``, given the same weights, gives
      the same output;
    - a ``.keras`` round trip gives the same output.

    Seeded layers draw each call's seed from their seed, so every first call agrees.
    """
    import keras
    import tensorflow as tf

    several = isinstance(inputs, (list, tuple))
    values = list(inputs) if several else [inputs]
    symbolic = [keras.Input(shape=v.shape[1:], dtype=v.dtype.name) for v in values]
    layer = make_layer()
    spec = call(layer, symbolic if several else symbolic[0])
    model = keras.Model(symbolic, spec)
    out = model(values if several else values[0])

    ragged = isinstance(out, tf.RaggedTensor)
    real_shape = out.bounding_shape().numpy().tolist() if ragged else list(out.shape)
    assert len(spec.shape) == len(real_shape), (spec.shape, real_shape)
    assert all(s is None or s == r for s, r in zip(spec.shape[1:], real_shape[1:])), \
        (spec.shape, real_shape)
    assert real_shape[0] == values[0].shape[0]
    assert spec.dtype == out.dtype.name and bool(spec.ragged) == ragged, (spec, out.dtype)
    assert len(layer.trainable_weights) == expected_weights

    clone = type(layer).from_config(layer.get_config())
    clone_model = keras.Model(symbolic, call(clone, symbolic if several else symbolic[0]))
    clone_model.set_weights(model.get_weights())
    _same_output(out, clone_model(values if several else values[0]))

    keras_round_trip(model, values if several else values[0], tmp_path, expected=out)
    return out


def keras_round_trip(model, inputs, tmp_path, expected=None):
    """Saves ``model`` to a ``.keras`` file and loads it; the loaded model's first
    call must give ``expected`` (by default, ``model(inputs)``). Returns the loaded
    model."""
    import keras

    if expected is None:
        expected = model(inputs)
    path = tmp_path / "round_trip.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    _same_output(expected, restored(inputs))
    return restored
