"""The circuit families that qml-bench times.

Each family gives a :class:`Case`: a parameterized Cirq circuit, its symbols, Z on
every qubit, and the same circuit as a plain gate list, which systems without a Cirq
front end (PennyLane, TensorCircuit) build from. The ``random`` family uses gates that
have no plain form, so only Cirq-based systems run it.

Example:
    >>> case = hea(3, 2)
    >>> len(case.symbols), len(case.operators), case.gate_list[0]
    (12, 3, ('rx', (0,), 0))
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import cirq
import numpy as np
import sympy

# A plain gate: (name, qubit indices, symbol index or None). Names: rx ry rz cz cnot.
PlainGate = tuple[str, tuple[int, ...], Optional[int]]
_PLAIN = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz}


#: Depolarizing strength after every moment of a noisy-expectation circuit.
NOISE = 0.01


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark circuit: ``circuit`` on ``qubits``, with ``symbols`` in order."""

    family: str
    qubits: tuple[cirq.GridQubit, ...]
    circuit: cirq.Circuit
    symbols: tuple[str, ...]
    operators: tuple[cirq.PauliString, ...]
    gate_list: Optional[tuple[PlainGate, ...]]  # None: no plain form
    layers: int = 0
    seed: int = 0

    def noisy(self, circuit: cirq.Circuit) -> cirq.Circuit:
        """``circuit`` with a depolarizing channel of strength :data:`NOISE` on every
        qubit after every moment (the ``noisy-expectation`` workload's circuits)."""
        return circuit.with_noise(cirq.depolarize(NOISE))

    def row_circuits(self, batch: int) -> list[cirq.Circuit]:
        """The circuit of every batch row: ``circuit`` itself, or for the ``distinct``
        family a different random circuit per row (row 0 is ``circuit``)."""
        if self.family != "distinct":
            return [self.circuit] * batch
        return [_distinct_circuit(self.qubits, self.layers, self.seed + row)
                for row in range(batch)]


def _from_plain(family: str, num_qubits: int, gate_list: list[PlainGate],
                num_symbols: int) -> Case:
    qubits = tuple(cirq.GridQubit.rect(1, num_qubits))
    symbols = sympy.symbols(f"t0:{num_symbols}") if num_symbols else ()
    ops = []
    for name, wires, symbol in gate_list:
        on = [qubits[w] for w in wires]
        if name in _PLAIN:
            ops.append(_PLAIN[name](symbols[symbol])(*on))
        else:
            ops.append({"cz": cirq.CZ, "cnot": cirq.CNOT}[name](*on))
    return Case(family, qubits, cirq.Circuit(ops), tuple(s.name for s in symbols),
                tuple(cirq.Z(q) for q in qubits), tuple(gate_list))


def hea(num_qubits: int, layers: int) -> Case:
    """Hardware-efficient ansatz: per layer, rx then rz on every qubit, then CZ on even
    and then odd neighbours."""
    gate_list: list[PlainGate] = []
    k = 0
    for _ in range(layers):
        for name in ("rx", "rz"):
            for q in range(num_qubits):
                gate_list.append((name, (q,), k))
                k += 1
        for start in (0, 1):
            gate_list += [("cz", (q, q + 1), None) for q in range(start, num_qubits - 1, 2)]
    return _from_plain("hea", num_qubits, gate_list, k)


def qcnn(num_qubits: int, layers: int) -> Case:
    """Quantum convolutional network: ``layers`` convolutions (ry·rz on each qubit, then
    CNOT on even and then odd neighbours) between poolings that halve the active qubits
    (ry on the dropped qubit, then CNOT into its kept neighbour), down to one qubit."""
    gate_list: list[PlainGate] = []
    active, k = list(range(num_qubits)), 0
    while True:
        for _ in range(layers):
            for name in ("ry", "rz"):
                for q in active:
                    gate_list.append((name, (q,), k))
                    k += 1
            for start in (0, 1):
                gate_list += [("cnot", (active[i], active[i + 1]), None)
                              for i in range(start, len(active) - 1, 2)]
        if len(active) == 1:
            break
        kept = active[1::2]
        for dropped, keep in zip(active[0::2], kept):
            gate_list += [("ry", (dropped,), k), ("cnot", (dropped, keep), None)]
            k += 1
        active = kept
    return _from_plain("qcnn", num_qubits, gate_list, k)


