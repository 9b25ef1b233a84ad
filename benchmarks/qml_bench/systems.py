"""The systems qml-bench times, each behind one small adapter.

An adapter turns a :class:`~qml_bench.circuits.Case` and a workload into a function
of no arguments that runs the whole batch once and returns a numpy array:

* ``expectation``: ``[batch, n_qubits]`` values of Z on each qubit;
* ``gradient``: ``[batch, n_symbols]`` gradient of the summed values;
* ``sample``: ``[batch, repetitions, n_qubits]`` bits;
* ``sampled-expectation``: ``[batch, n_qubits]`` values of Z on each qubit, each
  estimated from ``repetitions`` shots;
* ``noisy-expectation``: ``[batch, n_qubits]`` values of Z on each qubit of the
  circuit with depolarizing noise after every moment, each averaged over
  ``repetitions`` trajectories (``backend='noisy'``);
* ``train-step``: ``[batch, n_qubits]`` quantum-layer outputs of one optimizer step
  of a hybrid model (data circuit, then the case's circuit as a PQC, then Dense);
* ``fit``: one epoch of ``model.fit`` (graph mode) of that model over ``batch`` data
  circuits, in batches of :data:`FIT_BATCH`; it returns the ``PQC`` outputs at the
  starting weights, which the agreement check reads.

Symbol values are held in a ``tf.Variable``, as a model holds them.

A system that cannot run a workload raises :class:`Unsupported` with the reason.

Example:
    >>> sorted(SYSTEMS)[:3]
    ['cirq', 'pennylane-lightning', 'qml']
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from qml_bench.circuits import Case

Runner = Callable[[], np.ndarray]
FIT_BATCH = 200  # model.fit's batch size in the fit workload


class Unsupported(Exception):
    """The system cannot run this workload or circuit; the message says why."""


@dataclass(frozen=True)
class Inputs:
    """What every system receives for one benchmark cell."""

    case: Case
    workload: str
    values: np.ndarray  # [batch, n_symbols] float32
    data: np.ndarray  # [batch, n_qubits] data-circuit angles (train-step)
    threads: int
    repetitions: int
    seed: int


def _resolvers(inputs: Inputs) -> list:
    import cirq

    return [cirq.ParamResolver(dict(zip(inputs.case.symbols, map(float, row))))
            for row in inputs.values]


def data_circuits(inputs: Inputs) -> list:
    """The train-step's data circuits: rx(angle) on every qubit, one row each."""
    import cirq

    return [cirq.Circuit(cirq.rx(float(x))(q) for x, q in zip(row, inputs.case.qubits))
            for row in inputs.data]


# ------------------------------------------------------------------ TF layers
def _keras_layers_runner(lib, options: dict, inputs: Inputs) -> Runner:
    """qml and TFQ share TFQ's layer API, so one adapter serves both."""
    import tensorflow as tf

    case, batch = inputs.case, len(inputs.values)
    if inputs.workload in ("sample", "sampled-expectation") and \
            options.get("backend") == "tensorflow":
        raise Unsupported("the TensorFlow executor does not sample")
    if inputs.workload == "sample":
        layer = lib.layers.Sample(**options)
        circuits = lib.convert_to_tensor(case.row_circuits(batch))
        return lambda: layer(circuits, symbol_names=list(case.symbols),
                             symbol_values=inputs.values,
                             repetitions=inputs.repetitions).to_tensor().numpy()
    if inputs.workload == "noisy-expectation":
        if options.get("backend") is not None:
            raise Unsupported("noise trajectories run on backend='noisy'")
        layer = lib.layers.Expectation(backend="noisy")
        circuits = lib.convert_to_tensor([case.noisy(c) for c in case.row_circuits(batch)])
        variable = tf.Variable(inputs.values)
        return lambda: layer(circuits, symbol_names=list(case.symbols), symbol_values=variable,
                             operators=list(case.operators),
                             repetitions=inputs.repetitions).numpy()
    if inputs.workload == "train-step":
        return _train_step(lib, options, inputs)
    if inputs.workload == "fit":
        return _fit(lib, options, inputs)
    circuits = lib.convert_to_tensor(case.row_circuits(batch))
    layer = lib.layers.Expectation(**options)
    operators = list(case.operators)
    variable = tf.Variable(inputs.values)
    if inputs.workload == "expectation":
        return lambda: layer(circuits, symbol_names=list(case.symbols),
                             symbol_values=variable, operators=operators).numpy()
    if inputs.workload == "sampled-expectation":
        sampled = lib.layers.SampledExpectation(**options)
        return lambda: sampled(circuits, symbol_names=list(case.symbols),
                               symbol_values=variable, operators=operators,
                               repetitions=inputs.repetitions).numpy()
    if not case.symbols:
        raise Unsupported("the circuit has no symbols to differentiate")

    def gradient() -> np.ndarray:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(layer(circuits, symbol_names=list(case.symbols),
                                        symbol_values=variable, operators=operators))
        return tf.convert_to_tensor(tape.gradient(total, variable)).numpy()

    return gradient


