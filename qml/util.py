"""Utilities, named as in ``tfq.util``: symbols, supported gates, random circuits and
Pauli sums for tests and studies, gate comparison, and exponentials of Pauli sums.

Random generators draw from NumPy's global generator, so ``np.random.seed`` makes
them repeatable.

Example:
    >>> import cirq, sympy
    >>> q = cirq.LineQubit(0)
    >>> a, b = sympy.symbols("a b")
    >>> get_circuit_symbols(cirq.Circuit(cirq.rx(b)(q), cirq.rz(a)(q)))
    ['a', 'b']
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any, Iterator, Optional, Sequence, Union

import cirq
import numpy as np
import sympy

from qml.circuits import channels, expressions, gates
from qml.circuits.serialize import convert_to_tensor, from_tensor
from qml.errors import NotACircuitError, UnsupportedExpressionError, UnsupportedGateError

__all__ = [
    "check_commutability",
    "convert_to_tensor",
    "exp_identity",
    "exponential",
    "from_tensor",
    "gate_approx_eq",
    "get_circuit_symbols",
    "get_supported_channels",
    "get_supported_gates",
    "kwargs_cartesian_product",
    "random_circuit_resolver_batch",
    "random_pauli_sums",
    "random_symbol_circuit",
    "random_symbol_circuit_resolver_batch",
]

PauliOperator = Union[cirq.PauliSum, cirq.PauliString]


def get_circuit_symbols(circuit: cirq.AbstractCircuit) -> list[str]:
    """Names of the symbols in ``circuit``, sorted.

    Args:
        circuit: a ``cirq.Circuit``.

    Returns:
        The sorted list of symbol names.

    Raises:
        NotACircuitError: if ``circuit`` is not a ``cirq.Circuit``.

    Example:
        >>> q = cirq.LineQubit(0)
        >>> get_circuit_symbols(cirq.Circuit(cirq.rx(sympy.Symbol("b") * 2)(q)))
        ['b']
    """
    if not isinstance(circuit, cirq.AbstractCircuit):
        raise NotACircuitError(f"expected a cirq.Circuit, got {type(circuit).__name__}")
    return sorted(cirq.parameter_names(circuit))


def get_supported_gates() -> dict[cirq.Gate, int]:
    """One instance of each natively supported gate type, with its qubit count.

    Any of them may also be controlled by other qubits (``controlled_by``). Gates
    outside this set with a constant unitary on up to 4 qubits are accepted as
    matrices.

    Returns:
        A dict from a gate instance to its number of qubits.

    Raises:
        Nothing: it builds a fresh dict on each call.

    Example:
        >>> get_supported_gates()[cirq.CNOT]
        2
    """
    supported = {cls(): cirq.num_qubits(cls()) for cls in gates.EIGEN_GATES.values()}
    supported[cirq.PhasedXPowGate(phase_exponent=0.123)] = 1
    supported[cirq.PhasedISwapPowGate(phase_exponent=0.123)] = 2
    supported[cirq.FSimGate(theta=0.123, phi=0.456)] = 2
    supported[cirq.I] = 1
    return supported


def get_supported_channels() -> dict[cirq.Gate, int]:
    """One instance of each supported noise channel type, with its qubit count.

    Returns:
        A dict from a channel instance to its number of qubits.

    Raises:
        Nothing: it builds a fresh dict on each call.

    Example:
        >>> get_supported_channels()[cirq.bit_flip(0.01)]
        1
    """
    return {
        cirq.depolarize(0.01): 1,
        cirq.depolarize(0.01, n_qubits=2): 2,
        cirq.asymmetric_depolarize(0.01, 0.02, 0.03): 1,
        cirq.generalized_amplitude_damp(0.01, 0.02): 1,
        cirq.amplitude_damp(0.01): 1,
        cirq.ResetChannel(): 1,
        cirq.phase_damp(0.01): 1,
        cirq.phase_flip(0.01): 1,
        cirq.bit_flip(0.01): 1,
    }


def _random_operation(qubits: Sequence[cirq.Qid], gate: cirq.Gate, arity: int,
                      exponent: Any) -> cirq.Operation:
    """``gate ** exponent`` on random qubits; half the time controlled by up to three
    of the other qubits, with random control values."""
    targets = [qubits[i] for i in np.random.choice(len(qubits), arity, replace=False)]
    operation = (gate ** exponent).on(*targets)
    others = [q for q in qubits if q not in targets]
    if others and np.random.random() < 0.5:
        count = min(len(others), 3)
        controls = [others[i] for i in np.random.choice(len(others), count, replace=False)]
        values = [int(v) for v in np.random.randint(0, 2, count)]
        operation = operation.controlled_by(*controls, control_values=values)
    return operation


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _checked_qubits(qubits: Any) -> list[cirq.Qid]:
    qubits = list(qubits) if isinstance(qubits, Sequence) else qubits
    if not isinstance(qubits, list) or not qubits or \
            not all(isinstance(q, cirq.Qid) for q in qubits):
        raise ValueError(f"qubits must be a non-empty list of cirq qubits, got {qubits!r}")
    return qubits


def _gate_pool(qubits: Sequence[cirq.Qid], include_channels: bool) -> dict[cirq.Gate, int]:
    pool = get_supported_gates()
    if include_channels:
        pool.update(get_supported_channels())
    return {gate: arity for gate, arity in pool.items() if arity <= len(qubits)}


def _random_layered_circuit(qubits: Sequence[cirq.Qid], n_moments: int, p: float,
                            pool: dict[cirq.Gate, int], exponents: Iterator) -> cirq.Circuit:
    """Cirq's random circuit on ``pool``, then one more gate per moment, raised to the
    next of ``exponents``; identities and channels are added as they are."""
    qubits = list(qubits)
    circuit = cirq.testing.random_circuit(qubits, n_moments, p, pool,
                                          random_state=np.random.randint(2**31))
    gate_list = list(pool)
    for moment in range(len(circuit)):
        gate = gate_list[np.random.randint(len(gate_list))]
        arity = pool[gate]
        if isinstance(gate, cirq.IdentityGate) or channels.is_channel(gate):
            targets = [qubits[i] for i in np.random.choice(len(qubits), arity, replace=False)]
            circuit[:moment] += gate.on(*targets)
            continue
        circuit[:moment] += _random_operation(qubits, gate, arity, next(exponents))
    return circuit


def random_symbol_circuit(qubits: Sequence[cirq.Qid], symbols: Sequence[Any], *,
                          n_moments: int = 15, p: float = 0.9,
                          include_scalars: bool = True,
                          include_channels: bool = False) -> cirq.Circuit:
    """A random circuit of supported gates in which every one of ``symbols`` appears.

    Each moment gets one gate raised to ``scale * symbol`` (``scale`` uniform in
    [0, 1) when ``include_scalars``, else 1), cycling through the shuffled symbols;
    symbols left over are placed as ``H ** symbol`` on the first qubit.

    Args:
        qubits: the qubits to act on.
        symbols: symbol names or ``sympy.Symbol`` s.
        n_moments: moments of Cirq's random circuit before the symbols are added.
        p: the probability that a qubit gets a gate in a moment.
        include_scalars: scale each symbol by a random factor.
        include_channels: include noise channels in the gate pool.

    Returns:
        A ``cirq.Circuit``.

    Raises:
        ValueError: for an empty ``qubits`` list or a negative count.

    Example:
        >>> np.random.seed(0)
        >>> circuit = random_symbol_circuit(cirq.GridQubit.rect(1, 3), ["a", "b"])
        >>> get_circuit_symbols(circuit)
        ['a', 'b']
    """
    qubits = _checked_qubits(qubits)
    _check_count("n_moments", n_moments, 0)
    names = [str(s) for s in symbols]
    np.random.shuffle(names)
    used = itertools.count()

    def exponents() -> Iterator:
        while True:
            scale = float(np.random.random()) if include_scalars else 1.0
            yield scale * sympy.Symbol(names[next(used) % len(names)])

    pool = _gate_pool(qubits, include_channels)
    circuit = (_random_layered_circuit(qubits, n_moments, p, pool, exponents()) if names
               else cirq.testing.random_circuit(list(qubits), n_moments, p, pool,
                                                random_state=np.random.randint(2**31)))
    for name in names[next(used):]:
        circuit += cirq.H(qubits[0]) ** sympy.Symbol(name)
    return circuit


def random_circuit_resolver_batch(qubits: Sequence[cirq.Qid], batch_size: int, *,
                                  n_moments: int = 15, p: float = 0.9,
                                  include_channels: bool = False
                                  ) -> tuple[list[cirq.Circuit], list[cirq.ParamResolver]]:
    """``batch_size`` random circuits without symbols, and empty resolvers.

    Args:
        qubits: the qubits to act on.
        batch_size: how many circuits.
        n_moments: moments per circuit.
        p: the probability that a qubit gets a gate in a moment.
        include_channels: include noise channels in the gate pool.

    Returns:
        ``(circuits, resolvers)``: two lists of ``batch_size``.

    Raises:
        ValueError: for an empty ``qubits`` list or a negative count.

    Example:
        >>> circuits, resolvers = random_circuit_resolver_batch(cirq.LineQubit.range(2), 3)
        >>> len(circuits), cirq.is_parameterized(circuits[0])
        (3, False)
    """
    qubits = _checked_qubits(qubits)
    _check_count("batch_size", batch_size, 0)
    _check_count("n_moments", n_moments, 0)
    pool = _gate_pool(qubits, include_channels)
    exponents = iter(lambda: float(np.random.random()), None)
    circuits = [_random_layered_circuit(qubits, n_moments, p, pool, exponents)
                for _ in range(batch_size)]
    return circuits, [cirq.ParamResolver({}) for _ in range(batch_size)]


def random_symbol_circuit_resolver_batch(
        qubits: Sequence[cirq.Qid], symbols: Sequence[Any], batch_size: int, *,
        n_moments: int = 15, p: float = 0.9, include_scalars: bool = True,
        include_channels: bool = False
) -> tuple[list[cirq.Circuit], list[cirq.ParamResolver]]:
    """``batch_size`` circuits from :func:`random_symbol_circuit`, with resolvers.

    Args:
        qubits: the qubits to act on.
        symbols: symbol names or ``sympy.Symbol`` s.
        batch_size: how many circuits.
        n_moments: as :func:`random_symbol_circuit`.
        p: as :func:`random_symbol_circuit`.
        include_scalars: as :func:`random_symbol_circuit`.
        include_channels: as :func:`random_symbol_circuit`.

    Returns:
        ``(circuits, resolvers)``: each resolver maps every symbol to a value uniform
        in [0, 1).

    Raises:
        ValueError: for an empty ``qubits`` list or a negative count.

    Example:
        >>> circuits, resolvers = random_symbol_circuit_resolver_batch(
        ...     cirq.LineQubit.range(2), ["a"], 2)
        >>> sorted(resolvers[0].param_dict)
        ['a']
    """
    _check_count("batch_size", batch_size, 0)
    circuits, resolvers = [], []
    for _ in range(batch_size):
        circuits.append(random_symbol_circuit(
            qubits, symbols, n_moments=n_moments, p=p, include_scalars=include_scalars,
            include_channels=include_channels))
        resolvers.append(cirq.ParamResolver(
            {str(s): float(np.random.random()) for s in symbols}))
    return circuits, resolvers


def random_pauli_sums(qubits: Sequence[cirq.Qid], max_sum_length: int,
                      n_sums: int) -> list[cirq.PauliSum]:
    """``n_sums`` random Pauli sums, as TFQ's tests use them.

    Each sum has 1 to ``max_sum_length`` strings, each on a random subset of
    ``qubits`` with random Paulis (identities included).

    Args:
        qubits: the qubits to act on.
        max_sum_length: the most strings in one sum, at least 1.
        n_sums: how many sums.

    Returns:
        A list of ``cirq.PauliSum``.

    Raises:
        ValueError: for an empty ``qubits`` list or a count below its minimum.

    Example:
        >>> len(random_pauli_sums(cirq.LineQubit.range(3), 4, 5))
        5
    """
    qubits = _checked_qubits(qubits)
    _check_count("max_sum_length", max_sum_length, 1)
    _check_count("n_sums", n_sums, 0)
    paulis = [cirq.I, cirq.X, cirq.Y, cirq.Z]
    sums = []
    for _ in range(n_sums):
        strings = []
        for _ in range(np.random.randint(1, max_sum_length + 1)):
            chosen = np.random.choice(len(qubits), np.random.randint(1, len(qubits) + 1),
                                      replace=False)
            strings.append(cirq.PauliString(
                {qubits[i]: paulis[np.random.randint(4)] for i in chosen}))
        sums.append(cirq.PauliSum.from_pauli_strings(strings))
    return sums


def kwargs_cartesian_product(**kwargs: Any) -> Iterator[dict]:
    """Every combination of the keyword arguments' values, as dicts.

    Args:
        **kwargs: each an iterable of values.

    Returns:
        An iterator of dicts, one per combination, the last keyword varying fastest.

    Raises:
        ValueError: if a value is not iterable.

    Example:
        >>> list(kwargs_cartesian_product(a=[1, 2], b="x"))
        [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    for name, values in kwargs.items():
        try:
            iter(values)
        except TypeError:
            raise ValueError(f"kwargs_cartesian_product: {name}={values!r} is not "
                             "iterable") from None
    return (dict(zip(kwargs, combination))
            for combination in itertools.product(*kwargs.values()))


def gate_approx_eq(gate_true: cirq.Gate, gate_deser: cirq.Gate, atol: float = 1e-5) -> bool:
    """Whether two supported gates are equal up to ``atol`` in every parameter.

    Symbolic parameters are equal when they use the same symbols and agree, within
    ``atol``, at random values of those symbols.

    Args:
        gate_true: a ``cirq.Gate``.
        gate_deser: another, for example ``gate_true`` after a round trip.
        atol: the tolerance on each parameter.

    Returns:
        True if the gates have the same type and parameters within ``atol``.

    Raises:
        TypeError: if either argument is not a ``cirq.Gate`` or ``atol`` is not real.
        ValueError: if either gate is not one qml supports.

    Example:
        >>> a = sympy.Symbol("a")
        >>> gate_approx_eq(cirq.X ** (0.5 * a), cirq.X ** (0.5000001 * a))
        True
    """
    for name, gate in (("gate_true", gate_true), ("gate_deser", gate_deser)):
        if not isinstance(gate, cirq.Gate):
            raise TypeError(f"{name} must be a cirq.Gate, got {type(gate).__name__}")
    if not isinstance(atol, numbers.Real):
        raise TypeError(f"atol must be a real number, got {atol!r}")
    if isinstance(gate_true, cirq.ControlledGate) != isinstance(gate_deser,
                                                                cirq.ControlledGate):
        return False
    if isinstance(gate_true, cirq.ControlledGate):
        return (gate_true.control_qid_shape == gate_deser.control_qid_shape
                and gate_true.control_values == gate_deser.control_values
                and gate_approx_eq(gate_true.sub_gate, gate_deser.sub_gate, atol))
    first, second = _gate_fields(gate_true, "gate_true"), _gate_fields(gate_deser,
                                                                     "gate_deser")
    if first.keys() != second.keys():
        return False
    return all(_field_approx_eq(first[k], second[k], atol) for k in first)


def _gate_fields(gate: cirq.Gate, name: str) -> dict:
    try:
        if channels.is_channel(gate):
            return channels.encode_channel(gate)
        kind, fields = gates.encode_gate(gate)
    except UnsupportedGateError as error:
        raise ValueError(f"{name} is not a gate qml supports: {error}") from None
    return {"kind": kind, **fields}


def _field_approx_eq(first: Any, second: Any, atol: float) -> bool:
    if isinstance(first, dict) or isinstance(second, dict):
        return (isinstance(first, dict) and isinstance(second, dict)
                and first.keys() == second.keys()
                and all(_field_approx_eq(first[k], second[k], atol) for k in first))
    if isinstance(first, str) or isinstance(second, str):
        return first == second
    try:
        symbols = expressions.symbols_of(first), expressions.symbols_of(second)
    except UnsupportedExpressionError:  # arrays of numbers: matrices, Kraus operators
        try:
            return bool(np.allclose(np.asarray(first, float), np.asarray(second, float),
                                    atol=atol, rtol=0))
        except (TypeError, ValueError):  # different shapes
            return False
    if symbols[0] != symbols[1]:
        return False
    points = {name: np.random.default_rng(0).uniform(-2, 2, 4) for name in symbols[0]}
    return bool(np.allclose(expressions.evaluate(first, points),
                            expressions.evaluate(second, points), atol=atol, rtol=0))


def check_commutability(pauli_sum: cirq.PauliSum) -> None:
    """Checks that every pair of terms of ``pauli_sum`` commutes.

    Args:
        pauli_sum: a ``cirq.PauliSum``.

    Returns:
        None, if they all commute.

    Raises:
        ValueError: naming the first pair that does not commute.

    Example:
        >>> q = cirq.LineQubit.range(2)
        >>> check_commutability(cirq.X(q[0]) * cirq.X(q[1]) + cirq.Z(q[0]) * cirq.Z(q[1]))
    """
    terms = list(pauli_sum)
    for first, second in itertools.combinations(terms, 2):
        if not cirq.commutes(first, second):
            raise ValueError(f"the terms {first} and {second} of pauli_sum do not "
                             "commute, so exp of their sum is not a product of "
                             "exponentials")


def exp_identity(param: Any, c: float, zeroth_qubit: cirq.Qid) -> cirq.Circuit:
    """A circuit whose unitary is ``exp(-i * param * c)`` times the identity.

    ``Z**t X Z**t X`` is ``exp(i pi t)`` times the identity; here ``t = -param c / pi``.

    Args:
        param: a number or a ``sympy`` expression.
        c: a real factor.
        zeroth_qubit: the qubit that carries the phase.

    Returns:
        A four-gate ``cirq.Circuit``.

    Raises:
        TypeError: if ``param`` or ``c`` is not a real number or expression.

    Example:
        >>> q = cirq.LineQubit(0)
        >>> np.allclose(cirq.unitary(exp_identity(0.3, 2.0, q)), np.exp(-0.6j) * np.eye(2))
        True
    """
    for name, value in (("param", param), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, sympy.Basic)):
            raise TypeError(f"{name} must be a real number or a sympy expression, got "
                            f"{value!r}")
    phase = cirq.ZPowGate(exponent=-param * c / np.pi).on(zeroth_qubit)
    return cirq.Circuit([cirq.X(zeroth_qubit), phase, cirq.X(zeroth_qubit), phase])


