"""Two fixes, applied on import, that let ``model.fit`` train on circuits under
``tf.distribute`` strategies of several replicas or workers.

Keras 3's TensorFlow trainer builds a model from its first input batch before it
trains, evaluates or predicts. Under a distribution strategy that batch arrives as
one value per replica, and the trainer averages them, ``strategy.reduce("MEAN")``,
only to learn the batch's shapes and dtypes (``TensorFlowTrainer._maybe_symbolic_build``).
A ``tf.string`` batch of circuits cannot be averaged: TensorFlow's ``AddN`` has no
string kernel, and ``fit`` fails before its first step. qml wraps that method so
that string values are taken from the first replica instead, while numeric values are
still averaged, and hands the batch to Keras as an already local one. Training
itself is unchanged: each replica runs its own share of every batch.

Under ``MultiWorkerMirroredStrategy`` the trainer then averages each step's logs
(the loss and metrics, scalars) with ``strategy.reduce("MEAN", value, axis=0)``,
which has no axis 0 to reduce, so multi-worker ``fit`` fails for every Keras 3
model (keras-team/keras#20585). qml reduces scalar logs over workers with
``axis=None`` and leaves every other value to Keras.

The wrappers are installed only where Keras has the functions they expect; the test
suite checks ``fit`` under ``MirroredStrategy`` and, on two local worker processes,
``MultiWorkerMirroredStrategy``, on both pinned stacks.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

try:  # pragma: no cover - the module path is Keras 3's
    from keras.src.backend.tensorflow import trainer as _trainer
except ImportError:  # pragma: no cover
    _trainer = None


def local_batch(strategy: tf.distribute.Strategy, batch: Any) -> Any:
    """``batch`` with each per-replica value made local: strings from the first
    replica, numbers averaged as Keras averages them.

    Example:
        >>> strategy = tf.distribute.get_strategy()
        >>> local_batch(strategy, {"x": tf.constant([b"a"])})["x"].numpy()
        array([b'a'], dtype=object)
    """
    def local(value: Any) -> Any:
        if not isinstance(value, tf.distribute.DistributedValues):
            return value
        first = strategy.experimental_local_results(value)[0]
        if first.dtype == tf.string:
            return first
        return strategy.reduce("MEAN", value, axis=None)

    return tf.nest.map_structure(local, batch)


def _install() -> None:
    trainer_class = getattr(_trainer, "TensorFlowTrainer", None)
    if trainer_class is None or not hasattr(trainer_class, "_maybe_symbolic_build") \
            or not hasattr(_trainer, "reduce_per_replica"):
        return  # pragma: no cover - another Keras; fit then behaves as Keras does
    if getattr(trainer_class._maybe_symbolic_build, "_qml_wrapped", False):
        return
    original_build = trainer_class._maybe_symbolic_build
    original_reduce = _trainer.reduce_per_replica

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and strategy is not None:
            for _, _, batches in iterator:
                data_batch = local_batch(strategy, next(batches))
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("mean", "auto") or not isinstance(
                strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original_reduce(values, strategy, reduction)

        def reduce(value):
            first = strategy.experimental_local_results(value)[0] \
                if isinstance(value, tf.distribute.DistributedValues) else value
            if getattr(first, "shape", None) is not None and first.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original_reduce(value, strategy, reduction)

        return tf.nest.map_structure(reduce, values)

    maybe_symbolic_build._qml_wrapped = True
    trainer_class._maybe_symbolic_build = maybe_symbolic_build
    _trainer.reduce_per_replica = reduce_per_replica


_install()
