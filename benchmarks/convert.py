"""Times circuit-tensor conversion and compilation of many distinct circuits.

Usage: python benchmarks/convert.py --circuits 10000 --qubits 10 --moments 20
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cirq  # noqa: E402

import qml  # noqa: E402
from qml.circuits import compiler  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description="convert_to_tensor and compile timings")
    parser.add_argument("--circuits", type=int, default=10000)
    parser.add_argument("--qubits", type=int, default=10)
    parser.add_argument("--moments", type=int, default=20)
    parser.add_argument("--distinct", type=int, default=200,
                        help="distinct random circuits, repeated to make up --circuits")
    args = parser.parse_args()

    qubits = cirq.GridQubit.rect(1, args.qubits)
    distinct = [cirq.testing.random_circuit(qubits, n_moments=args.moments, op_density=0.8,
                                            random_state=seed)
                for seed in range(args.distinct)]
    circuits = [distinct[i % len(distinct)] for i in range(args.circuits)]
    gates = sum(len(list(c.all_operations())) for c in distinct) / len(distinct)

    start = time.perf_counter()
    tensor = qml.convert_to_tensor(circuits)
    convert = time.perf_counter() - start
    start = time.perf_counter()
    back = qml.from_tensor(tensor[: len(distinct)])
    parse = time.perf_counter() - start
    assert all(a == b for a, b in zip(back, distinct))
    start = time.perf_counter()
    for row in tensor.numpy()[: len(distinct)]:
        compiler.compile_row(row)
    compile_time = time.perf_counter() - start

    print(f"{args.circuits} circuits of {args.qubits} qubits, {gates:.0f} gates on average")
    print(f"convert_to_tensor: {convert:.2f} s ({convert / args.circuits * 1e6:.0f} us each)")
    print(f"from_tensor: {parse / len(distinct) * 1e3:.2f} ms per circuit")
    print(f"compile (first time): {compile_time / len(distinct) * 1e3:.2f} ms per circuit")


if __name__ == "__main__":
    main()
