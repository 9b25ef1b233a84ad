"""Exact gradients by the parameter-shift rule.

A gate parameter ``p`` that enters a gate with a single frequency ``w`` (its
eigenphases differ by ``w * p`` and nothing else) makes every expectation a function
``a + b cos(w p) + c sin(w p)``, whose derivative is exactly
``(w / 2) * (f(p + pi / (2 w)) - f(p - pi / (2 w)))``. The rule is applied to each
parameterized gate of a circuit on its own, by running a copy of the program in which
that one parameter is offset by a reserved shift symbol. The chain rule then carries
each gate parameter's derivative to the symbols of its expression.

Example:
    >>> ParameterShift().get_config()
    {}
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Optional

import numpy as np
import sympy

from qml.circuits import compiler, expressions, gates
from qml.differentiators.base import Differentiator
from qml.errors import UnsupportedGateError
from qml.executors.base import Batch, Executor

SHIFT_SYMBOL = "__qml_parameter_shift__"

# Eigen gates whose exponent t has eigenphases pi * t * {0, 1} (+ a global shift).
_TWO_LEVEL = {kind for kind in gates.EIGEN_GATES
              if list(gates.eigen_shifts(kind)) == [0.0, 1.0]}
_EXPONENT_FREQUENCY = np.pi  # frequency of an exponent t, in radians per unit of t
_ANGLE_FREQUENCY = 1.0  # frequency of an angle in radians


@dataclasses.dataclass(frozen=True)
class _Occurrence:
    """One parameterized gate parameter: where it is and how it enters."""

    segment: int
    block: int
    step: int
    name: str
    frequency: float


class ParameterShift(Differentiator):
    """Exact gradients from two shifted evaluations per parameterized gate parameter.

    Supports parameters with a single frequency: the exponent of XPow, YPow, ZPow,
    HPow, XX/YY/ZZPow, CZPow, CXPow, SwapPow, CCXPow and CCZPow (also controlled, when
    their global shift is 0), the angle of rx, ry and rz (uncontrolled), the exponent
    of PhasedXPow, x and z of PhasedXZ, and phi of FSim. Global shifts of uncontrolled
    gates have zero derivative. Other parameters raise ``UnsupportedGateError``; use
    ``CentralDifference`` for those.

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
        programs, values, operators, records = [], [], [], []
        for rows in groups.values():
            rows = np.asarray(rows)
            row_program = batch.programs[rows[0]]
            row_values = batch.symbol_values[rows]
            row_operators = [batch.operators[row] for row in rows]
            for occurrence in _occurrences(row_program):
                shift = np.pi / (2 * occurrence.frequency)
                records.append((rows, occurrence, len(programs)))
                for sign in (1.0, -1.0):
                    programs += [_shifted(row_program, occurrence)] * len(rows)
                    column = np.full((len(rows), 1), sign * shift, np.float32)
                    values.append(np.concatenate([row_values, column], axis=1))
                    operators += row_operators
        if not programs:
            return grad.astype(np.float32)

        shifted_batch = Batch(tuple(programs), batch.symbol_names + (SHIFT_SYMBOL,),
                              np.concatenate(values).astype(np.float32), tuple(operators))
        expectations = executor.expectation(shifted_batch).astype(np.float64)
        index = {name: k for k, name in enumerate(batch.symbol_names)}
        for rows, occurrence, start in records:
            count = len(rows)
            plus = expectations[start:start + count]
            minus = expectations[start + count:start + 2 * count]
            weighted = np.sum(upstream[rows] * (plus - minus), axis=1)
            weighted *= occurrence.frequency / 2
            tree = _tree(batch.programs[rows[0]], occurrence)
            columns = {name: batch.symbol_values[rows, index[name]].astype(np.float64)
                       for name in expressions.symbols_of(tree)}
            for name in expressions.symbols_of(tree):
                slope = expressions.evaluate(_derivative(_key(tree), name), columns)
                grad[rows, index[name]] += weighted * np.broadcast_to(slope, (count,))
        return grad.astype(np.float32)

    def get_config(self) -> dict:
        return {}


