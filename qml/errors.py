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


class UnsupportedGateError(ValueError):
    """A circuit holds a gate that qml cannot simulate."""


class UnsupportedExpressionError(ValueError):
    """A gate parameter is not an expression that qml can evaluate."""


class MissingSymbolError(ValueError):
    """A circuit uses a symbol that is not in ``symbol_names``."""


class NonFiniteValueError(ValueError):
    """``symbol_values`` holds NaN or infinity."""


class BatchSizeError(ValueError):
    """Inputs that must share a batch dimension do not."""


class QubitMismatchError(ValueError):
    """An operator acts on qubits that its circuit does not have."""


class StateTooLargeError(MemoryError):
    """A state vector would not fit in this machine's memory."""


class CircuitFormatError(ValueError):
    """A serialized circuit or operator is malformed or truncated."""


class NotACircuitError(TypeError):
    """Something that is not a circuit (or operator) was passed as one."""


class MeasurementError(ValueError):
    """A measurement stands where it cannot, for example mid-circuit."""


class NoisyCircuitError(ValueError):
    """A circuit with noise channels went to a computation of pure states."""


class SymbolNamesError(ValueError):
    """``symbol_names`` is not a list of distinct names (strings or ``sympy.Symbol``)."""


class SymbolValuesError(ValueError):
    """``symbol_values`` is not a real ``[batch, n_symbols]`` array."""


class ShapeError(ValueError):
    """A circuit or operator tensor has the wrong rank."""
