"""Gate-parameter expressions: encoding, decoding and batched evaluation.

A gate parameter is a number or a sympy expression of symbols built from a closed set
of operations. It is stored as a small JSON tree (see docs/circuit-format.md):

* a JSON number is a constant;
* ``["sym", name]`` is a symbol;
* ``["rat", p, q]`` is the exact rational p/q, ``["pi"]`` and ``["E"]`` are constants;
* ``[op, arg, ...]`` applies ``op`` from :data:`FUNCTIONS` or ``add``, ``mul``, ``pow``.

Decoding builds sympy objects with their constructors, so no string is ever parsed
as code. Evaluation walks the tree once per batch with numpy, so a whole column of
symbol values is bound with a handful of vectorised operations.

Example:
    >>> import sympy
    >>> tree = encode(2 * sympy.Symbol("a") + 1)
    >>> evaluate(tree, {"a": np.array([0.0, 1.0])})
    array([1., 3.])
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable, Mapping, Optional, Union

import numpy as np
import sympy

from qml.errors import UnsupportedExpressionError

Tree = Union[int, float, list]

FUNCTIONS = {
    "sin": (sympy.sin, np.sin),
    "cos": (sympy.cos, np.cos),
    "tan": (sympy.tan, np.tan),
    "exp": (sympy.exp, np.exp),
    "log": (sympy.log, np.log),
}
_FUNCTION_BY_SYMPY = {sympy_fn: name for name, (sympy_fn, _) in FUNCTIONS.items()}


def encode(value: object) -> Tree:
    """Encodes a number or a sympy expression as a JSON-compatible tree.

    Raises:
        UnsupportedExpressionError: if the expression uses anything outside the
            closed set of numbers, symbols, + - * /, powers, sin, cos, tan, exp, log
            and sqrt.
    """
    if isinstance(value, bool):
        raise UnsupportedExpressionError(f"gate parameter must be a number, got {value!r}")
    if not isinstance(value, sympy.Basic):  # sympy numbers register as numbers.Real too
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        raise UnsupportedExpressionError(
            f"gate parameter must be a real number or a sympy expression, got {value!r} "
            f"of type {type(value).__name__}"
        )
    if isinstance(value, sympy.Symbol):
        return ["sym", value.name]
    if isinstance(value, sympy.Integer):
        return int(value)
    if isinstance(value, sympy.Rational):
        return ["rat", int(value.p), int(value.q)]
    if isinstance(value, sympy.Float):
        return float(value)
    if value is sympy.pi:
        return ["pi"]
    if value is sympy.E:
        return ["E"]
    if isinstance(value, sympy.Add):
        return ["add", *(encode(arg) for arg in value.args)]
    if isinstance(value, sympy.Mul):
        return ["mul", *(encode(arg) for arg in value.args)]
    if isinstance(value, sympy.Pow):
        return ["pow", encode(value.base), encode(value.exp)]
    name = _FUNCTION_BY_SYMPY.get(value.func)
    if name is not None:
        return [name, encode(value.args[0])]
    raise UnsupportedExpressionError(
        f"gate parameter {value} uses {value.func.__name__}, which qml cannot evaluate; "
        "supported are numbers, symbols, + - * /, powers, sin, cos, tan, exp, log and sqrt"
    )


def decode(tree: Tree) -> Union[float, sympy.Expr]:
    """Builds the number or sympy expression that ``tree`` encodes."""
    if isinstance(tree, bool):
        raise UnsupportedExpressionError(f"malformed expression {tree!r}")
    if isinstance(tree, (int, float)):
        return tree
    head, args = _split(tree)
    if head == "sym":
        return sympy.Symbol(_string_arg(tree))
    if head == "rat":
        p, q = _int_args(tree, 2)
        return sympy.Rational(p, q)
    if head == "pi" and not args:
        return sympy.pi
    if head == "E" and not args:
        return sympy.E
    decoded = [_as_sympy(decode(arg)) for arg in args]
    if head == "add" and decoded:
        return sympy.Add(*decoded)
    if head == "mul" and decoded:
        return sympy.Mul(*decoded)
    if head == "pow" and len(decoded) == 2:
        return sympy.Pow(*decoded)
    if head in FUNCTIONS and len(decoded) == 1:
        return FUNCTIONS[head][0](decoded[0])
    raise UnsupportedExpressionError(f"malformed expression {tree!r}")


NO_SYMBOLS: frozenset[str] = frozenset()
"""The empty symbol set that compiled programs share: a program holds a symbol set per
gate and per block, and every distinct empty set would be one more object for
Python's cyclic garbage collector to scan."""


