"""Quantum layers under tf.distribute.MirroredStrategy, on two logical CPU devices."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import cirq, keras, numpy as np, sympy, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import qml

    q = cirq.GridQubit(0, 0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        layer = qml.layers.PQC(
            cirq.Circuit(cirq.ry(sympy.Symbol("t"))(q)), cirq.Z(q),
            differentiator=qml.differentiators.CentralDifference(),
            initializer=keras.initializers.Constant(0.3))
        inputs = keras.Input(shape=(), dtype="string")
        model = keras.Model(inputs, layer(inputs))
        optimizer = keras.optimizers.Adam(0.1)
        optimizer.build(model.trainable_variables)

    data = tf.data.Dataset.from_tensor_slices(
        (qml.convert_to_tensor([cirq.Circuit()] * 16), -np.ones((16, 1), np.float32)))
    batches = strategy.experimental_distribute_dataset(data.batch(8))

    @tf.function
    def train_step(circuits, targets):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((model(circuits) - targets) ** 2) / 8.0
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = []
    for epoch in range(30):
        total = 0.0
        for circuits, targets in batches:
            per_replica = strategy.run(train_step, args=(circuits, targets))
            total += float(strategy.reduce("SUM", per_replica, axis=None))
        losses.append(total)
    print("replicas", strategy.num_replicas_in_sync)
    print("loss", losses[0], losses[-1])
""")


def test_pqc_trains_under_mirrored_strategy():
    # Logical devices must be set before TensorFlow starts: use a fresh interpreter.
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2"
    first, last = map(float, lines["loss"].split())
    assert last < 0.01 < first
