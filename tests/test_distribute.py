"""Quantum layers under tf.distribute.MirroredStrategy, on two logical CPU devices."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

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


@pytest.mark.slow
def test_pqc_trains_under_mirrored_strategy():
    # Logical devices must be set before TensorFlow starts: use a fresh interpreter.
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2"
    first, last = map(float, lines["loss"].split())
    assert last < 0.01 < first


# The data and model that the fit tests train, one device or several alike.
MODEL = textwrap.dedent("""
    qubits = cirq.GridQubit.rect(1, 3)
    rng = np.random.default_rng(0)
    data = [cirq.Circuit(cirq.rx(float(a))(q) for a, q in zip(rng.uniform(0, 3, 3), qubits))
            for _ in range(32)]
    labels = rng.choice([-1.0, 1.0], (32, 1)).astype(np.float32)
    symbols = sympy.symbols("s0:6")
    model_circuit = cirq.Circuit(
        [cirq.ry(s)(q) for s, q in zip(symbols[:3], qubits)],
        [cirq.CZ(a, b) for a, b in zip(qubits, qubits[1:])],
        [cirq.rx(s)(q) for s, q in zip(symbols[3:], qubits)])

    def build_model(strategy):
        with strategy.scope():
            inputs = keras.Input(shape=(), dtype="string")
            pqc = qml.layers.PQC(model_circuit, [cirq.Z(q) for q in qubits],
                                 initializer=keras.initializers.Constant(0.4))(inputs)
            outputs = keras.layers.Dense(
                1, kernel_initializer=keras.initializers.Constant(0.5))(pqc)
            model = keras.Model(inputs, outputs)
            model.compile(keras.optimizers.SGD(0.2), "mse")
        return model
""")


FIT_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import cirq, keras, numpy as np, sympy, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import qml
""") + MODEL + textwrap.dedent("""
    def train(strategy):
        model = build_model(strategy)
        history = model.fit(qml.convert_to_tensor(data), labels, batch_size=8, epochs=4,
                            shuffle=False, verbose=0)
        loss = model.evaluate(qml.convert_to_tensor(data), labels, batch_size=8, verbose=0)
        predictions = model.predict(qml.convert_to_tensor(data[:8]), batch_size=4, verbose=0)
        return model.get_weights(), history.history["loss"], loss, predictions

    single = train(tf.distribute.get_strategy())
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored = train(mirrored_strategy)
    print("replicas", mirrored_strategy.num_replicas_in_sync)
    for a, b in zip(single[0], mirrored[0]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(single[1], mirrored[1], atol=1e-5)
    np.testing.assert_allclose(single[2], mirrored[2], atol=1e-5)
    np.testing.assert_allclose(single[3], mirrored[3], atol=1e-5)
    print("losses", " ".join(f"{value:.5f}" for value in mirrored[1]))
""")


@pytest.mark.slow
def test_fit_under_mirrored_strategy_equals_single_device_training():
    result = subprocess.run([sys.executable, "-c", FIT_SCRIPT], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2"
    losses = [float(v) for v in lines["losses"].split()]
    assert losses[-1] < losses[0]


WORKER_SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import cirq, keras, numpy as np, sympy, tensorflow as tf
    import qml

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if "TF_CONFIG" in os.environ \\
        else tf.distribute.get_strategy()
""") + MODEL + textwrap.dedent("""
    model = build_model(strategy)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \\
        tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices(
        (qml.convert_to_tensor(data), labels)).batch(8).with_options(options)
    history = model.fit(dataset, epochs=4, verbose=0)
    weights = np.concatenate([w.ravel() for w in model.get_weights()])
    print("RESULT " + json.dumps({"weights": weights.tolist(),
                                  "loss": history.history["loss"]}))
""")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _result(stdout: str, stderr: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stderr[-3000:]
    return json.loads(lines[0][len("RESULT "):])


@pytest.mark.slow
def test_fit_on_two_workers_equals_single_worker_training():
    """Two worker processes on 127.0.0.1, configured by TF_CONFIG, train with
    model.fit under MultiWorkerMirroredStrategy."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    workers = []
    started = time.perf_counter()
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, TF_CONFIG=json.dumps(config))))
    try:
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    elapsed = time.perf_counter() - started
    results = [_result(*output) for output in outputs]
    single = subprocess.run([sys.executable, "-c", WORKER_SCRIPT], capture_output=True,
                            text=True, timeout=300)
    reference = _result(single.stdout, single.stderr)
    gap = max(np.abs(np.array(r["weights"]) - reference["weights"]).max() for r in results)
    print(f"two workers: {elapsed:.1f} s; largest weight difference from one worker: "
          f"{gap:.2e}")
    np.testing.assert_array_equal(results[0]["weights"], results[1]["weights"])
    assert gap < 1e-5
    np.testing.assert_allclose(results[0]["loss"], reference["loss"], atol=1e-5)
    assert reference["loss"][-1] < reference["loss"][0]