def symbol_union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    """The union of symbol sets (:data:`NO_SYMBOLS` when it is empty).

    Example:
        >>> sorted(symbol_union([frozenset({"a"}), NO_SYMBOLS, frozenset({"b"})]))
        ['a', 'b']
    """
    return frozenset().union(*sets) or NO_SYMBOLS


def symbols_of(tree: Tree) -> frozenset[str]:
    """Names of the symbols that ``tree`` uses.

    Raises:
        UnsupportedExpressionError: for a malformed tree, or a number in it that is not
            a finite float.
    """
    if isinstance(tree, (int, float)):
        try:
            finite = math.isfinite(float(tree))
        except OverflowError:
            finite = False
        if not finite:
            raise UnsupportedExpressionError(
                f"the number {str(tree)[:40]} in an expression is not a finite float")
        return NO_SYMBOLS
    head, args = _split(tree)
    if head == "sym":
        return frozenset([_string_arg(tree)])
    return symbol_union(symbols_of(arg) for arg in args)


NUMPY_FUNCTIONS = {"pow": np.power, **{name: fn for name, (_, fn) in FUNCTIONS.items()}}


def evaluate(tree: Tree, columns: Mapping[str, np.ndarray],
             functions: Mapping = NUMPY_FUNCTIONS) -> Union[float, np.ndarray]:
    """Evaluates ``tree``, each symbol bound to a column of values.

    ``functions`` maps ``pow``, ``sin``, ``cos``, ``tan``, ``exp`` and ``log`` to
    implementations: numpy's by default, TensorFlow's in the TensorFlow executor.
    Returns a float for a constant tree, else an array shaped like the columns.
    """
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return float(tree)
    head, args = _split(tree)
    if head == "sym":
        return columns[_string_arg(tree)]
    if head == "rat":
        p, q = _int_args(tree, 2)
        return p / q
    if head == "pi":
        return np.pi
    if head == "E":
        return np.e
    values = [evaluate(arg, columns, functions) for arg in args]
    if head == "add" and values:
        return sum(values[1:], values[0])
    if head == "mul" and values:
        result = values[0]
        for value in values[1:]:
            result = result * value
        return result
    if head == "pow" and len(values) == 2:
        with np.errstate(all="ignore"):
            return functions["pow"](values[0], values[1])
    if head in FUNCTIONS and len(values) == 1:
        with np.errstate(all="ignore"):
            return functions[head](values[0])
    raise UnsupportedExpressionError(f"malformed expression {tree!r}")