def random(num_qubits: int, layers: int, seed: int) -> Case:
    """Seeded random circuit over qml's native gates: ``layers * num_qubits`` gates,
    half with a symbolic parameter (one symbol each)."""
    rng = np.random.default_rng(seed)
    qubits = tuple(cirq.GridQubit.rect(1, num_qubits))
    one = [cirq.XPowGate, cirq.YPowGate, cirq.ZPowGate, cirq.HPowGate, cirq.rx, cirq.ry,
           cirq.rz]
    two = [cirq.CZPowGate, cirq.CNotPowGate, cirq.XXPowGate, cirq.YYPowGate, cirq.ZZPowGate,
           cirq.SwapPowGate, cirq.ISwapPowGate]
    ops, symbols = [cirq.H(q) for q in qubits], []
    for _ in range(layers * num_qubits):
        if rng.random() < 0.5:
            symbols.append(sympy.Symbol(f"t{len(symbols)}"))
            parameter = symbols[-1]
        else:
            parameter = float(rng.uniform(-1, 1))
        if num_qubits >= 2 and rng.random() < 0.4:
            gate_type = two[rng.integers(len(two))]
            wires = rng.choice(num_qubits, 2, replace=False)
        else:
            gate_type = one[rng.integers(len(one))]
            wires = rng.choice(num_qubits, 1)
        if gate_type in (cirq.rx, cirq.ry, cirq.rz):
            gate = gate_type(parameter)
        else:
            gate = gate_type(exponent=parameter)
        ops.append(gate.on(*(qubits[w] for w in wires)))
    return Case("random", qubits, cirq.Circuit(ops), tuple(s.name for s in symbols),
                tuple(cirq.Z(q) for q in qubits), None)


def _distinct_circuit(qubits: tuple, layers: int, seed: int) -> cirq.Circuit:
    """A barren-plateau study's circuit: ry(pi/4) on every qubit, then per layer a
    random rx, ry or rz on every qubit and a CZ ladder; one random gate of it takes the
    symbol ``theta``, every other a random angle."""
    rng = np.random.default_rng(seed)
    theta = sympy.Symbol("theta")
    chosen = (int(rng.integers(layers)), int(rng.integers(len(qubits))))
    ops = [cirq.ry(np.pi / 4)(q) for q in qubits]
    for layer in range(layers):
        for index, q in enumerate(qubits):
            angle = theta if (layer, index) == chosen else float(rng.uniform(0, 2 * np.pi))
            ops.append((cirq.rx, cirq.ry, cirq.rz)[int(rng.integers(3))](angle)(q))
        ops += [cirq.CZ(a, b) for a, b in zip(qubits, qubits[1:])]
    return cirq.Circuit(ops)


def distinct(num_qubits: int, layers: int, seed: int) -> Case:
    """Every batch row a different circuit, as in a barren-plateau study
    (:meth:`Case.row_circuits`), with one symbol ``theta`` and Z on every qubit."""
    qubits = tuple(cirq.GridQubit.rect(1, num_qubits))
    return Case("distinct", qubits, _distinct_circuit(qubits, layers, seed), ("theta",),
                tuple(cirq.Z(q) for q in qubits), None, layers, seed)


FAMILIES = ("hea", "random", "qcnn", "distinct")


def make_case(family: str, num_qubits: int, layers: int, seed: int) -> Case:
    """The ``family`` circuit on ``num_qubits`` qubits with ``layers`` layers."""
    if family == "hea":
        return hea(num_qubits, layers)
    if family == "qcnn":
        return qcnn(num_qubits, layers)
    if family == "random":
        return random(num_qubits, layers, seed)
    if family == "distinct":
        return distinct(num_qubits, layers, seed)
    raise ValueError(f"--circuit must be one of {', '.join(FAMILIES)}, got {family!r}")
