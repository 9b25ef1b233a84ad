"""Times qml's Python compiler on distinct circuits, with and without the cyclic
garbage collector scanning TensorFlow's objects (docs/native-core.md).

Each circuit is the barren-plateau construction: 6 qubits, 50 layers of random
rotations and a CZ ladder, one rotation by a symbol. Every circuit is new, so each is
compiled once.

Usage: python benchmarks/compile_gc.py [--circuits 100]
"""

from __future__ import annotations

import argparse
import gc
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import sympy  # noqa: E402
import tensorflow  # noqa: E402, F401  (its objects are what the collector scans)

from qml.circuits import compiler, serialize  # noqa: E402


def barren_plateau_row(rng: np.random.Generator, qubits, depth: int = 50) -> bytes:
    theta = sympy.Symbol("theta")
    circuit = cirq.Circuit(cirq.ry(np.pi / 4)(q) for q in qubits)
    chosen = rng.integers(depth * len(qubits))
    for layer in range(depth):
        for index, qubit in enumerate(qubits):
            rotation = (cirq.rx, cirq.ry, cirq.rz)[rng.integers(3)]
            angle = theta if layer * len(qubits) + index == chosen else rng.uniform(0, 6.3)
            circuit.append(rotation(angle)(qubit))
        circuit.append(cirq.CZ(a, b) for a, b in zip(qubits, qubits[1:]))
    return serialize.serialize_circuit(circuit)


def ms_per_circuit(rows: list[bytes]) -> float:
    start = time.perf_counter()
    for row in rows:
        compiler.compile_row(row)
    return (time.perf_counter() - start) / len(rows) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=100)
    count = parser.parse_args().circuits
    rng = np.random.default_rng(0)
    qubits = cirq.GridQubit.rect(1, 6)
    rows = [barren_plateau_row(rng, qubits) for _ in range(3 * count)]
    print(f"objects the collector tracks: {len(gc.get_objects()):,}")
    print(f"collector on:     {ms_per_circuit(rows[:count]):.1f} ms per circuit")
    gc.disable()
    print(f"collector paused: {ms_per_circuit(rows[count:2 * count]):.1f} ms per circuit")
    gc.enable()
    gc.freeze()
    print(f"after gc.freeze(): {ms_per_circuit(rows[2 * count:]):.1f} ms per circuit")


if __name__ == "__main__":
    main()
