"""Exact gradients by the parameter-shift rule, with as many shifts as frequencies.

Every native gate is ``sum_m exp(i phase_m) M_m`` with phases linear in each
parameter ``p`` (see :func:`qml.circuits.gates.fourier_terms`). An expectation is
then a trigonometric polynomial in ``p`` whose frequencies ``w_1 .. w_R`` are the
positive differences of the phase slopes (with 0 added for a controlled gate, which
acts as the identity elsewhere). Its derivative is exactly
``sum_j c_j (f(p + s_j) - f(p - s_j))`` for ``R`` shifts ``s_j``, whose coefficients
solve ``sum_j 2 c_j sin(w_r s_j) = w_r``. A single frequency ``w`` gives the familiar
``(w / 2) (f(p + pi / 2w) - f(p - pi / 2w))``; ISwapPow, PhasedXPow's phase, FSim's
theta and controlled rotations need two pairs of shifts.

The rule is applied to each parameter of each gate on its own, by running a copy of
the program in which that one parameter is offset by a reserved shift symbol. The
chain rule then carries each gate parameter's derivative to the symbols of its
expression.

Example:
    >>> ParameterShift().get_config()
    {}
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Optional

import keras
import numpy as np
import sympy

from qml.circuits import blocks, compiler, expressions, gates, serialize
from qml.differentiators.base import Differentiator, RowGradient
from qml.errors import UnsupportedGateError
from qml.executors.base import Batch, Executor, evaluate

SHIFT_SYMBOL = "__qml_parameter_shift__"



@dataclasses.dataclass(frozen=True)
class _Occurrence:
    """One parameterized gate parameter: where it is and how it enters."""

    segment: int
    block: int
    step: int
    name: str
    shifts: tuple[float, ...]
    coefficients: tuple[float, ...]


@keras.saving.register_keras_serializable(package="qml")
class ParameterShift(Differentiator):
    """Exact gradients from shifted evaluations of each parameterized gate parameter.

    Every parameter of every native gate is supported, controlled or not, as long as
    its phases are linear in it: a global shift and an exponent that are both symbolic
    in one gate are not, and raise ``UnsupportedGateError`` (use ``Adjoint`` or
    ``CentralDifference`` for those). Each parameter costs two evaluations per
    frequency of the gate in it, usually one or two.

    Raises:
        UnsupportedGateError: from a gradient, for a gate whose phases are not linear
            in its parameter.
        ValueError: from a gradient, for a symbol named ``__qml_parameter_shift__``,
            which it reserves.

    Example:
        >>> import cirq, sympy, tensorflow as tf, qml
        >>> q = cirq.LineQubit(0)
        >>> layer = qml.layers.Expectation(differentiator=ParameterShift())
        >>> angle = tf.Variable([[0.5]])
        >>> with tf.GradientTape() as tape:
        ...     z = layer(cirq.Circuit(cirq.ry(sympy.Symbol("a"))(q)), symbol_names=["a"],
        ...               symbol_values=angle, operators=cirq.Z(q))
        >>> round(float(tape.gradient(z, angle)[0, 0]), 4)  # d cos(a) / da = -sin(0.5)
        -0.4794
    """

    def differentiate_analytic(
        self, executor: Executor, batch: Batch, upstream: np.ndarray
    ) -> np.ndarray:
        size, num_symbols = batch.symbol_values.shape
        grad = np.zeros((size, num_symbols), np.float64)
        if size == 0 or num_symbols == 0:
            return grad.astype(np.float32)
        if SHIFT_SYMBOL in batch.symbol_names:
            raise ValueError(f"the symbol name {SHIFT_SYMBOL!r} is reserved by ParameterShift")
        groups: dict[int, list[int]] = {}
        for row, row_program in enumerate(batch.programs):
            groups.setdefault(id(row_program), []).append(row)

        # Two copies of each row per parameter occurrence: shifted up, then down.
        programs, values, operators, source_rows, records = [], [], [], [], []
        for rows in groups.values():
            rows = np.asarray(rows)
            row_program = batch.programs[rows[0]]
            row_values = batch.symbol_values[rows]
            row_operators = [batch.operators[row] for row in rows]
            for occurrence in _occurrences(row_program):
                for shift in occurrence.shifts:
                    records.append((rows, occurrence, shift, len(programs)))
                    for sign in (1.0, -1.0):
                        programs += [_shifted(row_program, occurrence)] * len(rows)
                        column = np.full((len(rows), 1), sign * shift, np.float32)
                        values.append(np.concatenate([row_values, column], axis=1))
                        operators += row_operators
                        source_rows.append(rows)
        if not programs:
            return grad.astype(np.float32)

        shifted_batch = dataclasses.replace(
            batch, programs=tuple(programs),
            symbol_names=batch.symbol_names + (SHIFT_SYMBOL,),
            symbol_values=np.concatenate(values).astype(np.float32),
            operators=tuple(operators),
            estimation=batch.estimation.for_rows(np.concatenate(source_rows)))
        expectations = evaluate(executor, shifted_batch).astype(np.float64)
        index = {name: k for k, name in enumerate(batch.symbol_names)}
        for rows, occurrence, shift, start in records:
            count = len(rows)
            plus = expectations[start:start + count]
            minus = expectations[start + count:start + 2 * count]
            weighted = np.sum(upstream[rows] * (plus - minus), axis=1)
            weighted *= occurrence.coefficients[occurrence.shifts.index(shift)]
            tree = _tree(batch.programs[rows[0]], occurrence)
            columns = {name: batch.symbol_values[rows, index[name]].astype(np.float64)
                       for name in expressions.symbols_of(tree)}
            for name in expressions.symbols_of(tree):
                slope = expressions.evaluate(_derivative(_key(tree), name), columns)
                grad[rows, index[name]] += weighted * np.broadcast_to(slope, (count,))
        return grad.astype(np.float32)

    def _gradient_symbol_names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        if SHIFT_SYMBOL in names:
            raise ValueError(f"the symbol name {SHIFT_SYMBOL!r} is reserved by ParameterShift")
        return names + (SHIFT_SYMBOL,)

    def _row_gradient(self, row: bytes, names: tuple[str, ...],
                      values: np.ndarray) -> RowGradient:
        """Per gate parameter, the circuit with that parameter offset by the shift
        symbol, run at each ``+s_j`` and ``-s_j``."""
        parsed = serialize.parse_row(row)
        index = {name: k for k, name in enumerate(names)}
        columns = {name: values[k:k + 1] for k, name in enumerate(names)}
        gradient = RowGradient([], [], [[] for _ in names])
        for m, moment in enumerate(parsed["moments"]):
            for k, op in enumerate(moment):
                fields = parsed["gates"][op[0]]
                if fields["g"] not in gates.KIND_PARAMS:
                    continue
                gate = compiler.compile_gate(fields)
                for name in gates.KIND_PARAMS[gate.kind]:
                    rule = _shift_rule_of(gate, name, controlled=len(op) == 4)
                    if rule is None:
                        continue
                    tree = fields[name]
                    moments = [list(ops) for ops in parsed["moments"]]
                    moments[m][k] = [len(parsed["gates"])] + op[1:]
                    shifted = {**fields, name: ["add", tree, ["sym", SHIFT_SYMBOL]]}
                    circuit = json.dumps(
                        {**parsed, "gates": parsed["gates"] + [shifted], "moments": moments},
                        separators=(",", ":")).encode()
                    slopes = {symbol: float(np.reshape(expressions.evaluate(
                        _derivative(_key(tree), symbol), columns), -1)[0])
                        for symbol in expressions.symbols_of(tree)}
                    for shift, coefficient in zip(*rule):
                        for sign in (1.0, -1.0):
                            for symbol, slope in slopes.items():
                                gradient.terms[index[symbol]].append(
                                    (len(gradient.circuits), sign * coefficient * slope))
                            gradient.circuits.append(circuit)
                            gradient.values.append(np.append(values, sign * shift))
        return gradient

    def get_config(self) -> dict:
        return {}


def _key(tree: expressions.Tree) -> str:
    return json.dumps(tree, separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def _derivative(tree_key: str, symbol: str) -> expressions.Tree:
    """The derivative of an expression tree with respect to ``symbol``, as a tree."""
    expression = expressions.decode(json.loads(tree_key))
    return expressions.encode(sympy.diff(expression, sympy.Symbol(symbol)))


def _step(row_program, occurrence: _Occurrence) -> blocks.Step:
    program = row_program.segments[occurrence.segment].program
    return program.blocks[occurrence.block].steps[occurrence.step]


def _tree(row_program, occurrence: _Occurrence) -> expressions.Tree:
    return _step(row_program, occurrence).gate.fields[occurrence.name]


@compiler.cached_on_program
def _occurrences(row_program) -> tuple[_Occurrence, ...]:
    """Every parameter of every gate that depends on a symbol, with its shift rule."""
    found = []
    for s, segment in enumerate(row_program.segments):
        for b, block in enumerate(segment.program.blocks):
            for t, step in enumerate(block.steps):
                for name in gates.KIND_PARAMS.get(step.gate.kind, ()):
                    rule = _shift_rule_of(step.gate, name, bool(block.controls))
                    if rule is not None:
                        found.append(_Occurrence(s, b, t, name, *rule))
    return tuple(found)


def _shift_rule_of(gate: blocks.Gate, name: str,
                   controlled: bool) -> Optional[tuple[tuple[float, ...], tuple[float, ...]]]:
    """The shifts and coefficients for parameter ``name`` of ``gate``; None where it
    holds no symbol or the expectation does not depend on it.

    Raises:
        UnsupportedGateError: where the gate's phases are not linear in the parameter.
    """
    symbols = expressions.symbols_of(gate.fields[name])
    if not symbols:
        return None
    frequencies = _frequencies(gate, name, controlled)
    if frequencies is None:
        raise UnsupportedGateError(
            f"ParameterShift cannot differentiate parameter {name!r} of a "
            f"{'controlled ' if controlled else ''}{gate.kind} gate "
            f"(symbols {sorted(symbols)}): its phases are not linear in "
            "it; use qml.differentiators.Adjoint or CentralDifference"
        )
    return shift_rule(frequencies) if frequencies else None


def _frequencies(gate: blocks.Gate, name: str, controlled: bool) -> Optional[tuple]:
    """The frequencies of an expectation in gate parameter ``name``; None if the
    gate's phases are not linear in it."""
    constants = {field: float(expressions.evaluate(gate.fields[field], {}))
                 for field in gates.KIND_PARAMS[gate.kind]
                 if not expressions.symbols_of(gate.fields[field])}
    slopes = set()
    for term in gates.fourier_terms(gate.kind, gate.fields):
        slope = gates.phase_slope(term.phase, name, constants)
        if slope is None:
            return None
        slopes.add(round(slope, 9))
    if controlled:
        slopes.add(0.0)
    return tuple(sorted({round(abs(a - b), 9) for a in slopes for b in slopes} - {0.0}))