def exponential(operators: Sequence[PauliOperator],
                coefficients: Optional[Sequence[Any]] = None) -> cirq.Circuit:
    """A circuit for ``prod_k exp(-i * coefficients[k] * operators[k])``.

    Each operator's terms must commute with each other (so its exponential is the
    product of its terms' exponentials) and have real coefficients. A string of
    Paulis becomes a change to the Z basis, a CNOT ladder onto its last qubit, one
    ``rz``, and the ladder and basis change undone; an identity term becomes a global
    phase (:func:`exp_identity`) on the operators' first qubit.

    Args:
        operators: ``cirq.PauliSum`` or ``cirq.PauliString`` objects.
        coefficients: one per operator: a number, a symbol, or a symbol's name; all 1
            by default.

    Returns:
        A ``cirq.Circuit``.

    Raises:
        TypeError: for an operator or coefficient of another type, or a complex term
            coefficient.
        ValueError: for a count mismatch or non-commuting terms.

    Example:
        >>> q = cirq.LineQubit.range(2)
        >>> circuit = exponential([cirq.X(q[0]) * cirq.Y(q[1])], coefficients=["t"])
        >>> get_circuit_symbols(circuit)
        ['t']
    """
    if not isinstance(operators, (list, tuple)):
        raise TypeError(f"operators must be a list of Pauli sums, got {operators!r:.80}")
    for index, operator in enumerate(operators):
        if not isinstance(operator, (cirq.PauliSum, cirq.PauliString)):
            raise TypeError(f"operators[{index}] must be a cirq.PauliSum or "
                            f"cirq.PauliString, got {type(operator).__name__}")
    if coefficients is None:
        coefficients = [1.0] * len(operators)
    if not isinstance(coefficients, (list, tuple, np.ndarray)):
        raise TypeError(f"coefficients must be a list, got {coefficients!r:.80}")
    if len(coefficients) != len(operators):
        raise ValueError(f"{len(operators)} operators but {len(coefficients)} "
                         "coefficients")
    params = []
    for index, coefficient in enumerate(coefficients):
        if isinstance(coefficient, str):
            coefficient = sympy.Symbol(coefficient)
        elif not isinstance(coefficient, (sympy.Symbol, numbers.Real)) or isinstance(
                coefficient, bool):
            raise TypeError(f"coefficients[{index}] must be a number, a sympy.Symbol or "
                            f"a symbol name, got {coefficient!r}")
        params.append(coefficient)
    sums = [cirq.PauliSum.wrap(op) for op in operators]
    all_qubits = sorted({q for pauli_sum in sums for q in pauli_sum.qubits})
    phase_qubit = all_qubits[0] if all_qubits else cirq.GridQubit(0, 0)
    circuit = cirq.Circuit()
    for param, pauli_sum in zip(params, sums):
        check_commutability(pauli_sum)
        for term in pauli_sum:
            if abs(complex(term.coefficient).imag) > 1e-9:
                raise TypeError(f"exponential takes real coefficients; the term {term} "
                                f"has {term.coefficient}")
            c = float(complex(term.coefficient).real)
            if not len(term):
                circuit += exp_identity(param, c, phase_qubit)
                continue
            circuit += _pauli_string_rotation(term, param, c)
    return circuit


def _pauli_string_rotation(term: cirq.PauliString, param: Any, c: float) -> cirq.Circuit:
    """``exp(-i * param * c * P)`` for the Pauli string ``P`` of ``term``."""
    into_z, out_of_z = [], []
    for qubit, pauli in term.items():
        if pauli == cirq.X:
            into_z.append(cirq.H(qubit))
            out_of_z.append(cirq.H(qubit))
        elif pauli == cirq.Y:
            into_z.append(cirq.rx(np.pi / 2)(qubit))
            out_of_z.append(cirq.rx(-np.pi / 2)(qubit))
    qubits = list(term.qubits)
    target = qubits[-1]
    ladder = [cirq.CNOT(q, target) for q in qubits[:-1]]
    return cirq.Circuit(into_z + ladder + [cirq.rz(2 * param * c)(target)]
                        + ladder[::-1] + out_of_z[::-1])
