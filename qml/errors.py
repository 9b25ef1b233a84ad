"""The typed errors that qml raises for bad input.

Each subclasses the built-in exception a caller would expect (``ValueError``,
``TypeError`` or ``MemoryError``), so ``except ValueError`` keeps working, and each
message names the offending argument and the value received.

Example:
    >>> import qml
    >>> try:
    ...     qml.convert_to_tensor([42])
    ... except qml.errors.NotACircuitError as error:
    ...     print("rejected")
    rejected
"""

__all__ = [
    "UnsupportedGateError", "UnsupportedExpressionError", "MissingSymbolError",
    "NonFiniteValueError", "BatchSizeError", "QubitMismatchError",
    "StateTooLargeError", "CircuitFormatError", "NotACircuitError", "MeasurementError",
    "NoisyCircuitError", "SymbolNamesError", "SymbolValuesError", "ShapeError",
]



class UnsupportedGateError(ValueError):
    """A circuit holds a gate that qml cannot simulate.

    Raised, for example, for a gate outside the native set on more than 4 qubits.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> wide = cirq.MatrixGate(cirq.testing.random_unitary(32, random_state=1))
        >>> qml.convert_to_tensor([cirq.Circuit(wide(*cirq.LineQubit.range(5)))])
        Traceback (most recent call last):
        ...
        qml.errors.UnsupportedGateError: ...
    """


class UnsupportedExpressionError(ValueError):
    """A gate parameter is not an expression that qml can evaluate.

    Raised, for example, for a parameter using a function outside qml's closed set.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.convert_to_tensor([cirq.Circuit(cirq.rx(sympy.Abs(a))(q[0]))])
        Traceback (most recent call last):
        ...
        qml.errors.UnsupportedExpressionError: ...
    """


class MissingSymbolError(ValueError):
    """A circuit uses a symbol that is not in ``symbol_names``.

    Raised, for example, for a circuit symbol that ``symbol_names`` lacks.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.Expectation()(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=[],
        ...                           symbol_values=[[]], operators=cirq.Z(q[0]))
        Traceback (most recent call last):
        ...
        qml.errors.MissingSymbolError: ...
    """


class NonFiniteValueError(ValueError):
    """``symbol_values`` holds NaN or infinity.

    Raised, for example, for a NaN symbol value.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.State()(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=["a"],
        ...                    symbol_values=[[float("nan")]])
        Traceback (most recent call last):
        ...
        qml.errors.NonFiniteValueError: ...
    """


class BatchSizeError(ValueError):
    """Inputs that must share a batch dimension do not.

    Raised, for example, for more rows of values than circuits.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.State()([cirq.Circuit(cirq.rx(a)(q[0]))], symbol_names=["a"],
        ...                    symbol_values=[[0.1], [0.2]])
        Traceback (most recent call last):
        ...
        qml.errors.BatchSizeError: ...
    """


class QubitMismatchError(ValueError):
    """An operator acts on qubits that its circuit does not have.

    Raised, for example, for an operator on a qubit the circuit does not have.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.Expectation()(cirq.Circuit(cirq.X(q[0])), operators=cirq.Z(q[2]))
        Traceback (most recent call last):
        ...
        qml.errors.QubitMismatchError: ...
    """


class StateTooLargeError(MemoryError):
    """A state vector would not fit in this machine's memory.

    Raised, for example, for a state of 45 qubits.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.State()(cirq.Circuit(cirq.X.on_each(cirq.LineQubit.range(45))))
        Traceback (most recent call last):
        ...
        qml.errors.StateTooLargeError: ...
    """


class CircuitFormatError(ValueError):
    """A serialized circuit or operator is malformed or truncated.

    Raised, for example, for a row that is not a serialized circuit.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.from_tensor(["not a circuit"])
        Traceback (most recent call last):
        ...
        qml.errors.CircuitFormatError: ...
    """


class NotACircuitError(TypeError):
    """Something that is not a circuit (or operator) was passed as one.

    Raised, for example, for a number where a circuit belongs.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.convert_to_tensor([42])
        Traceback (most recent call last):
        ...
        qml.errors.NotACircuitError: ...
    """


class MeasurementError(ValueError):
    """A measurement stands where it cannot, for example mid-circuit.

    Raised, for example, for a gate after a measurement of its qubit.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.layers.Sample()(cirq.Circuit(cirq.measure(q[0]), cirq.rx(0.5)(q[0])),
        ...                     repetitions=3)
        Traceback (most recent call last):
        ...
        qml.errors.MeasurementError: ...
    """


class NoisyCircuitError(ValueError):
    """A circuit with noise channels went to a computation of pure states.

    Raised, for example, for a noise channel in an exact expectation on qsim.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> noisy = cirq.Circuit(cirq.X(q[0]), cirq.depolarize(0.1)(q[0]))
        >>> qml.layers.Expectation(backend="qsim")(noisy, operators=cirq.Z(q[0]))
        Traceback (most recent call last):
        ...
        qml.errors.NoisyCircuitError: ...
    """


class SymbolNamesError(ValueError):
    """``symbol_names`` is not a list of distinct names (strings or ``sympy.Symbol``).

    Raised, for example, for a name given twice.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.resolve_parameters([cirq.Circuit()], ["a", "a"], [[0.1, 0.2]])
        Traceback (most recent call last):
        ...
        qml.errors.SymbolNamesError: ...
    """


class SymbolValuesError(ValueError):
    """``symbol_values`` is not a real ``[batch, n_symbols]`` array.

    Raised, for example, for a 1-D array of values.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> qml.resolve_parameters([cirq.Circuit()], ["a"], [0.1])
        Traceback (most recent call last):
        ...
        qml.errors.SymbolValuesError: ...
    """


class ShapeError(ValueError):
    """A circuit or operator tensor has the wrong rank.

    Raised, for example, for a 2-D circuit tensor.

    Example:
        >>> import cirq, sympy, qml
        >>> q, a = cirq.LineQubit.range(3), sympy.Symbol("a")
        >>> grid = qml.convert_to_tensor([[cirq.Circuit(cirq.X(q[0]))]])
        >>> qml.layers.Expectation()(grid, operators=cirq.Z(q[0]))
        Traceback (most recent call last):
        ...
        qml.errors.ShapeError: ...
    """
