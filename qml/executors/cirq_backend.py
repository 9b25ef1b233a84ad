"""An executor that runs programs on any Cirq simulator with expectation values.

This is the path for ``backend=cirq.Simulator()`` and other
``cirq.SimulatesExpectationValues``, as in TFQ. It rebuilds each row's Cirq circuit
and resolves its symbols, so it is as slow as the simulator behind it; it exists for
reach (any Cirq simulator) and as the reference the fast executors are checked against.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit, serialize_paulisum
    >>> from qml.executors.base import prepare
    >>> q = cirq.LineQubit(0)
    >>> batch = prepare([serialize_circuit(cirq.Circuit(cirq.X(q)))], [],
    ...                 np.zeros((1, 0)), [[serialize_paulisum(cirq.Z(q))]])
    >>> CirqExecutor(cirq.Simulator()).expectation(batch)
    array([[-1.]], dtype=float32)
"""

from __future__ import annotations

import functools

import cirq
import numpy as np

from qml.circuits import serialize
from qml.executors.base import Batch, Executor, fill_padding


class CirqExecutor(Executor):
    """Runs programs on a ``cirq.SimulatesExpectationValues``."""

    name = "cirq"

    def __init__(self, simulator: cirq.SimulatesExpectationValues) -> None:
        if not isinstance(simulator, cirq.SimulatesExpectationValues):
            raise TypeError(
                "backend must be 'qsim' or a cirq.SimulatesExpectationValues, got "
                f"{simulator!r}"
            )
        self.simulator = simulator

    def expectation(self, batch: Batch) -> np.ndarray:
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        for index, program in enumerate(batch.programs):
            if not program.num_qubits or not batch.num_operators:
                continue
            circuit = _circuit_of(program)
            observables = [
                serialize.deserialize_paulisum(op) for op in batch.operators[index]
            ]
            resolver = {
                name: float(batch.symbol_values[index, k])
                for k, name in enumerate(batch.symbol_names)
            }
            values = self.simulator.simulate_expectation_values(
                circuit,
                observables=[o if len(o) else cirq.PauliSum() for o in observables],
                param_resolver=resolver,
                qubit_order=program.cirq_qubits(),
                permit_terminal_measurements=True,
            )
            out[index] = np.real(values)
        return fill_padding(batch, out)


@functools.lru_cache(maxsize=1024)
def _circuit_of(row_program) -> cirq.Circuit:
    """The Cirq circuit of a row's programs, with identities on idle qubits."""
    qubits = row_program.cirq_qubits()
    ops = [cirq.I(q) for q in qubits]
    for segment in row_program.segments:
        place = [qubits[p] for p in segment.positions]
        for block in segment.program.blocks:
            for step in block.steps:
                op = _cirq_gate(step.gate).on(*(place[block.targets[p]] for p in step.places))
                if block.controls:
                    op = op.controlled_by(
                        *(place[c] for c in block.controls),
                        control_values=list(block.control_values),
                    )
                ops.append(op)
    return cirq.Circuit(ops)


def _cirq_gate(gate) -> cirq.Gate:
    from qml.circuits import gates

    return gates.decode_gate(gate.kind, gate.fields)