def _key(tree: expressions.Tree) -> str:
    return json.dumps(tree, separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def _derivative(tree_key: str, symbol: str) -> expressions.Tree:
    """The derivative of an expression tree with respect to ``symbol``, as a tree."""
    expression = expressions.decode(json.loads(tree_key))
    return expressions.encode(sympy.diff(expression, sympy.Symbol(symbol)))


def _step(row_program, occurrence: _Occurrence) -> compiler.Step:
    program = row_program.segments[occurrence.segment].program
    return program.blocks[occurrence.block].steps[occurrence.step]


def _tree(row_program, occurrence: _Occurrence) -> expressions.Tree:
    return _step(row_program, occurrence).gate.fields[occurrence.name]


@functools.lru_cache(maxsize=4096)
def _occurrences(row_program) -> tuple[_Occurrence, ...]:
    """Every parameter of every gate that depends on a symbol, with its frequency."""
    found = []
    for s, segment in enumerate(row_program.segments):
        for b, block in enumerate(segment.program.blocks):
            for t, step in enumerate(block.steps):
                gate = step.gate
                for name in gates.KIND_PARAMS.get(gate.kind, ()):
                    symbols = expressions.symbols_of(gate.fields[name])
                    if not symbols:
                        continue
                    frequency = _frequency(gate, name, bool(block.controls))
                    if frequency is None:
                        raise UnsupportedGateError(
                            f"ParameterShift cannot differentiate parameter {name!r} of a "
                            f"{'controlled ' if block.controls else ''}{gate.kind} gate "
                            f"(symbols {sorted(symbols)}): it does not enter with a single "
                            "frequency; use qml.differentiators.CentralDifference"
                        )
                    if frequency:
                        found.append(_Occurrence(s, b, t, name, frequency))
    return tuple(found)


def _frequency(gate: compiler.Gate, name: str, controlled: bool) -> Optional[float]:
    """The single frequency of a parameter, 0 if it cannot matter, None if unsupported."""
    kind = gate.kind
    shift_is_zero = not expressions.symbols_of(gate.fields.get("s", 0)) and \
        expressions.evaluate(gate.fields.get("s", 0), {}) == 0
    if name == "s":  # a global shift: a global phase, unless the gate is controlled
        return None if controlled else 0.0
    if kind in _TWO_LEVEL or kind == "PhasedXPow" and name == "t":
        if kind == "PhasedXPow" and expressions.symbols_of(gate.fields["p"]):
            return None
        return _EXPONENT_FREQUENCY if (not controlled or shift_is_zero) else None
    if controlled:
        return None
    if kind in gates.ROTATIONS:
        return _ANGLE_FREQUENCY
    if kind == "PhasedXZ" and name in ("x", "z"):
        return _EXPONENT_FREQUENCY
    if kind == "FSim" and name == "phi":
        return _ANGLE_FREQUENCY
    return None


@functools.lru_cache(maxsize=65536)
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


@functools.lru_cache(maxsize=65536)
def _shifted_program(program: compiler.Program, block_index: int, step_index: int,
                     name: str) -> compiler.Program:
    block = program.blocks[block_index]
    step = block.steps[step_index]
    fields = dict(step.gate.fields)
    fields[name] = ["add", fields[name], ["sym", SHIFT_SYMBOL]]
    gate = compiler.Gate(step.gate.kind, fields, step.gate.symbols | {SHIFT_SYMBOL})
    steps = list(block.steps)
    steps[step_index] = compiler.Step(gate, step.places)
    blocks = list(program.blocks)
    blocks[block_index] = dataclasses.replace(block, steps=tuple(steps), constant=None)
    return compiler.Program(program.qubits, tuple(blocks), program.symbols | {SHIFT_SYMBOL})

