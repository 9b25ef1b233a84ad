"""Circuit-executor layers with TFQ's signatures: ``Expectation``,
``SampledExpectation``, ``Sample``, ``State``, ``Unitary`` and ``AddCircuit``."""

from __future__ import annotations

from typing import Any, Callable, Optional

import cirq
import keras
import numpy as np
import tensorflow as tf

import qml.tensors as tensors
from qml.circuits import serialize
from qml.differentiators import Differentiator
from qml.executors import Executor, get_executor
import qml.ops as ops


class _QuantumLayer(keras.layers.Layer):
    """Shared handling of ``backend`` and ``differentiator``, and their config."""

    def __init__(self, backend: Any = None, differentiator: Optional[Differentiator] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if differentiator is not None and not isinstance(differentiator, Differentiator):
            differentiator = deserialize_differentiator(differentiator)
        self.backend = backend
        self.executor: Executor = get_executor(backend)
        self.differentiator = differentiator
        if seed is not None:
            ops.draw_seed(seed)  # checks it
        self.seed = seed
        # Each call draws a fresh seed from this generator: repeatable from `seed`.
        self.seed_generator = None if seed is None else keras.random.SeedGenerator(seed)

    def _draw_seed(self) -> tf.Tensor:
        return ops.draw_seed(self.seed_generator)

    def get_config(self) -> dict:
        if self.backend is not None and not isinstance(self.backend, str):
            raise ValueError(
                f"a layer with backend={self.backend!r} cannot be saved; only "
                "backend=None or a backend name can be stored in a model file"
            )
        return {
            **super().get_config(),
            "backend": self.backend,
            "differentiator": serialize_differentiator(self.differentiator),
            "seed": self.seed,
        }


def _tiled(values: tf.Tensor, circuits: tf.Tensor) -> tf.Tensor:
    """``values`` with one row repeated for every circuit."""
    values = tf.convert_to_tensor(values, tf.float32)
    if values.shape.rank == 2 and values.shape[0] == 1:
        values = tf.tile(values, tf.stack([tf.shape(circuits)[0], 1]))
    return values


def _no_symbol_values(names: Any) -> np.ndarray:
    """The values of a call without symbol_values: one empty row, tiled by _tiled."""
    if not tf.is_tensor(names) and names:
        raise ValueError(f"symbol_names {names} were given without symbol_values")
    return np.zeros((1, 0), np.float32)


def _circuit_arguments(inputs: Any, symbol_names: Any, symbol_values: Any,
                       values_if_missing: Callable[[Any], Any] = _no_symbol_values
                       ) -> tuple[tf.Tensor, Any, Any]:
    """Circuits, names and values of a layer call, with one circuit tiled to the batch
    of ``symbol_values``; ``values_if_missing(names)`` stands in for absent values (None:
    the layer's weights, one row)."""
    tile_single = isinstance(inputs, cirq.AbstractCircuit)
    circuits = tensors.as_circuit_tensor(inputs)
    names = symbol_names if tf.is_tensor(symbol_names) else tensors.symbol_list(symbol_names)
    if symbol_values is None:
        symbol_values = values_if_missing(names)
    if symbol_values is not None:
        if not isinstance(symbol_values, keras.KerasTensor):
            symbol_values = tensors.as_symbol_values(symbol_values)
        if tile_single:
            circuits = tf.tile(circuits, tf.shape(symbol_values)[:1])
    if not _symbolic(circuits, symbol_values):
        names = tensors.as_symbol_names(names)
    return circuits, names, symbol_values


def _symbolic(*arguments: Any) -> bool:
    """Whether a call builds a functional model. Its recorded arguments must then be
    JSON-safe (plain strings, not tensors); an eager call passes lists as one tensor
    each, since Keras checks every element of a list argument, at some cost per call."""
    return any(isinstance(a, keras.KerasTensor) for a in arguments)


def _operator_count(operators: Any) -> Optional[int]:
    """The number of operators per row, as ``operator_strings`` gives them."""
    if isinstance(operators, (list, tuple)):
        nested = bool(operators) and isinstance(operators[0], (list, tuple))
        return len(operators[0]) if nested else len(operators)
    shape = tuple(operators.shape)
    return shape[-1] if len(shape) == 2 else shape[0]


def serialize_differentiator(differentiator: Optional[Differentiator]) -> Optional[dict]:
    """A differentiator's Keras config, or None."""
    if differentiator is None:
        return None
    return keras.saving.serialize_keras_object(differentiator)


def deserialize_differentiator(config: Any) -> Differentiator:
    """Rebuilds a differentiator from its Keras config: one of qml's, or a custom class
    registered with ``@keras.saving.register_keras_serializable()``.

    Raises:
        TypeError: if ``config`` does not describe a registered differentiator.
    """
    if not isinstance(config, dict):
        raise TypeError(
            f"differentiator must be a qml.differentiators.Differentiator, got {config!r}")
    differentiator = keras.saving.deserialize_keras_object(config)
    if not isinstance(differentiator, Differentiator):
        raise TypeError(
            f"differentiator config {config!r} describes {differentiator!r}, not a "
            "qml.differentiators.Differentiator")
    return differentiator


@keras.saving.register_keras_serializable(package="qml")
class Expectation(_QuantumLayer):
    """Computes expectation values of operators on parameterized circuits.

    Args:
        backend: None or ``'noiseless'`` (qml's default policy: the native core, or
            qsim for noisy circuits on 15 qubits or more),
            ``'qsim'``, ``'tensorflow'``, ``'noisy'`` (noise channels simulated as
            ``repetitions`` Monte Carlo trajectories), or any
            ``cirq.SimulatesExpectationValues`` (``cirq.DensityMatrixSimulator``
            simulates noise exactly).
        differentiator: a ``qml.differentiators.Differentiator``; None selects
            ``Adjoint``, or ``ParameterShift`` with ``backend='noisy'``.
        seed: with ``backend='noisy'``, seeds the trajectories; None follows
            ``tf.random.set_seed``.

    Call arguments:
        inputs: a circuit tensor ``tf.string [batch]``, a ``cirq.Circuit`` (tiled to
            the batch of ``symbol_values``) or a list of circuits.
        symbol_names: names (or ``sympy.Symbol`` s) of the columns of symbol_values.
        symbol_values: ``float32 [batch, n_symbols]``. If None and symbol_names is
            given, the layer creates trainable weights with ``initializer``, as TFQ.
        operators: a PauliSum, a list of them (the same for every row), or a tensor
            ``tf.string [batch, n_ops]``.
        initializer: initializer of those weights.
        repetitions: with ``backend='noisy'`` only, and required there: trajectories
            per row and operator, an int or ``int [batch, n_ops]``.

    Returns:
        ``[batch, n_ops]`` float32. An empty circuit gives -2 and an empty operator
        gives 0, as in TFQ.

    Raises:
        NotACircuitError: if ``inputs`` does not hold circuits.
        CircuitFormatError: for a malformed circuit row.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        QubitMismatchError: for an operator on a qubit its circuit lacks.
        ValueError: for an unknown backend, or a missing ``operators``.
        TypeError: for a ``differentiator`` or ``backend`` of the wrong type.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> layer = Expectation()
        >>> layer(cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q)), symbol_names=["a"],
        ...       symbol_values=[[np.pi]], operators=cirq.Z(q)).numpy().round(3)
        array([[-1.]], dtype=float32)
    """

    # How the expectation is estimated: exact, from shots, or over noise trajectories.
    _sampled = False

    def __init__(self, backend: Any = None, differentiator: Optional[Differentiator] = None,
                 num_symbol_weights: int = 0, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(backend=backend, differentiator=differentiator, seed=seed, **kwargs)
        self.symbol_weights = None
        # What build() creates: weights for the symbols of a call without
        # symbol_values (TFQ's behaviour), or those of a saved layer.
        self._symbol_weight_count = num_symbol_weights
        self._symbol_weight_initializer = None

    @property
    def _estimated(self) -> bool:
        return self._sampled or self.backend == "noisy"

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, *, symbol_names: Any = None, symbol_values: Any = None,
                 operators: Any = None, initializer: Any = None, repetitions: Any = None,
                 **kwargs: Any) -> tf.Tensor:
        if self._estimated and repetitions is None:
            raise ValueError(
                f"{type(self).__name__} with backend={self.backend!r} needs repetitions= "
                f"(the number of {'shots' if self._sampled else 'noise trajectories'})")
        if not self._estimated and repetitions is not None:
            raise ValueError(
                f"repetitions={repetitions!r} is for backend='noisy' (trajectories); "
                "use SampledExpectation for expectations estimated from shots")
        if repetitions is not None and not tf.is_tensor(repetitions) and not isinstance(
                repetitions, (int, np.integer)):
            repetitions = np.asarray(repetitions).tolist()  # JSON-safe when saved
        if repetitions is not None:
            kwargs["repetitions"] = repetitions
        circuits, names, values = _circuit_arguments(
            inputs, symbol_names, symbol_values,
            lambda names: self._weights_for(len(names), initializer))
        # Plain strings keep the recorded call JSON-safe when a functional model is saved.
        operators = tensors.operator_strings(operators)
        if not _symbolic(circuits, values) and isinstance(operators, list):
            operators = tensors.string_tensor(operators) if not operators or isinstance(
                operators[0], str) else tf.constant(operators, tf.string)
        return super().__call__(circuits, symbol_names=names, symbol_values=values,
                                operators=operators, **kwargs)

    def _weights_for(self, count: int, initializer: Any) -> Optional[np.ndarray]:
        """The values of a call without symbol_values: none for no names, else the
        layer's weights (None here; build() creates them and call() reads them)."""
        if count == 0:
            return np.zeros((1, 0), np.float32)
        if not self.built:
            self._symbol_weight_count = count
            self._symbol_weight_initializer = initializer
        elif self._symbol_weight_count != count:
            raise ValueError(
                f"this layer holds {self._symbol_weight_count} symbol weights, but "
                f"symbol_names has {count} names")
        return None

    def build(self, input_shape: Any = None) -> None:
        if self._symbol_weight_count:
            self.symbol_weights = self.add_weight(
                name="symbol_weights", shape=(self._symbol_weight_count,),
                initializer=self._symbol_weight_initializer
                or keras.initializers.RandomUniform(0, 2 * np.pi))

    def get_config(self) -> dict:
        count = 0 if self.symbol_weights is None else int(self.symbol_weights.shape[0])
        return {**super().get_config(), "num_symbol_weights": count}

    def compute_output_spec(self, inputs: Any, symbol_names: Any = None,
                            symbol_values: Any = None, operators: Any = None,
                            repetitions: Any = None) -> keras.KerasTensor:
        return keras.KerasTensor((inputs.shape[0], _operator_count(operators)), "float32")

    def call(self, inputs: tf.Tensor, symbol_names: Any, symbol_values: tf.Tensor,
             operators: Any, repetitions: Any = None) -> tf.Tensor:
        symbol_names = tensors.as_symbol_names(symbol_names)
        if symbol_values is None:  # the layer's own weights, for every circuit
            symbol_values = self.symbol_weights[None, :]
        values = _tiled(symbol_values, inputs)
        operator_tensor = tensors.as_operator_tensor(operators)
        if not self._estimated:
            return ops.expectation(self.executor, self.differentiator, inputs, symbol_names,
                                   values, operator_tensor)
        counts = ops.repetitions_tensor(repetitions, tf.shape(inputs)[0],
                                        tf.shape(operator_tensor)[-1])
        return ops.expectation(self.executor, self.differentiator, inputs, symbol_names,
                               values, operator_tensor, repetitions=counts,
                               sampled=self._sampled, seed=self._draw_seed())


@keras.saving.register_keras_serializable(package="qml")
class SampledExpectation(Expectation):
    """Expectation values estimated from measurement shots, as on hardware.

    Each Pauli term of each operator is measured ``repetitions`` times in its own
    basis. A circuit with noise channels runs one trajectory per shot.

    Args:
        backend: None, ``'noiseless'`` or ``'noisy'`` (qml's default policy: the native
            core, or qsim on wide registers), or ``'qsim'``.
        differentiator: None selects ``ParameterShift``; ``ForwardDifference`` and
            ``CentralDifference`` also work. ``Adjoint`` refuses sampled values.
        seed: seeds the shots; each call draws a fresh seed from it. None follows
            ``tf.random.set_seed``.

    Call arguments:
        As ``Expectation``, plus ``repetitions`` (required): shots per operator, an int
        or ``int [batch, n_ops]``.

    Returns:
        ``[batch, n_ops]`` float32.

    Raises:
        NotACircuitError: if ``inputs`` does not hold circuits.
        CircuitFormatError: for a malformed circuit row.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        ValueError: for ``repetitions`` below 1, or an unknown backend.
        TypeError: for non-integer ``repetitions``.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> SampledExpectation(seed=1)(cirq.Circuit(cirq.X(q)), operators=cirq.Z(q),
        ...                            repetitions=100).numpy()
        array([[-1.]], dtype=float32)
    """

    _sampled = True


@keras.saving.register_keras_serializable(package="qml")
class Sample(_QuantumLayer):
    """Measures every qubit of each circuit ``repetitions`` times.

    Args:
        backend: None or ``'noiseless'``, ``'qsim'``, ``'noisy'`` (circuits with
            noise channels run one trajectory per repetition), or a ``cirq.Sampler``.
        seed: seeds the draws; each call draws a fresh seed from it. None follows
            ``tf.random.set_seed``.

    Call arguments:
        inputs: circuits (a tensor, a circuit, or a list of circuits).
        symbol_names, symbol_values: as ``Expectation``.
        repetitions: an int, the number of samples per circuit.

    Returns:
        A ragged ``int8 [batch, repetitions, n_qubits]``; columns follow each
        circuit's sorted qubits.

    Raises:
        NotACircuitError: if ``inputs`` does not hold circuits.
        CircuitFormatError: for a malformed circuit row.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        MeasurementError: for a gate after a measurement of its qubit.
        ValueError: for ``repetitions`` below 1, or an unknown backend.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit.range(2)
        >>> Sample(seed=1)(cirq.Circuit(cirq.X(q[1]), cirq.I(q[0])), repetitions=2).to_list()
        [[[0, 1], [0, 1]]]
    """

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, *, symbol_names: Any = None, symbol_values: Any = None,
                 repetitions: Any = None, **kwargs: Any) -> tf.RaggedTensor:
        if repetitions is None:
            raise ValueError("Sample needs repetitions=, the number of samples per circuit")
        if isinstance(repetitions, (int, np.integer)) and not isinstance(repetitions, bool):
            if repetitions < 1:
                raise ValueError(f"repetitions must be at least 1, got {repetitions}")
            repetitions = int(repetitions)
        circuits, names, values = _circuit_arguments(inputs, symbol_names, symbol_values)
        return super().__call__(circuits, symbol_names=names, symbol_values=values,
                                repetitions=repetitions, **kwargs)

    def compute_output_spec(self, inputs: Any, symbol_names: Any = None,
                            symbol_values: Any = None, repetitions: Any = None
                            ) -> keras.KerasTensor:
        return keras.KerasTensor((inputs.shape[0], None, None), "int8", ragged=True)

    def call(self, inputs: tf.Tensor, symbol_names: Any, symbol_values: tf.Tensor,
             repetitions: Any) -> tf.RaggedTensor:
        return ops.samples(self.executor, inputs, tensors.as_symbol_names(symbol_names),
                           _tiled(symbol_values, inputs), repetitions, self._draw_seed())