@functools.lru_cache(maxsize=1024)
def shift_rule(frequencies: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Shifts ``s_j`` and coefficients ``c_j`` with
    ``f'(p) = sum_j c_j (f(p + s_j) - f(p - s_j))`` for these frequencies.

    Frequencies that are multiples of the smallest are completed to an equally spaced
    set, for which the shifts ``(2j - 1) pi / (2 R w)`` are well conditioned.

    Example:
        >>> shift_rule((2.0,))
        ((0.7853981633974483,), (1.0,))
    """
    base = min(frequencies)
    multiples = np.asarray(frequencies) / base
    if np.allclose(multiples, np.round(multiples), atol=1e-9):
        frequencies = tuple(base * k for k in range(1, int(round(multiples.max())) + 1))
    count = len(frequencies)
    shifts = np.array([(2 * j - 1) * np.pi / (2 * count * min(frequencies))
                       for j in range(1, count + 1)])
    omega = np.asarray(frequencies)
    system = 2 * np.sin(omega[:, None] * shifts[None, :])
    coefficients = np.linalg.solve(system, omega)
    return tuple(float(x) for x in shifts), tuple(float(x) for x in coefficients)


@compiler.cached_on_program
def _shifted(row_program, occurrence: _Occurrence):
    """``row_program`` with one gate parameter offset by the shift symbol."""
    segment = row_program.segments[occurrence.segment]
    program = _shifted_program(segment.program, occurrence.block, occurrence.step,
                               occurrence.name)
    if isinstance(row_program, compiler.Program):
        return program
    segments = list(row_program.segments)
    segments[occurrence.segment] = compiler.Segment(program, segment.positions)
    return compiler.Joined(row_program.qubits, tuple(segments),
                           row_program.symbols | {SHIFT_SYMBOL})


@compiler.cached_on_program
def _shifted_program(program: compiler.Program, block_index: int, step_index: int,
                     name: str) -> compiler.Program:
    fields = dict(program.blocks[block_index].steps[step_index].gate.fields)
    fields[name] = ["add", fields[name], ["sym", SHIFT_SYMBOL]]
    return dataclasses.replace(
        program, fused=program.fused.with_step_gate(block_index, step_index, fields))

