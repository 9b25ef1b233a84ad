"""The agreement check: each system's first batch row against cirq.Simulator (or, for
noisy circuits, cirq.DensityMatrixSimulator).

Example:
    >>> from qml_bench.circuits import hea
    >>> case = hea(2, 1)
    >>> ref = Reference(case, np.zeros((1, 4), np.float32), np.zeros((1, 2)))
    >>> ref.check("expectation", np.ones((1, 2)), repetitions=1)
    0.0
"""

from __future__ import annotations

import functools
from typing import Optional

import cirq
import numpy as np

from qml_bench.circuits import Case

TOLERANCE = 1e-4
#: Noisy circuits are checked against their density matrix up to this many qubits
#: (10 qubits take about 25 s).
NOISY_CHECK_MAX_QUBITS = 10
_STEP = 1e-3  # central-difference step of the directional derivative


class Disagreement(Exception):
    """A system's first row differs from cirq.Simulator by more than the tolerance."""


class Reference:
    """Exact values of row 0 from ``cirq.Simulator`` in complex128."""

    def __init__(self, case: Case, values: np.ndarray, data: np.ndarray) -> None:
        self.case = case
        self.row = values[0].astype(np.float64)
        self.data = data[0]
        self._simulator = cirq.Simulator(dtype=np.complex128)

    def _expectations(self, row: np.ndarray,
                      prefix: Optional[cirq.Circuit] = None) -> np.ndarray:
        prefix = prefix or cirq.Circuit()
        resolver = cirq.ParamResolver(dict(zip(self.case.symbols, map(float, row))))
        values = self._simulator.simulate_expectation_values(
            prefix + self.case.circuit, observables=list(self.case.operators),
            param_resolver=resolver)
        return np.real(np.asarray(values))

    @functools.cached_property
    def _noisy_expectations(self) -> np.ndarray:
        """Row 0's values on the noisy circuit, from its density matrix."""
        resolver = cirq.ParamResolver(dict(zip(self.case.symbols, map(float, self.row))))
        values = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate_expectation_values(
            self.case.noisy(self.case.circuit), observables=list(self.case.operators),
            param_resolver=resolver)
        return np.real(np.asarray(values))

    def check(self, workload: str, output: np.ndarray, repetitions: int) -> Optional[float]:
        """The largest deviation of ``output``'s row 0 (or a directional derivative);
        None for a noisy circuit too wide for a density matrix.

        Raises:
            Disagreement: if it exceeds :data:`TOLERANCE` (for samples and sampled
                expectations, 5 standard errors of the shot averages).
        """
        if workload == "expectation":
            error = float(np.max(np.abs(output[0] - self._expectations(self.row))))
            bound = TOLERANCE
        elif workload in ("train-step", "fit"):
            data = cirq.Circuit(cirq.rx(float(x))(q) for x, q in zip(self.data, self.case.qubits))
            error = float(np.max(np.abs(output[0] - self._expectations(self.row, data))))
            bound = TOLERANCE
        elif workload == "gradient":
            # A random direction checks every symbol's derivative with two simulations.
            direction = np.random.default_rng(0).normal(size=self.row.shape)
            direction /= np.linalg.norm(direction)
            plus = self._expectations(self.row + _STEP * direction).sum()
            minus = self._expectations(self.row - _STEP * direction).sum()
            expected = (plus - minus) / (2 * _STEP)
            error = float(abs(np.dot(output[0], direction) - expected))
            bound = TOLERANCE * max(1.0, abs(expected))
        elif workload == "sampled-expectation":
            # Each operator's shot average has sigma at most sqrt(sum c**2 / shots).
            error = float(np.max(np.abs(output[0] - self._expectations(self.row))))
            scale = max(np.sqrt(sum(abs(term.coefficient) ** 2
                                    for term in cirq.PauliSum.wrap(op)))
                        for op in self.case.operators)
            bound = 5.0 * scale / np.sqrt(repetitions) + TOLERANCE
        elif workload == "noisy-expectation":
            if len(self.case.qubits) > NOISY_CHECK_MAX_QUBITS:
                return None
            # A trajectory's value of Z lies in [-1, 1].
            error = float(np.max(np.abs(output[0] - self._noisy_expectations)))
            bound = 5.0 / np.sqrt(repetitions) + TOLERANCE
        elif workload == "sample":
            means = 1.0 - 2.0 * np.asarray(output[0], np.float64).mean(axis=0)
            error = float(np.max(np.abs(means - self._expectations(self.row))))
            bound = 5.0 / np.sqrt(repetitions) + TOLERANCE
        else:
            raise ValueError(f"unknown workload {workload!r}")
        if not error <= bound:  # also catches NaN
            raise Disagreement(f"row 0 differs from cirq.Simulator by {error:.2e} "
                               f"(allowed {bound:.1e})")
        return error