class _TakesCircuits:
    """A layer called with circuits and optional symbol_names and symbol_values."""

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, *, symbol_names: Any = None, symbol_values: Any = None,
                 **kwargs: Any) -> tf.RaggedTensor:
        circuits, names, values = _circuit_arguments(inputs, symbol_names, symbol_values)
        return super().__call__(circuits, symbol_names=names, symbol_values=values, **kwargs)


@keras.saving.register_keras_serializable(package="qml")
class State(_TakesCircuits, _QuantumLayer):
    """The final state vector of each circuit.

    Args:
        backend: None or ``'qsim'``, ``'tensorflow'``, or a ``cirq.SimulatesFinalState``.

    Returns:
        A ragged ``complex64 [batch, 2**n_qubits]``, in Cirq's qubit order; an empty
        circuit gives ``[1]``.

    Raises:
        NotACircuitError: if ``inputs`` does not hold circuits.
        CircuitFormatError: for a malformed circuit row.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        StateTooLargeError: for a state that would not fit in memory.
        ValueError: for an unknown backend.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> state = State()(cirq.Circuit(cirq.X(q)))
        >>> np.round(np.abs(state.to_tensor().numpy()) ** 2, 3)
        array([[0., 1.]], dtype=float32)
    """

    def compute_output_spec(self, inputs: Any, symbol_names: Any = None,
                            symbol_values: Any = None) -> keras.KerasTensor:
        return keras.KerasTensor((inputs.shape[0], None), "complex64", ragged=True)

    def call(self, inputs: tf.Tensor, symbol_names: Any, symbol_values: tf.Tensor
             ) -> tf.RaggedTensor:
        return ops.states(self.executor, inputs, tensors.as_symbol_names(symbol_names),
                          _tiled(symbol_values, inputs))


