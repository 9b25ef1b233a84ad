"""An executor that runs programs on any Cirq simulator or sampler.

This is the path for ``backend=cirq.Simulator()``, ``cirq.DensityMatrixSimulator()``
and other ``cirq.SimulatesExpectationValues``, ``cirq.SimulatesFinalState`` or
``cirq.Sampler`` objects (hardware included), as in TFQ. Noise channels are passed on
to the simulator. Sampling uses the sampler's own randomness, not qml's seeds. It
rebuilds each row's Cirq circuit and resolves its symbols, so it is as slow as the
simulator behind it; it exists for reach (any Cirq simulator) and as the reference the
fast executors are checked against.

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
from typing import Any

import cirq
import numpy as np

from qml.circuits import compiler, serialize
from qml.executors.base import CAPABILITIES, Batch, Executor, fill_padding
from qml.executors.tensorflow import TensorflowExecutor


CIRQ_BACKENDS = (cirq.SimulatesExpectationValues, cirq.SimulatesFinalState, cirq.Sampler)
# The rotation that takes each Pauli's eigenbasis to Z's, before a measurement.
_INTO_Z = {cirq.X: cirq.H, cirq.Y: cirq.rx(np.pi / 2)}


# The kind of Cirq simulator each computation needs (adjoint_gradient: any simulator
# of exact expectations, swept by the TensorFlow executor).
_NEEDS = {
    "expectation": cirq.SimulatesExpectationValues,
    "final_states": cirq.SimulatesFinalState,
    "samples": cirq.Sampler,
    "sampled_expectation": cirq.Sampler,
    "adjoint_gradient": cirq.SimulatesExpectationValues,
}


@functools.lru_cache(maxsize=1)
def _complex128_sweeper() -> TensorflowExecutor:
    return TensorflowExecutor(precision="complex128")


class CirqExecutor(Executor):
    """Runs programs on a Cirq simulator or sampler.

    Expectations need a ``cirq.SimulatesExpectationValues``, states a
    ``cirq.SimulatesFinalState`` and samples a ``cirq.Sampler``. Layers make one when
    given a Cirq simulator as ``backend``.

    Args:
        simulator: the Cirq simulator or sampler.

    Raises:
        TypeError: for a ``simulator`` that is none of the three.

    Example:
        >>> import cirq, qml
        >>> q = cirq.LineQubit(0)
        >>> exact = qml.executors.CirqExecutor(cirq.DensityMatrixSimulator())
        >>> noisy = cirq.Circuit(cirq.X(q), cirq.amplitude_damp(0.5)(q))
        >>> qml.layers.Expectation(backend=exact)(noisy, operators=cirq.Z(q)).numpy()
        array([[0.]], dtype=float32)
    """

    name = "cirq"

    def __init__(self, simulator: object) -> None:
        if not isinstance(simulator, CIRQ_BACKENDS):
            raise TypeError(
                "backend must be a cirq.SimulatesExpectationValues, "
                f"cirq.SimulatesFinalState or cirq.Sampler, got {simulator!r}"
            )
        self.simulator = simulator
        self.capabilities = frozenset(
            computation for computation, kind in _NEEDS.items()
            if computation in CAPABILITIES and isinstance(simulator, kind))

    def _require(self, computation: str) -> None:
        kind = _NEEDS[computation]
        if not isinstance(self.simulator, kind):
            raise TypeError(
                f"backend {self.simulator!r} cannot compute "
                f"{computation.replace('_', ' ')}: it is not a cirq.{kind.__name__}")

    def final_states(self, batch: Batch) -> list[np.ndarray]:
        """Each row's final state vector, complex64, in Cirq's qubit order."""
        self._require("final_states")
        states = []
        for index, program in enumerate(batch.programs):
            if not program.num_qubits:
                states.append(np.ones(1, np.complex64))
                continue
            result = self.simulator.simulate(
                _circuit_of(program), param_resolver=_resolver(batch, index),
                qubit_order=program.cirq_qubits())
            states.append(np.asarray(result.final_state_vector, np.complex64))
        return states

    def samples(self, batch: Batch, repetitions: int) -> list[np.ndarray]:
        """Each row's ``[repetitions, n_qubits]`` int8 measurements, from the sampler."""
        self._require("samples")
        out = []
        for index, program in enumerate(batch.programs):
            qubits = program.cirq_qubits()
            if not qubits:
                out.append(np.zeros((repetitions, 0), np.int8))
                continue
            circuit = _circuit_of(program) + cirq.measure(*qubits, key="qml")
            result = self.simulator.run(circuit, _resolver(batch, index), repetitions)
            out.append(np.asarray(result.measurements["qml"], np.int8))
        return out

    def sampled_expectation(self, batch: Batch) -> np.ndarray:
        """Expectations estimated from ``batch.estimation.repetitions[row, op]`` shots
        of each term of each operator, measured by the sampler after a change to the
        term's basis."""
        self._require("sampled_expectation")
        out = np.zeros((batch.batch_size, batch.num_operators))
        for index, program in enumerate(batch.programs):
            if not program.num_qubits:
                continue
            circuit, resolver = _circuit_of(program), _resolver(batch, index)
            for column, row in enumerate(batch.operators[index]):
                shots = int(batch.estimation.repetitions[index, column])
                for term in serialize.deserialize_paulisum(row) if row else ():
                    coefficient = float(np.real(complex(term.coefficient)))
                    if not len(term):
                        out[index, column] += coefficient
                        continue
                    into_z = [_INTO_Z[pauli](qubit) for qubit, pauli in term.items()
                              if pauli in _INTO_Z]
                    measured = circuit + into_z + cirq.measure(*term.qubits, key="qml")
                    bits = self.simulator.run(measured, resolver, shots).measurements["qml"]
                    out[index, column] += coefficient * np.mean(1 - 2 * (bits.sum(1) % 2))
        return fill_padding(batch, out.astype(np.float32))

    def adjoint_gradient(self, batch: Batch, upstream: np.ndarray,
                         kept: Any = None) -> np.ndarray:
        """The adjoint sweep of an exact expectation, run by the TensorFlow executor
        in complex128 (Cirq has no sweep of its own)."""
        return _complex128_sweeper().adjoint_gradient(batch, upstream, None)

    def expectation(self, batch: Batch) -> np.ndarray:
        self._require("expectation")
        out = np.zeros((batch.batch_size, batch.num_operators), dtype=np.float32)
        for index, program in enumerate(batch.programs):
            if not program.num_qubits or not batch.num_operators:
                continue
            circuit = _circuit_of(program)
            observables = [
                serialize.deserialize_paulisum(op) for op in batch.operators[index]
            ]
            values = self.simulator.simulate_expectation_values(
                circuit,
                observables=[o if len(o) else cirq.PauliSum() for o in observables],
                param_resolver=_resolver(batch, index),
                qubit_order=program.cirq_qubits(),
                permit_terminal_measurements=True,
            )
            out[index] = np.real(values)
        return fill_padding(batch, out)


