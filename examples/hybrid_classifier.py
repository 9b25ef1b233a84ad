"""Trains a small hybrid quantum-classical classifier and prints its accuracy.

The task is generated: points in the square [-1, 1]^2, labelled by whether they lie
inside a circle. Each point is encoded into a 2-qubit data circuit by rotations; a
Dense layer turns the point into the angles of a parameterized model circuit
(``ControlledPQC``), whose Z expectations feed a Dense classifier. Gradients through
the quantum layer are exact, from the adjoint method.

Run it with ``bash scripts/example.sh`` (or ``python examples/hybrid_classifier.py``
in a stack's environment). Use ``--epochs`` and ``--samples`` to change its size, and
``--backend qsim`` or ``--backend tensorflow`` to simulate with qsim or TensorFlow ops
instead of qml's native core.
"""

from __future__ import annotations

import argparse
import time

import cirq
import keras
import numpy as np
import sympy

import qml


def make_data(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2 and labels: 1 inside the circle of radius 0.7, else 0."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, (samples, 2)).astype(np.float32)
    labels = (np.sum(points**2, axis=1) < 0.7**2).astype(np.float32)
    return points, labels


def encode(points: np.ndarray, qubits: list[cirq.GridQubit]):
    """One data circuit per point: an x rotation of each qubit by pi times a coordinate."""
    circuits = [
        cirq.Circuit(cirq.rx(np.pi * x)(qubits[0]), cirq.rx(np.pi * y)(qubits[1]))
        for x, y in points
    ]
    return qml.convert_to_tensor(circuits)


def build_model(qubits: list[cirq.GridQubit], backend: str = "native") -> keras.Model:
    """Dense -> ControlledPQC -> Dense."""
    thetas = sympy.symbols("theta0:6")
    model_circuit = cirq.Circuit(
        cirq.ry(thetas[0])(qubits[0]), cirq.ry(thetas[1])(qubits[1]),
        cirq.CZ(*qubits),
        cirq.ry(thetas[2])(qubits[0]), cirq.ry(thetas[3])(qubits[1]),
        cirq.CZ(*qubits),
        cirq.rx(thetas[4])(qubits[0]), cirq.rx(thetas[5])(qubits[1]),
    )
    operators = [cirq.Z(qubits[0]), cirq.Z(qubits[1]), cirq.Z(qubits[0]) * cirq.Z(qubits[1])]
    circuits = keras.Input(shape=(), dtype="string", name="circuits")
    points = keras.Input(shape=(2,), name="points")
    angles = keras.layers.Dense(len(thetas), name="controller")(points)
    expectations = qml.layers.ControlledPQC(model_circuit, operators, backend=backend)(
        [circuits, angles])
    hidden = keras.layers.Dense(8, activation="relu")(expectations)
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model([circuits, points], output)


def train(backend: str, samples: int, epochs: int, seed: int, verbose: int = 2):
    """Trains the model; returns its held-out accuracy and the training seconds."""
    keras.utils.set_random_seed(seed)
    qubits = cirq.GridQubit.rect(1, 2)
    points, labels = make_data(samples, seed)
    split = int(0.75 * samples)
    circuits = encode(points, qubits)
    model = build_model(qubits, backend)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit([circuits[:split], points[:split]], labels[:split], epochs=epochs,
              batch_size=32, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate([circuits[split:], points[split:]], labels[split:],
                                 verbose=0)
    return accuracy, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["native", "qsim", "tensorflow"], default="native")
    args = parser.parse_args()

    accuracy, seconds = train(args.backend, args.samples, args.epochs, args.seed)
    split = int(0.75 * args.samples)
    print(f"trained {args.epochs} epochs on {split} points with {args.backend} in "
          f"{seconds:.1f} s")
    print(f"held-out accuracy: {accuracy:.3f} on {args.samples - split} points")

if __name__ == "__main__":
    main()