@keras.saving.register_keras_serializable(package="qml")
class Unitary(_TakesCircuits, keras.layers.Layer):
    """The unitary matrix of each circuit.

    Returns:
        A ragged ``complex64 [batch, 2**n, 2**n]``, in Cirq's qubit order.

    Raises:
        NotACircuitError: if ``inputs`` does not hold circuits.
        CircuitFormatError: for a malformed circuit row.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        BatchSizeError: for inputs whose batch sizes disagree.
        StateTooLargeError: for a matrix that would not fit in memory.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> Unitary()(cirq.Circuit(cirq.X(q))).to_list()
        [[[0j, (1+0j)], [(1+0j), 0j]]]
    """

    def compute_output_spec(self, inputs: Any, symbol_names: Any = None,
                            symbol_values: Any = None) -> keras.KerasTensor:
        return keras.KerasTensor((inputs.shape[0], None, None), "complex64", ragged=True)

    def call(self, inputs: tf.Tensor, symbol_names: Any, symbol_values: tf.Tensor
             ) -> tf.RaggedTensor:
        return ops.unitaries(inputs, tensors.as_symbol_names(symbol_names),
                             _tiled(symbol_values, inputs))


@keras.saving.register_keras_serializable(package="qml")
class AddCircuit(keras.layers.Layer):
    """Appends or prepends a circuit to every circuit of a batch.

    The moments of the added circuit follow (or precede) those of each input circuit.

    Call arguments:
        inputs: a circuit tensor ``tf.string [batch]`` or a list of circuits.
        append: a circuit, or a list or tensor of ``batch`` circuits, to append.
        prepend: likewise, to prepend. Exactly one of append and prepend is given.

    Returns:
        ``tf.string [batch]``.

    Raises:
        NotACircuitError: if ``inputs``, ``append`` or ``prepend`` holds other than
            circuits.
        BatchSizeError: for a list of added circuits of another length.
        ValueError: unless exactly one of ``append`` and ``prepend`` is given.

    Example:
        >>> import cirq
        >>> q = cirq.LineQubit(0)
        >>> out = AddCircuit()([cirq.Circuit(cirq.X(q))], append=cirq.Circuit(cirq.Y(q)))
        >>> serialize.from_tensor(out)[0] == cirq.Circuit(cirq.X(q), cirq.Y(q))
        True
    """

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, *, append: Any = None, prepend: Any = None,
                 **kwargs: Any) -> tf.Tensor:
        if "added" in kwargs:  # a functional model replaying a recorded call
            return super().__call__(inputs, **kwargs)
        if (append is None) == (prepend is None):
            raise ValueError("AddCircuit takes exactly one of append= and prepend=")
        circuits = tensors.as_circuit_tensor(inputs)
        added = append if append is not None else prepend
        if isinstance(added, cirq.AbstractCircuit):
            added = [added]
        if isinstance(added, (list, tuple)) and all(
                isinstance(c, cirq.AbstractCircuit) for c in added):
            # Plain strings keep the recorded call JSON-safe when a model is saved.
            added = [serialize.serialize_circuit(c).decode() for c in added]
        else:
            added = tensors.as_circuit_tensor(added, "append" if append is not None else "prepend")
        return super().__call__(circuits, added=added, added_first=prepend is not None,
                                **kwargs)

    def call(self, inputs: tf.Tensor, added: tf.Tensor, added_first: bool) -> tf.Tensor:
        batch = tf.shape(inputs)[0]
        added = tf.convert_to_tensor(added, tf.string)
        added = tf.cond(tf.shape(added)[0] == 1, lambda: tf.tile(added, [batch]),
                        lambda: added)

        return ops.join_circuits(inputs, added, added_first=added_first,
                                 argument="prepend" if added_first else "append")

    def compute_output_spec(self, inputs: Any, **kwargs: Any) -> keras.KerasTensor:
        return keras.KerasTensor(inputs.shape, dtype="string")
