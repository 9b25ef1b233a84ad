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
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> wide = cirq.MatrixGate(cirq.testing.random_unitary(32, random_state=1))
        >>> try:
        ...     layer(cirq.Circuit(wide(*cirq.LineQubit.range(5))), operators=cirq.Z(q[0]))
        ... except qml.errors.UnsupportedGateError as error:
        ...     print("refused")
        refused
    """


class UnsupportedExpressionError(ValueError):
    """A gate parameter is not an expression that qml can evaluate.

    Raised, for example, for a parameter using a function outside qml's closed set.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.rx(sympy.Abs(a))(q[0])), symbol_names=["a"],
        ...           symbol_values=[[0.5]], operators=cirq.Z(q[0]))
        ... except qml.errors.UnsupportedExpressionError as error:
        ...     print(str(error)[str(error).index("uses"):])
        uses Abs, which qml cannot evaluate...
    """


class MissingSymbolError(ValueError):
    """A circuit uses a symbol that is not in ``symbol_names``.

    Raised, for example, for a circuit symbol that ``symbol_names`` lacks.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=[], symbol_values=[[]],
        ...           operators=cirq.Z(q[0]))
        ... except qml.errors.MissingSymbolError as error:
        ...     print("refused")
        refused
    """


class NonFiniteValueError(ValueError):
    """``symbol_values`` holds NaN or infinity.

    Raised, for example, for a NaN symbol value.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=["a"],
        ...           symbol_values=[[float("nan")]], operators=cirq.Z(q[0]))
        ... except qml.errors.NonFiniteValueError as error:
        ...     print("refused")
        refused
    """


class BatchSizeError(ValueError):
    """Inputs that must share a batch dimension do not.

    Raised, for example, for more rows of values than circuits.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer([cirq.Circuit(cirq.rx(a)(q[0]))], symbol_names=["a"],
        ...           symbol_values=[[0.1], [0.2]], operators=cirq.Z(q[0]))
        ... except qml.errors.BatchSizeError as error:
        ...     print("refused")
        refused
    """


class QubitMismatchError(ValueError):
    """An operator acts on qubits that its circuit does not have.

    Raised, for example, for an operator on a qubit the circuit does not have.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.X(q[0])), operators=cirq.Z(q[2]))
        ... except qml.errors.QubitMismatchError as error:
        ...     print("refused")
        refused
    """


class StateTooLargeError(MemoryError):
    """A state vector would not fit in this machine's memory.

    Raised, for example, for a state of 45 qubits.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     qml.layers.State()(cirq.Circuit(cirq.X.on_each(cirq.LineQubit.range(45))))
        ... except qml.errors.StateTooLargeError as error:
        ...     print("refused")
        refused
    """


class CircuitFormatError(ValueError):
    """A serialized circuit or operator is malformed or truncated.

    Raised, for example, for a row that is not a serialized circuit.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> import tensorflow as tf
        >>> try:
        ...     layer(tf.constant(["not a circuit"]), operators=cirq.Z(q[0]))
        ... except qml.errors.CircuitFormatError as error:
        ...     print("refused")
        refused
    """


class NotACircuitError(TypeError):
    """Something that is not a circuit (or operator) was passed as one.

    Raised, for example, for a number where a circuit belongs.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     qml.convert_to_tensor([42])
        ... except qml.errors.NotACircuitError as error:
        ...     print("refused")
        refused
    """


class MeasurementError(ValueError):
    """A measurement stands where it cannot, for example mid-circuit.

    Raised, for example, for a gate after a measurement of its qubit.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> circuit = cirq.Circuit(cirq.measure(q[0]), cirq.rx(0.5)(q[0]))
        >>> try:
        ...     qml.layers.Sample()(circuit, repetitions=3)
        ... except qml.errors.MeasurementError as error:
        ...     print("refused")
        refused
    """


class NoisyCircuitError(ValueError):
    """A circuit with noise channels went to a computation of pure states.

    Raised, for example, for a noise channel in an exact expectation on qsim.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> noisy = cirq.Circuit(cirq.X(q[0]), cirq.depolarize(0.1)(q[0]))
        >>> try:
        ...     qml.layers.Expectation(backend="qsim")(noisy, operators=cirq.Z(q[0]))
        ... except qml.errors.NoisyCircuitError as error:
        ...     print("refused")
        refused
    """


class SymbolNamesError(ValueError):
    """``symbol_names`` is not a list of distinct names (strings or ``sympy.Symbol``).

    Raised, for example, for a name given twice.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=["a", "a"],
        ...           symbol_values=[[0.1, 0.2]], operators=cirq.Z(q[0]))
        ... except qml.errors.SymbolNamesError as error:
        ...     print("refused")
        refused
    """


class SymbolValuesError(ValueError):
    """``symbol_values`` is not a real ``[batch, n_symbols]`` array.

    Raised, for example, for a 1-D array of values.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> try:
        ...     layer(cirq.Circuit(cirq.rx(a)(q[0])), symbol_names=["a"],
        ...           symbol_values=[0.1], operators=cirq.Z(q[0]))
        ... except qml.errors.SymbolValuesError as error:
        ...     print("refused")
        refused
    """


class ShapeError(ValueError):
    """A circuit or operator tensor has the wrong rank.

    Raised, for example, for a 2-D circuit tensor.

    Example:
        >>> import cirq, sympy, qml
        >>> q = cirq.LineQubit.range(3)
        >>> a = sympy.Symbol("a")
        >>> layer = qml.layers.Expectation()
        >>> grid = qml.convert_to_tensor([[cirq.Circuit(cirq.X(q[0]))]])
        >>> try:
        ...     layer(grid, operators=cirq.Z(q[0]))
        ... except qml.errors.ShapeError as error:
        ...     print("refused")
        refused
    """
