"""High-level layers with TFQ's signatures: ``PQC``, ``ControlledPQC``, ``NoisyPQC``
and ``NoisyControlledPQC``.

Both hold a model circuit and operators. Symbols are ordered by name, as in TFQ, so a
TFQ model's weights carry over. Model circuits and operators are stored in the layer
config in qml's circuit format and parsed without evaluating code.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

import qml.tensors as tensors
from qml.circuits import serialize
from qml.differentiators import Differentiator
from qml.errors import NotACircuitError
import qml.ops as ops
from qml.layers.circuit_executors import _QuantumLayer
from qml.util import get_circuit_symbols

Operators = Union[cirq.PauliSum, cirq.PauliString, Sequence[Union[cirq.PauliSum, cirq.PauliString]]]


class _ModelCircuitLayer(_QuantumLayer):
    """Shared storage of the model circuit and operators, with their config."""

    # With repetitions: estimate from shots (True) or average noise trajectories.
    _sample_based = True

    def __init__(self, model_circuit: Union[cirq.Circuit, str], operators: Union[Operators, list],
                 *, repetitions: Optional[int] = None, backend: Any = None,
                 differentiator: Optional[Differentiator] = None, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(backend=backend, differentiator=differentiator, seed=seed, **kwargs)
        if isinstance(model_circuit, str):  # from a saved config
            model_circuit = serialize.deserialize_circuit(model_circuit.encode())
        if not isinstance(model_circuit, cirq.AbstractCircuit):
            raise NotACircuitError(
                f"model_circuit must be a cirq.Circuit, got {type(model_circuit).__name__}"
            )
        self.model_circuit = cirq.Circuit(model_circuit)
        self._symbols_list = sorted(get_circuit_symbols(self.model_circuit))
        if not self._symbols_list:
            raise ValueError(
                "model_circuit has no symbols; give it a parameterized circuit so that "
                "the layer has something to learn"
            )
        self._model_row = serialize.serialize_circuit(self.model_circuit)
        self._operator_rows = _operator_rows(operators)
        if repetitions is not None and (
                isinstance(repetitions, bool) or not isinstance(repetitions, (int, np.integer))
                or repetitions < 1):
            raise ValueError(f"repetitions must be None or an int >= 1, got {repetitions!r}")
        self.repetitions = None if repetitions is None else int(repetitions)

    @property
    def symbols(self) -> list[sympy.Symbol]:
        """The symbols this layer manages, in the order of its weights."""
        return [sympy.Symbol(name) for name in self._symbols_list]

    def _expectation(self, circuits: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
        batch = circuits.shape[0] if circuits.shape[0] is not None else tf.shape(circuits)[0]
        operators = tensors.string_tensor(self._operator_rows)  # one row for every circuit
        model = tf.fill(tf.reshape(batch, [1]), tf.constant(self._model_row))
        names = tensors.string_tensor(self._symbols_list)
        if self.repetitions is None:
            return ops.expectation(self.executor, self.differentiator, circuits, names,
                                   values, operators, appended=model)
        counts = ops.repetitions_tensor(self.repetitions, batch, len(self._operator_rows))
        return ops.expectation(self.executor, self.differentiator, circuits, names, values,
                               operators, appended=model, repetitions=counts,
                               sampled=self._sample_based, seed=self._draw_seed())

    def compute_output_shape(self, input_shape: Any) -> tuple:
        circuits = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return (circuits[0], len(self._operator_rows))

    def compute_output_spec(self, inputs: Any) -> keras.KerasTensor:
        circuits = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return keras.KerasTensor((circuits.shape[0], len(self._operator_rows)), "float32")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "model_circuit": self._model_row.decode(),
            "operators": [row.decode() for row in self._operator_rows],
            "repetitions": self.repetitions,
        }


def _operator_rows(operators: Any) -> list[bytes]:
    if isinstance(operators, (cirq.PauliSum, cirq.PauliString)):
        operators = [operators]
    if not isinstance(operators, (list, tuple)) or not operators:
        raise TypeError(
            f"operators must be a PauliSum or a non-empty list of them, got {operators!r:.80}"
        )
    rows = []
    for op in operators:
        if isinstance(op, str):  # from a saved config
            row = op.encode()
            serialize.deserialize_paulisum(row)
        else:
            row = serialize.convert_to_tensor([op]).numpy()[0]
        rows.append(row)
    return rows


@keras.saving.register_keras_serializable(package="qml")
class PQC(_ModelCircuitLayer):
    """A parameterized quantum circuit whose parameters are the layer's weights.

    Each input circuit is followed by ``model_circuit``; the layer returns the
    expectation of ``operators`` on the result.

    Args:
        model_circuit: a ``cirq.Circuit`` with symbols; its symbols, sorted by name,
            are the weights.
        operators: a PauliSum or a list of them.
        repetitions: None for exact expectations; an int for expectations estimated
            from that many shots per operator (then ``ParameterShift`` is the default
            differentiator).
        backend: None, ``'qsim'``, ``'tensorflow'`` or a ``cirq.SimulatesExpectationValues``.
        differentiator: a ``qml.differentiators.Differentiator``.
        initializer: for the weights, as in Keras.
        regularizer: for the weights, as in Keras.
        constraint: for the weights, as in Keras.
        **kwargs: ``seed`` (seeds the shots; None follows ``tf.random.set_seed``) and
            Keras layer arguments.

    Input shape:
        ``tf.string [batch]`` circuits (use empty circuits for none).

    Returns:
        ``[batch, n_ops]`` float32.

    Raises:
        NotACircuitError: if ``model_circuit`` is not a circuit, or ``operators`` not
            Pauli sums.
        UnsupportedGateError: for a gate qml cannot simulate.
        ValueError: for ``repetitions`` below 1, or an unknown backend.
        TypeError: for a ``differentiator`` or ``backend`` of the wrong type.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> layer = PQC(cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q)), cirq.Z(q))
        >>> layer([cirq.Circuit()]).shape
        TensorShape([1, 1])
    """

    def __init__(self, model_circuit: Union[cirq.Circuit, str], operators: Any, *,
                 repetitions: Optional[int] = None, backend: Any = None,
                 differentiator: Optional[Differentiator] = None,
                 initializer: Any = None, regularizer: Any = None, constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(model_circuit, operators, repetitions=repetitions, backend=backend,
                         differentiator=differentiator, **kwargs)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomUniform(0, 2 * np.pi))
        self.regularizer = keras.regularizers.get(regularizer)
        self.constraint = keras.constraints.get(constraint)

    def build(self, input_shape: Any) -> None:
        self.parameters = self.add_weight(
            name="parameters", shape=(len(self._symbols_list),),
            initializer=self.initializer, regularizer=self.regularizer,
            constraint=self.constraint,
        )

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, **kwargs: Any) -> tf.Tensor:
        return super().__call__(tensors.as_circuit_tensor(inputs), **kwargs)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        batch = tf.shape(inputs)[0]
        values = tf.tile(self.parameters[None, :], tf.stack([batch, 1]))
        return self._expectation(inputs, values)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initializer": keras.initializers.serialize(self.initializer),
            "regularizer": keras.regularizers.serialize(self.regularizer),
            "constraint": keras.constraints.serialize(self.constraint),
        }


@keras.saving.register_keras_serializable(package="qml")
class ControlledPQC(_ModelCircuitLayer):
    """A parameterized quantum circuit whose parameters come from another layer.

    Args:
        model_circuit: a ``cirq.Circuit`` with symbols, ordered by name.
        operators: a PauliSum or a list of them.
        repetitions: None for exact expectations; an int for expectations estimated
            from that many shots per operator.
        backend: None, ``'qsim'``, ``'tensorflow'`` or a ``cirq.SimulatesExpectationValues``.
        differentiator: a ``qml.differentiators.Differentiator``.
        seed: seeds the shots; None follows ``tf.random.set_seed``.

    Input shape:
        ``[circuits, symbol_values]``: ``tf.string [batch]`` and
        ``float32 [batch, n_symbols]``.

    Returns:
        ``[batch, n_ops]`` float32.

    Raises:
        NotACircuitError: if ``model_circuit`` is not a circuit, or ``operators`` not
            Pauli sums.
        UnsupportedGateError: for a gate qml cannot simulate.
        ValueError: for ``repetitions`` below 1, or an unknown backend.
        TypeError: for a ``differentiator`` or ``backend`` of the wrong type.
        BatchSizeError: when a call's values do not have a row per circuit.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> layer = ControlledPQC(cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q)), cirq.Z(q))
        >>> layer([[cirq.Circuit()], np.array([[np.pi]])]).numpy().round(3)
        array([[-1.]], dtype=float32)
    """

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, **kwargs: Any) -> tf.Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "ControlledPQC takes inputs [circuits, symbol_values], got "
                f"{type(inputs).__name__}"
            )
        circuits = tensors.as_circuit_tensor(inputs[0], "inputs[0]")
        values = inputs[1]
        if not isinstance(values, keras.KerasTensor):
            values = tensors.as_symbol_values(values)
        return super().__call__([circuits, values], **kwargs)

    def call(self, inputs: list) -> tf.Tensor:
        circuits, values = inputs
        width = len(self._symbols_list)
        if values.shape.rank != 2 or values.shape[-1] not in (None, width):
            raise ValueError(
                f"symbol_values must have shape [batch, {width}] for symbols "
                f"{self._symbols_list}, got {values.shape}"
            )
        return self._expectation(circuits, tf.cast(values, tf.float32))


def _noisy_arguments(layer: str, repetitions: Any, sample_based: Any) -> None:
    if repetitions is None:
        raise ValueError(f"{layer} needs repetitions=: noise trajectories (or shots, with "
                         "sample_based=True) per operator")
    if not isinstance(sample_based, bool):
        raise ValueError(
            f"{layer} needs sample_based=True (expectations from measured shots, one "
            "trajectory each) or False (exact expectations averaged over trajectories), "
            f"got {sample_based!r}")


class _NoisyLayer:
    """Fixes the backend to ``'noisy'`` and keeps ``sample_based`` in the config."""

    def __init__(self, model_circuit: Union[cirq.Circuit, str], operators: Any, *,
                 repetitions: Optional[int] = None, sample_based: Optional[bool] = None,
                 differentiator: Optional[Differentiator] = None, **kwargs: Any) -> None:
        _noisy_arguments(type(self).__name__, repetitions, sample_based)
        self._sample_based = sample_based
        super().__init__(model_circuit, operators, repetitions=repetitions, backend="noisy",
                         differentiator=differentiator, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["backend"]
        return {**config, "sample_based": self._sample_based}


@keras.saving.register_keras_serializable(package="qml")
class NoisyPQC(_NoisyLayer, PQC):
    """A ``PQC`` whose model circuit may hold noise channels, simulated as trajectories.

    Args:
        model_circuit: a ``cirq.Circuit`` with symbols and noise channels.
        operators: a PauliSum or a list of them.
        repetitions: required; noise trajectories per operator, or shots with
            ``sample_based=True``.
        sample_based: required; True for expectations from measured shots (one
            trajectory per shot), False for exact expectations averaged over
            ``repetitions`` trajectories.
        differentiator: None selects ``ParameterShift``; ``ForwardDifference`` and
            ``CentralDifference`` also work.
        initializer: for the weights, as ``PQC``.
        regularizer: for the weights, as ``PQC``.
        constraint: for the weights, as ``PQC``.
        **kwargs: ``seed`` and Keras layer arguments.

    Returns:
        ``[batch, n_ops]`` float32: the averaged (or sampled) expectations.

    Raises:
        ValueError: without ``repetitions`` or ``sample_based``, or with
            ``repetitions`` below 1.
        NotACircuitError: if ``model_circuit`` is not a circuit.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q), cirq.depolarize(0.01)(q))
        >>> NoisyPQC(circuit, cirq.Z(q), repetitions=100, sample_based=False)(
        ...     [cirq.Circuit()]).shape
        TensorShape([1, 1])
    """

    def __init__(self, model_circuit: Union[cirq.Circuit, str], operators: Any, *,
                 repetitions: Optional[int] = None, sample_based: Optional[bool] = None,
                 differentiator: Optional[Differentiator] = None,
                 initializer: Any = None, regularizer: Any = None, constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(model_circuit, operators, repetitions=repetitions,
                         sample_based=sample_based, differentiator=differentiator,
                         initializer=initializer, regularizer=regularizer,
                         constraint=constraint, **kwargs)


@keras.saving.register_keras_serializable(package="qml")
class NoisyControlledPQC(_NoisyLayer, ControlledPQC):
    """A ``ControlledPQC`` whose model circuit may hold noise channels.

    Args:
        model_circuit: a ``cirq.Circuit`` with symbols and noise channels.
        operators: a PauliSum or a list of them.
        repetitions: required; as ``NoisyPQC``.
        sample_based: required; as ``NoisyPQC``.
        differentiator: None selects ``ParameterShift``.
        **kwargs: ``seed`` and Keras layer arguments.

    Returns:
        ``[batch, n_ops]`` float32.

    Raises:
        ValueError: without ``repetitions`` or ``sample_based``, or with
            ``repetitions`` below 1.
        NotACircuitError: if ``model_circuit`` is not a circuit.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q), cirq.bit_flip(0.01)(q))
        >>> layer = NoisyControlledPQC(circuit, cirq.Z(q), repetitions=10, sample_based=True)
        >>> layer([[cirq.Circuit()], np.array([[0.0]])]).shape
        TensorShape([1, 1])
    """
