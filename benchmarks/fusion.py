"""Times the TensorFlow executor's two gate plans on the same batch.

``block_qubits=1`` applies single-qubit runs and combines constant diagonal gates
into one register-wide diagonal; ``block_qubits=2`` applies the compiler's two-qubit
blocks. The executor's default picks per program with ``plan_cost``; this script
measures both so the cost model can be checked (docs/backends.md).

Usage: python benchmarks/fusion.py --qubits 4,10 --layers 4 --batch 1000
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from qml_bench.circuits import hea  # noqa: E402

from qml.circuits.serialize import serialize_circuit, serialize_paulisum  # noqa: E402
from qml.executors import TensorflowExecutor, prepare  # noqa: E402
from qml.executors.tensorflow_plan import placed_blocks, plan_cost  # noqa: E402


def _median_us(run, rows: int, repeats: int) -> float:
    run()  # traces and compiles
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6 / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", default="4,6,8,10")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("qubits  plan  cost  forward us/circuit  adjoint us/circuit")
    for num_qubits in (int(q) for q in args.qubits.split(",")):
        case = hea(num_qubits, args.layers)
        circuit, names, operators = case.circuit, case.symbols, case.operators
        values = np.random.default_rng(0).uniform(0, 2 * np.pi, (args.batch, len(names)))
        row = serialize_circuit(circuit)
        ops = [serialize_paulisum(o) for o in operators]
        batch = prepare([row] * args.batch, names, values, [ops] * args.batch)
        upstream = np.ones((args.batch, len(ops)), np.float32)
        for block_qubits in (1, 2):
            executor = TensorflowExecutor(block_qubits=block_qubits)
            cost = plan_cost(placed_blocks(batch.programs[0], block_qubits), num_qubits)
            forward = _median_us(functools.partial(executor.expectation, batch),
                                 args.batch, args.repeats)
            adjoint = _median_us(functools.partial(executor.adjoint_gradient, batch, upstream),
                                 args.batch, args.repeats)
            print(f"{num_qubits:6d}  {block_qubits:4d}  {cost:.2e}  {forward:18.1f}  "
                  f"{adjoint:18.1f}", flush=True)


if __name__ == "__main__":
    main()