def value_and_derivative(tree: Tree, columns: Mapping[str, np.ndarray],
                         name: str) -> tuple[Union[float, np.ndarray], Union[float, np.ndarray]]:
    """``tree`` and its exact derivative in symbol ``name``, evaluated with numpy.

    Example:
        >>> value_and_derivative(encode(sympy.sin(2 * sympy.Symbol("a"))),
        ...                      {"a": np.array([0.0])}, "a")
        (array([0.]), array([2.]))
    """
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return float(tree), 0.0
    head, args = _split(tree)
    if head == "sym":
        symbol = _string_arg(tree)
        return columns[symbol], (1.0 if symbol == name else 0.0)
    if head in ("rat", "pi", "E"):
        return evaluate(tree, columns), 0.0
    pairs = [value_and_derivative(arg, columns, name) for arg in args]
    with np.errstate(all="ignore"):
        if head == "add" and pairs:
            return (sum((v for v, _ in pairs[1:]), pairs[0][0]),
                    sum((d for _, d in pairs[1:]), pairs[0][1]))
        if head == "mul" and pairs:
            value, slope = pairs[0]
            for v, d in pairs[1:]:
                value, slope = value * v, slope * v + value * d
            return value, slope
        if head == "pow" and len(pairs) == 2:
            (base, d_base), (power, d_power) = pairs
            value = np.power(base, power)
            slope = power * np.power(base, power - 1) * d_base
            if np.any(d_power != 0):  # the log term only where the exponent varies
                slope = slope + value * np.log(base) * d_power
            return value, slope
        if head in _DERIVATIVES and len(pairs) == 1:
            (value, slope), = pairs
            return FUNCTIONS[head][1](value), _DERIVATIVES[head](value) * slope
    raise UnsupportedExpressionError(f"malformed expression {tree!r}")


def affine(tree: Tree) -> Optional[tuple[dict[str, float], float]]:
    """``tree`` as ``sum(slope[s] * s) + offset`` when it is affine in its symbols (as
    ``2 * a - b / 3 + 1`` is), else None. Rotation angles and exponents usually are,
    which lets a batch bind them with one matrix product.

    Example:
        >>> affine(encode(2 * sympy.Symbol("a") - 1))
        ({'a': 2.0}, -1.0)
        >>> affine(encode(sympy.sin(sympy.Symbol("a")))) is None
        True
    """
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return {}, float(tree)
    head, args = _split(tree)
    if head == "sym":
        return {_string_arg(tree): 1.0}, 0.0
    if not symbols_of(tree):
        return {}, float(evaluate(tree, {}))
    parts = [affine(arg) for arg in args]
    if any(part is None for part in parts):
        return None
    if head == "add" and parts:
        slopes: dict[str, float] = {}
        for part_slopes, _ in parts:
            for name, slope in part_slopes.items():
                slopes[name] = slopes.get(name, 0.0) + slope
        return slopes, sum(offset for _, offset in parts)
    if head == "mul" and parts:
        varying = [part for part in parts if part[0]]
        if len(varying) > 1:
            return None
        factor = math.prod(offset for part_slopes, offset in parts if not part_slopes)
        slopes, offset = varying[0] if varying else ({}, 1.0)
        return {name: factor * slope for name, slope in slopes.items()}, factor * offset
    return None


_DERIVATIVES = {
    "sin": np.cos,
    "cos": lambda x: -np.sin(x),
    "tan": lambda x: 1.0 / np.cos(x) ** 2,
    "exp": np.exp,
    "log": lambda x: 1.0 / x,
}


def _split(tree: object) -> tuple[str, list]:
    if not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise UnsupportedExpressionError(f"malformed expression {tree!r}")
    return tree[0], tree[1:]


def _string_arg(tree: list) -> str:
    if len(tree) != 2 or not isinstance(tree[1], str):
        raise UnsupportedExpressionError(f"malformed expression {tree!r}")
    return tree[1]


def _int_args(tree: list, count: int) -> list[int]:
    args = tree[1:]
    if len(args) != count or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in args
    ):
        raise UnsupportedExpressionError(f"malformed expression {tree!r}")
    if any(abs(a) >= 2**63 for a in args):
        raise UnsupportedExpressionError(f"malformed expression {tree!r}: integer too large")
    if tree[0] == "rat" and args[1] == 0:
        raise UnsupportedExpressionError(f"malformed expression {tree!r}: zero denominator")
    return args


def _as_sympy(value: Union[float, sympy.Expr]) -> sympy.Expr:
    if isinstance(value, sympy.Basic):
        return value
    return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