def _hybrid_model(lib, options: dict, inputs: Inputs) -> tuple:
    """What train-step and fit share: the library's Keras, the data circuits, the
    case's PQC (not yet built) and the targets."""
    import tensorflow as tf

    if not inputs.case.symbols:
        raise Unsupported("the circuit has no symbols to train")
    if lib.__name__ == "qml":
        import keras
    else:  # TFQ's layers are tf.keras (Keras 2) layers
        keras = tf.keras
    circuits = lib.convert_to_tensor(data_circuits(inputs))
    pqc = lib.layers.PQC(inputs.case.circuit, list(inputs.case.operators), **options)
    targets = np.sign(inputs.data[:, :1]).astype(np.float32)
    return keras, circuits, pqc, targets


def _start_weights(pqc, inputs: Inputs) -> None:
    """Sets a built PQC's weights to row 0's values; both libraries' PQC layers order
    their weights by symbol name."""
    by_name = dict(zip(inputs.case.symbols, inputs.values[0]))
    pqc.set_weights([np.array([by_name[name] for name in map(str, pqc.symbols)])])


def _train_step(lib, options: dict, inputs: Inputs) -> Runner:
    import tensorflow as tf

    keras, circuits, pqc, targets = _hybrid_model(lib, options, inputs)
    pqc(circuits[:1])
    _start_weights(pqc, inputs)
    dense = keras.layers.Dense(1)
    dense(tf.zeros([1, len(inputs.case.operators)]))
    optimizer = keras.optimizers.Adam(0.01)
    variables = pqc.trainable_variables + dense.trainable_variables
    initial = [v.numpy() for v in variables]

    def step() -> np.ndarray:
        for variable, value in zip(variables, initial):  # every call times the same step
            variable.assign(value)
        with tf.GradientTape() as tape:
            quantum = pqc(circuits)
            loss = tf.reduce_mean((dense(quantum) - targets) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return quantum.numpy()

    return step


def _fit(lib, options: dict, inputs: Inputs) -> Runner:
    import tensorflow as tf

    keras, circuits, pqc, targets = _hybrid_model(lib, options, inputs)
    model_input = keras.Input(shape=(), dtype=tf.string)
    model = keras.Model(model_input, keras.layers.Dense(1)(pqc(model_input)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    _start_weights(pqc, inputs)
    initial = model.get_weights()
    outputs = pqc(circuits).numpy()  # at the starting weights, for the agreement check

    def epoch() -> np.ndarray:
        model.set_weights(initial)  # every call times the same epoch
        model.fit(circuits, targets, batch_size=FIT_BATCH, epochs=1, shuffle=False, verbose=0)
        return outputs

    return epoch


def qml_runner(backend: Optional[str]) -> Callable[[Inputs], Runner]:
    def build(inputs: Inputs) -> Runner:
        import qml
        from qml.executors import QsimExecutor, QsimOptions

        if backend == "qsim":  # the same thread budget as every other system
            chosen = QsimExecutor(QsimOptions(cpu_threads=inputs.threads))
        else:
            chosen = backend
        return _keras_layers_runner(qml, {"backend": chosen}, inputs)
    return build


def tfq_runner(inputs: Inputs) -> Runner:
    import tensorflow_quantum as tfq

    return _keras_layers_runner(tfq, {}, inputs)


# ------------------------------------------------------------- Cirq front ends
def _cirq_simulator_runner(simulator, inputs: Inputs) -> Runner:
    import cirq

    case = inputs.case
    if inputs.workload in ("gradient", "sampled-expectation", "noisy-expectation",
                           "train-step", "fit"):
        raise Unsupported(f"no {inputs.workload} in its documented API")
    if case.family == "distinct":
        raise Unsupported("its sweeps run one circuit; distinct rows are timed for qml and TFQ")
    resolvers = _resolvers(inputs)
    if inputs.workload == "expectation":
        observables = list(case.operators)

        def expectation() -> np.ndarray:
            rows = simulator.simulate_expectation_values_sweep(
                case.circuit, observables=observables, params=resolvers)
            return np.real(np.asarray(rows))
        return expectation
    measured = case.circuit + cirq.measure(*case.qubits, key="m")

    def sample() -> np.ndarray:
        results = simulator.run_sweep(measured, params=resolvers,
                                      repetitions=inputs.repetitions)
        return np.stack([r.measurements["m"] for r in results])
    return sample


def qsimcirq_runner(inputs: Inputs) -> Runner:
    import qsimcirq

    options = qsimcirq.QSimOptions(cpu_threads=inputs.threads)
    return _cirq_simulator_runner(qsimcirq.QSimSimulator(options, seed=inputs.seed), inputs)


def cirq_runner(inputs: Inputs) -> Runner:
    import cirq

    return _cirq_simulator_runner(cirq.Simulator(seed=inputs.seed), inputs)


# -------------------------------------------------------------------- peers
def _needs_plain(inputs: Inputs) -> None:
    if inputs.case.gate_list is None:
        raise Unsupported(f"--circuit {inputs.case.family} has gates without a plain form")
    if inputs.workload not in ("expectation", "gradient"):
        raise Unsupported(f"the {inputs.workload} workload is timed for qml and TFQ")


def pennylane_runner(inputs: Inputs) -> Runner:
    """lightning.qubit with adjoint differentiation, one circuit per row, as its docs
    show for batches of parameters."""
    _needs_plain(inputs)
    import pennylane
    from pennylane import numpy as pnp

    case = inputs.case
    num_qubits = len(case.qubits)
    device = pennylane.device("lightning.qubit", wires=num_qubits)
    operations = {"rx": pennylane.RX, "ry": pennylane.RY, "rz": pennylane.RZ,
                  "cz": pennylane.CZ, "cnot": pennylane.CNOT}

    @pennylane.qnode(device, diff_method="adjoint")
    def circuit(params):
        for name, wires, symbol in case.gate_list:
            if symbol is None:
                operations[name](wires=list(wires))
            else:
                operations[name](params[symbol], wires=list(wires))
        return [pennylane.expval(pennylane.PauliZ(w)) for w in range(num_qubits)]

    if inputs.workload == "expectation":
        return lambda: np.array([circuit(row) for row in inputs.values.astype(np.float64)])
    total = pennylane.grad(lambda params: pnp.sum(pnp.stack(circuit(params))))
    rows = [pnp.array(row, requires_grad=True) for row in inputs.values.astype(np.float64)]
    return lambda: np.array([total(row) for row in rows])


def tensorcircuit_runner(backend: str) -> Callable[[Inputs], Runner]:
    """TensorCircuit-NG with vmap over the batch and jit, on JAX or TensorFlow."""
    def build(inputs: Inputs) -> Runner:
        _needs_plain(inputs)
        import tensorcircuit as tc

        case = inputs.case
        num_qubits = len(case.qubits)
        k = tc.set_backend(backend)
        tc.set_dtype("complex64")

        def values(params):
            c = tc.Circuit(num_qubits)
            for name, wires, symbol in case.gate_list:
                if symbol is None:
                    getattr(c, name)(*wires)
                else:
                    getattr(c, name)(*wires, theta=params[symbol])
            # The state once, and every Z from its probabilities: 2-4x faster than one
            # expectation_ps contraction per qubit.
            probabilities = k.abs(c.state()) ** 2
            return k.stack([
                k.sum(k.reshape(probabilities, [2**w, 2, -1])
                      * k.reshape(k.convert_to_tensor([1.0, -1.0]), [1, 2, 1]))
                for w in range(num_qubits)])

        params = k.convert_to_tensor(inputs.values)
        if inputs.workload == "expectation":
            function = k.jit(k.vmap(values, vectorized_argnums=0))
        else:
            # TensorCircuit's documented batched gradient: vectorized_value_and_grad.
            value_and_grad = k.jit(k.vectorized_value_and_grad(
                lambda p: k.sum(values(p)), argnums=0, vectorized_argnums=0))
            function = lambda p: value_and_grad(p)[1]  # noqa: E731
        return lambda: np.asarray(function(params))
    return build


@dataclass(frozen=True)
class System:
    """A named system: the module it needs and how to build a runner."""

    name: str
    module: str
    build: Callable[[Inputs], Runner]

    def missing(self) -> Optional[str]:
        """Why the system cannot run here, or None."""
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        return None


SYSTEMS: dict[str, System] = {s.name: s for s in [
    System("qml", "qml", qml_runner(None)),
    System("qml-native", "qml", qml_runner("native")),
    System("qml-qsim", "qml", qml_runner("qsim")),
    System("qml-tensorflow", "qml", qml_runner("tensorflow")),
    System("tfq", "tensorflow_quantum", tfq_runner),
    System("qsimcirq", "qsimcirq", qsimcirq_runner),
    System("cirq", "cirq", cirq_runner),
    System("pennylane-lightning", "pennylane_lightning", pennylane_runner),
    System("tensorcircuit-jax", "tensorcircuit", tensorcircuit_runner("jax")),
    System("tensorcircuit-tf", "tensorcircuit", tensorcircuit_runner("tensorflow")),
]}
