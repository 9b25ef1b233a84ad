"""Utilities, named as in ``tfq.util``.

Example:
    >>> import cirq, sympy
    >>> q = cirq.LineQubit(0)
    >>> a, b = sympy.symbols("a b")
    >>> get_circuit_symbols(cirq.Circuit(cirq.rx(b)(q), cirq.rz(a)(q)))
    ['a', 'b']
"""

from __future__ import annotations

import cirq

from qml.errors import NotACircuitError


def get_circuit_symbols(circuit: cirq.AbstractCircuit) -> list[str]:
    """Names of the symbols in ``circuit``, sorted.

    Raises:
        NotACircuitError: if ``circuit`` is not a ``cirq.Circuit``.
    """
    if not isinstance(circuit, cirq.AbstractCircuit):
        raise NotACircuitError(f"expected a cirq.Circuit, got {type(circuit).__name__}")
    return sorted(cirq.parameter_names(circuit))
