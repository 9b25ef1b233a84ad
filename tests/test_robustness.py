"""Holding up: seeded randomness repeats across processes, concurrent calls from
many threads equal sequential ones, and memory stays flat over a long training run."""

import subprocess
import sys
import textwrap
import threading

import cirq
import numpy as np
import pytest
import tensorflow as tf
from conftest import NAMES, random_circuit, random_values

import qml


SEEDED_SCRIPT = textwrap.dedent("""
    import hashlib, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import cirq, numpy as np, sympy, tensorflow as tf, qml
    q = cirq.GridQubit.rect(1, 3)
    a = sympy.Symbol("a")
    circuit = cirq.Circuit(cirq.H.on_each(q), cirq.rx(a)(q[0]), cirq.CNOT(q[0], q[1]),
                           cirq.ry(0.4)(q[2]))
    noisy = circuit + cirq.Circuit(cirq.depolarize(0.05).on_each(q),
                                   cirq.amplitude_damp(0.1)(q[1]))
    values = np.array([[0.3], [1.1]], np.float32)
    ops = [[cirq.Z(q[0]) * cirq.Z(q[1]), cirq.X(q[2])]] * 2
    outputs = [
        qml.layers.Sample(seed=7)([circuit] * 2, symbol_names=["a"], symbol_values=values,
                                  repetitions=64).to_tensor(),
        qml.layers.SampledExpectation(seed=7)([circuit] * 2, symbol_names=["a"],
                                              symbol_values=values, operators=ops[0],
                                              repetitions=100),
        qml.noise.expectation([noisy] * 2, ["a"], values, ops, [[50, 50]] * 2, seed=7),
        qml.noise.sampled_expectation([noisy] * 2, ["a"], values, ops, [[50, 50]] * 2,
                                      seed=7),
        qml.noise.samples([noisy] * 2, ["a"], values, 32, seed=7).to_tensor(),
    ]
    print("DIGEST", hashlib.sha256(b"".join(np.asarray(o).tobytes()
                                           for o in outputs)).hexdigest())
""")


@pytest.mark.slow
@pytest.mark.stack_independent  # the core's seeding, whatever the framework
def test_seeded_sampling_and_noise_are_bit_identical_across_processes():
    digests = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", SEEDED_SCRIPT], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        digests.append(next(line for line in result.stdout.splitlines()
                            if line.startswith("DIGEST")))
    assert digests[0] == digests[1]


@pytest.mark.slow
def test_eight_threads_calling_layers_concurrently_match_sequential_calls(rng):
    qubits = cirq.GridQubit.rect(1, 4)
    layers = [qml.layers.Expectation(), qml.layers.Expectation(backend="qsim"),
              qml.layers.Expectation(backend="tensorflow")]
    jobs = []
    for index in range(8):
        circuits = [random_circuit(qubits, 12, rng) for _ in range(3)]
        values = random_values(rng, 3)
        operators = [cirq.Z(qubits[0]), cirq.X(qubits[1]) * cirq.Y(qubits[3])]
        jobs.append((layers[index % 3] if index < 6 else layers[0], circuits, values,
                     operators))

    def run(job):
        layer, circuits, values, operators = job
        variable = tf.Variable(values)
        with tf.GradientTape() as tape:
            out = layer(circuits, symbol_names=NAMES, symbol_values=variable,
                        operators=operators)
        return out.numpy(), tape.gradient(out, variable).numpy()

    sequential = [run(job) for job in jobs]
    concurrent: list = [None] * len(jobs)
    errors = []

    def worker(index):
        try:
            for _ in range(3):  # repeat, so calls overlap
                concurrent[index] = run(jobs[index])
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for (value, grad), (c_value, c_grad) in zip(sequential, concurrent):
        np.testing.assert_allclose(c_value, value, atol=1e-6)
        np.testing.assert_allclose(c_grad, grad, atol=1e-5)


SOAK_SCRIPT = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import cirq, keras, numpy as np, sympy, tensorflow as tf, qml

    def resident_mib():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    q = cirq.GridQubit.rect(1, 2)
    s = sympy.symbols("s0:4")
    model_circuit = cirq.Circuit(cirq.ry(s[0])(q[0]), cirq.ry(s[1])(q[1]), cirq.CZ(*q),
                                 cirq.rx(s[2])(q[0]), cirq.rx(s[3])(q[1]))
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, qml.layers.PQC(model_circuit, cirq.Z(q[0]))(inputs))
    optimizer = keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(0)
    data = qml.convert_to_tensor([cirq.Circuit(cirq.rx(float(a))(q[0]))
                                  for a in rng.uniform(0, 3, 64)])
    labels = tf.constant(rng.choice([-1.0, 1.0], (64, 1)), tf.float32)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    readings = []
    for index in range(10000):
        rows = (index * 8) % 64
        step(data[rows:rows + 8], labels[rows:rows + 8])
        if index % 1000 == 999:
            readings.append(resident_mib())
    print("RSS", " ".join(f"{r:.1f}" for r in readings))
""")


@pytest.mark.slow
def test_ten_thousand_training_steps_keep_memory_flat():
    result = subprocess.run([sys.executable, "-c", SOAK_SCRIPT], capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    readings = [float(v) for v in next(line for line in result.stdout.splitlines()
                                       if line.startswith("RSS")).split()[1:]]
    growth = readings[-1] - readings[1]  # after the first 2000 steps of warm-up
    print(f"resident MiB every 1000 steps: {readings}; growth after warm-up "
          f"{growth:.1f} MiB")
    assert growth < 32, readings