def _resolver(batch: Batch, index: int) -> dict[str, float]:
    return {name: float(batch.symbol_values[index, k])
            for k, name in enumerate(batch.symbol_names)}


@compiler.cached_on_program
def _circuit_of(row_program) -> cirq.Circuit:
    """The Cirq circuit of a row's programs, with identities on idle qubits."""
    qubits = row_program.cirq_qubits()
    ops = [cirq.I(q) for q in qubits]
    for segment in row_program.segments:
        place = [qubits[p] for p in segment.positions]
        channels = list(segment.program.channels)
        for index, block in enumerate(segment.program.blocks + (None,)):
            while channels and channels[0].position == index:
                channel = channels.pop(0)
                ops.append(_cirq_channel(channel.gate).on(
                    *(place[t] for t in channel.targets)))
            if block is None:
                break
            for step in block.steps:
                op = _cirq_gate(step.gate).on(*(place[block.targets[p]] for p in step.places))
                if block.controls:
                    op = op.controlled_by(
                        *(place[c] for c in block.controls),
                        control_values=list(block.control_values),
                    )
                ops.append(op)
    return cirq.Circuit(ops)


def _cirq_channel(gate) -> cirq.Gate:
    from qml.circuits import channels

    return channels.decode_channel(gate.fields)


def _cirq_gate(gate) -> cirq.Gate:
    from qml.circuits import gates

    return gates.decode_gate(gate.kind, gate.fields)
