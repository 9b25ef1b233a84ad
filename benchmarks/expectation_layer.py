"""Times qml's layers against TFQ's (when installed) in one process.

Circuit: per layer, rx then rz on every qubit, then CZ on even and then odd
neighbours; Z is measured on every qubit. Two workloads:

* ``expectation``: the Expectation layer on one circuit with a batch of symbol values;
* ``pqc``: the PQC layer on a batch of distinct data circuits (an rx angle per
  qubit), each followed by the model circuit, as in TFQ's tutorials.

Timed calls alternate between systems, and the median is reported. The full
benchmark command line, qml-bench, grows from this script.

Usage: python benchmarks/expectation_layer.py --workload pqc --qubits 10 --layers 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time

if importlib.util.find_spec("tensorflow_quantum") is not None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import sympy  # noqa: E402

import qml  # noqa: E402


def hea_circuit(num_qubits: int, layers: int) -> tuple[cirq.Circuit, list, list]:
    qubits = cirq.GridQubit.rect(1, num_qubits)
    symbols = sympy.symbols(f"t0:{2 * num_qubits * layers}")
    circuit, k = cirq.Circuit(), 0
    for _ in range(layers):
        circuit += [cirq.rx(symbols[k + 2 * i])(q) for i, q in enumerate(qubits)]
        circuit += [cirq.rz(symbols[k + 2 * i + 1])(q) for i, q in enumerate(qubits)]
        k += 2 * num_qubits
        for start in (0, 1):
            circuit += [cirq.CZ(qubits[i], qubits[i + 1])
                        for i in range(start, num_qubits - 1, 2)]
    return circuit, [s.name for s in symbols], [cirq.Z(q) for q in qubits]


def _system(lib, backend, workload, circuit, names, operators, values, weights, data,
            gradient):
    """A call of ``lib``'s layer on the workload; ``lib`` is qml or tfq."""
    options = {"backend": backend} if lib is qml else {}
    if workload == "expectation":
        circuits = lib.convert_to_tensor([circuit] * len(values))
        if not gradient:
            layer = lib.layers.Expectation(**options)
            return lambda: layer(circuits, symbol_names=names, symbol_values=values,
                                 operators=operators)
        import tensorflow as tf

        # Both libraries' default differentiator: Adjoint.
        layer = lib.layers.Expectation(**options)
        variable = tf.Variable(values)

        def forward_and_gradient():
            with tf.GradientTape() as tape:
                out = layer(circuits, symbol_names=names, symbol_values=variable,
                            operators=operators)
                total = tf.reduce_sum(out)
            return tape.gradient(total, variable)

        return forward_and_gradient
    circuits = lib.convert_to_tensor(data)
    layer = lib.layers.PQC(circuit, operators, **options)
    layer(circuits[:1])
    layer.set_weights([weights])  # the same values for both libraries
    return lambda: layer(circuits)


def main() -> None:
    parser = argparse.ArgumentParser(description="Expectation layer: qml vs TFQ")
    parser.add_argument("--qubits", type=int, default=10)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workload", choices=["expectation", "pqc"], default="expectation")
    parser.add_argument("--gradient", action="store_true",
                        help="time forward + gradient of the summed outputs with respect "
                             "to the symbol values (expectation workload), with each "
                             "library's default differentiator, Adjoint")
    parser.add_argument("--backends", default="qsim,tensorflow",
                        help="comma-separated qml backends to time")
    args = parser.parse_args()
    if args.gradient and args.workload != "expectation":
        parser.error("--gradient applies to --workload expectation")

    circuit, names, operators = hea_circuit(args.qubits, args.layers)
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 2 * np.pi, (args.batch, len(names))).astype(np.float32)
    weights = values[:1].reshape(-1)
    qubits = sorted(circuit.all_qubits())
    data = [cirq.Circuit(cirq.rx(float(x))(q) for x, q in zip(row, qubits))
            for row in rng.uniform(0, np.pi, (args.batch, args.qubits))]
    libraries = {f"qml ({b})": (qml, b) for b in args.backends.split(",")}
    if importlib.util.find_spec("tensorflow_quantum") is not None:
        import tensorflow_quantum as tfq

        libraries["tfq"] = (tfq, None)
    else:
        print("tfq: tensorflow_quantum is not installed; skipped")
    systems = {name: _system(lib, backend, args.workload, circuit, names, operators, values,
                             weights, data, args.gradient)
               for name, (lib, backend) in libraries.items()}

    outputs = {name: np.asarray(run()) for name, run in systems.items()}  # warm-up
    for name in outputs:
        if name != "tfq" and "tfq" in outputs:
            gap = np.max(np.abs(outputs[name] - outputs["tfq"]))
            print(f"max |{name} - tfq| = {gap:.2e}")
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.repeats):
        for name, run in systems.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    kind = args.workload + (" + gradient" if args.gradient else "")
    print(f"{kind}: {args.qubits} qubits, {args.layers} layers, batch {args.batch}, "
          f"{os.cpu_count()} cores, median of {args.repeats}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:12s} {median * 1e6 / args.batch:9.1f} us/circuit  "
              f"(min {min(samples) * 1e6 / args.batch:.1f}, max "
              f"{max(samples) * 1e6 / args.batch:.1f})")
    if "tfq" in times:
        for name in times:
            if name != "tfq":
                ratio = statistics.median(times["tfq"]) / statistics.median(times[name])
                print(f"{name} is {ratio:.2f}x TFQ")


if __name__ == "__main__":
    main()
