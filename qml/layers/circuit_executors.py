"""Circuit-executor layers: ``Expectation`` and ``AddCircuit``, with TFQ's signatures."""

from __future__ import annotations

from typing import Any, Optional

import cirq
import keras
import numpy as np
import tensorflow as tf

import qml.differentiators as differentiators_module
from qml.circuits import serialize
from qml.differentiators import Differentiator
from qml.executors import Executor, get_executor
from qml.layers import ops


class _QuantumLayer(keras.layers.Layer):
    """Shared handling of ``backend`` and ``differentiator``, and their config."""

    def __init__(self, backend: Any = None, differentiator: Optional[Differentiator] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if differentiator is not None and not isinstance(differentiator, Differentiator):
            differentiator = deserialize_differentiator(differentiator)
        self.backend = backend
        self.executor: Executor = get_executor(backend)
        self.differentiator = differentiator

    def get_config(self) -> dict:
        if self.backend is not None and not isinstance(self.backend, str):
            raise ValueError(
                f"a layer with backend={self.backend!r} cannot be saved; only "
                "backend=None, 'qsim' or 'tensorflow' can be stored in a model file"
            )
        return {
            **super().get_config(),
            "backend": self.backend,
            "differentiator": serialize_differentiator(self.differentiator),
        }


def serialize_differentiator(differentiator: Optional[Differentiator]) -> Optional[dict]:
    if differentiator is None:
        return None
    return {"class_name": type(differentiator).__name__, "config": differentiator.get_config()}


def deserialize_differentiator(config: Any) -> Differentiator:
    """Rebuilds a differentiator from its config, looked up by name among qml's."""
    if not isinstance(config, dict) or config.get("class_name") not in \
            differentiators_module.__all__:
        raise TypeError(
            f"differentiator must be a qml.differentiators.Differentiator, got {config!r}"
        )
    cls = getattr(differentiators_module, config["class_name"])
    return cls(**config.get("config", {}))


@keras.saving.register_keras_serializable(package="qml")
class Expectation(_QuantumLayer):
    """Computes expectation values of operators on parameterized circuits.

    Args:
        backend: None (qml's default policy: qsim, or the TensorFlow executor for large
            batches of one structure on up to 14 qubits), ``'qsim'``, ``'tensorflow'``,
            or any ``cirq.SimulatesExpectationValues``.
        differentiator: a ``qml.differentiators.Differentiator``; None selects
            ``Adjoint``.

    Call arguments:
        inputs: a circuit tensor ``tf.string [batch]``, a ``cirq.Circuit`` (tiled to
            the batch of ``symbol_values``) or a list of circuits.
        symbol_names: names (or ``sympy.Symbol`` s) of the columns of symbol_values.
        symbol_values: ``float32 [batch, n_symbols]``. If None and symbol_names is
            given, the layer creates trainable weights with ``initializer``, as TFQ.
        operators: a PauliSum, a list of them (the same for every row), or a tensor
            ``tf.string [batch, n_ops]``.
        initializer: initializer of those weights.

    Output shape:
        ``[batch, n_ops]`` float32. An empty circuit gives -2 and an empty operator
        gives 0, as in TFQ.

    Example:
        >>> import cirq, sympy
        >>> q = cirq.GridQubit(0, 0)
        >>> layer = Expectation()
        >>> layer(cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q)), symbol_names=["a"],
        ...       symbol_values=[[np.pi]], operators=cirq.Z(q)).numpy().round(3)
        array([[-1.]], dtype=float32)
    """

    def __init__(self, backend: Any = None, differentiator: Optional[Differentiator] = None,
                 num_symbol_weights: int = 0, **kwargs: Any) -> None:
        super().__init__(backend=backend, differentiator=differentiator, **kwargs)
        self.symbol_weights = None
        if num_symbol_weights:  # a saved layer that had created its weights
            self._create_symbol_weights(num_symbol_weights, None)

    @tf.autograph.experimental.do_not_convert  # argument handling, not graph code
    def __call__(self, inputs: Any, *, symbol_names: Any = None, symbol_values: Any = None,
                 operators: Any = None, initializer: Any = None, **kwargs: Any) -> tf.Tensor:
        tile_single = isinstance(inputs, cirq.AbstractCircuit)
        circuits = ops.as_circuit_tensor(inputs)
        names = symbol_names if tf.is_tensor(symbol_names) else ops.symbol_list(symbol_names)
        if symbol_values is None:
            symbol_values = self._weights_for(len(names), initializer)
        values = symbol_values
        if not isinstance(values, keras.KerasTensor):
            values = ops.as_symbol_values(values)
        if tile_single:
            circuits = tf.tile(circuits, tf.shape(values)[:1])
        # Plain strings keep the recorded call JSON-safe when a functional model is saved.
        return super().__call__(circuits, symbol_names=names, symbol_values=values,
                                operators=ops.operator_strings(operators), **kwargs)

    def _weights_for(self, count: int, initializer: Any) -> Any:
        if count == 0:
            return np.zeros((1, 0), np.float32)
        if self.symbol_weights is None:
            self._create_symbol_weights(count, initializer)
        elif self.symbol_weights.shape[0] != count:
            raise ValueError(
                f"this layer holds {self.symbol_weights.shape[0]} symbol weights, but "
                f"symbol_names has {count} names"
            )
        return self.symbol_weights[None, :]

    def _create_symbol_weights(self, count: int, initializer: Any) -> None:
        self.symbol_weights = self.add_weight(
            name="symbol_weights", shape=(count,),
            initializer=initializer or keras.initializers.RandomUniform(0, 2 * np.pi),
        )

    def get_config(self) -> dict:
        count = 0 if self.symbol_weights is None else int(self.symbol_weights.shape[0])
        return {**super().get_config(), "num_symbol_weights": count}

    def call(self, inputs: tf.Tensor, symbol_names: Any, symbol_values: tf.Tensor,
             operators: Any) -> tf.Tensor:
        batch = tf.shape(inputs)[0]
        symbol_names = ops.as_symbol_names(symbol_names)
        values = symbol_values
        if values.shape.rank == 2 and values.shape[0] == 1:
            values = tf.tile(values, tf.stack([batch, 1]))
        operator_tensor = ops.as_operator_tensor(operators, batch)
        return ops.expectation(self.executor, self.differentiator, inputs, symbol_names,
                               values, operator_tensor)


@keras.saving.register_keras_serializable(package="qml")
class AddCircuit(keras.layers.Layer):
    """Appends or prepends a circuit to every circuit of a batch.

    The moments of the added circuit follow (or precede) those of each input circuit.

    Call arguments:
        inputs: a circuit tensor ``tf.string [batch]`` or a list of circuits.
        append: a circuit, or a list or tensor of ``batch`` circuits, to append.
        prepend: likewise, to prepend. Exactly one of append and prepend is given.

    Output shape:
        ``tf.string [batch]``.

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
        circuits = ops.as_circuit_tensor(inputs)
        added = append if append is not None else prepend
        if isinstance(added, cirq.AbstractCircuit):
            added = [added]
        if isinstance(added, (list, tuple)) and all(
                isinstance(c, cirq.AbstractCircuit) for c in added):
            # Plain strings keep the recorded call JSON-safe when a model is saved.
            added = [serialize.serialize_circuit(c).decode() for c in added]
        else:
            added = ops.as_circuit_tensor(added, "append" if append is not None else "prepend")
        return super().__call__(circuits, added=added, added_first=prepend is not None,
                                **kwargs)

    def call(self, inputs: tf.Tensor, added: tf.Tensor, added_first: bool) -> tf.Tensor:
        batch = tf.shape(inputs)[0]
        added = tf.convert_to_tensor(added, tf.string)
        added = tf.cond(tf.shape(added)[0] == 1, lambda: tf.tile(added, [batch]),
                        lambda: added)

        def join(rows: np.ndarray, extra: np.ndarray) -> np.ndarray:
            if len(rows) != len(extra):
                raise ValueError(
                    f"{'prepend' if added_first else 'append'} has {len(extra)} circuits "
                    f"for {len(rows)} inputs"
                )
            pairs = zip(extra, rows) if added_first else zip(rows, extra)
            return np.array([serialize.join_rows(a, b) for a, b in pairs], dtype=object)

        if tf.executing_eagerly():
            return tf.constant(join(inputs.numpy(), added.numpy()), tf.string)
        out = tf.numpy_function(join, [inputs, added], tf.string, stateful=False)
        out.set_shape(inputs.shape)
        return out

    def compute_output_spec(self, inputs: Any, **kwargs: Any) -> keras.KerasTensor:
        return keras.KerasTensor(inputs.shape, dtype="string")
