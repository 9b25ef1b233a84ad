"""How far a cell is from the machine's limit: its circuits' floating-point work over
the peak rate that a float32 matrix product reaches on the same threads.

The work counts each gate as a dense matrix on its qubits, with no fusion and nothing
skipped: a ``k``-qubit gate on ``n`` qubits is ``2**n * 2**k`` complex multiply-adds,
8 real flops each. An expectation adds one pass over the state per Pauli term. The
adjoint gradient is the gates three times (the forward pass, then the state and the
adjoint state un-applied) and one overlap per parameterized gate; a training step or
an epoch is a gradient. So the limit is a floor that no simulator of the unfused
circuit beats, and a fusing simulator may come near it or pass it.

Example:
    >>> from qml_bench.circuits import hea
    >>> circuit_flops(hea(2, 1), "expectation")  # 4 rotations, a CZ and 2 Z terms
    416.0
"""

from __future__ import annotations

import functools
import time

import cirq
import numpy as np

from qml_bench.circuits import Case

_COMPLEX_MAC = 8  # real flops in one complex multiply-add


def circuit_flops(case: Case, workload: str, trajectories: int = 1) -> float:
    """Real floating-point operations that one circuit of ``case`` needs."""
    n = len(case.qubits)
    gates = parameterized = 0.0
    for op in case.circuit.all_operations():
        work = _COMPLEX_MAC * 2**n * 2 ** len(op.qubits)
        gates += work
        if cirq.is_parameterized(op):
            parameterized += work
    terms = 4.0 * 2**n * len(case.operators)  # |amplitude|^2 and a signed sum
    if workload in ("expectation", "sampled-expectation"):
        return gates + terms
    if workload == "noisy-expectation":  # each trajectory, its channels left out
        return trajectories * (gates + terms)
    if workload == "sample":
        return gates
    return 3 * gates + parameterized + 2 * terms


@functools.lru_cache(maxsize=1)
def peak_flops(size: int = 1024, repeats: int = 5) -> float:
    """The machine's measured peak: float32 matrix products on the process's threads,
    the fastest of ``repeats``, in flops per second."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    a @ b  # the first product starts the BLAS threads
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def limit_us_per_circuit(case: Case, workload: str, trajectories: int = 1) -> float:
    """The cell's floor: microseconds per circuit at the measured peak."""
    return circuit_flops(case, workload, trajectories) / peak_flops() * 1e6
