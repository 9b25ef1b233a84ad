"""The executor interface and the input checks that every executor shares.

An executor has one required method, :meth:`Executor.expectation`. It receives
compiled programs, one per batch row, the symbol values bound to them, and serialized
operators, and returns expectation values. Everything that does not depend on how a
state is simulated (batch sizes, missing symbols, non-finite values, padding) is
checked here, once, by :func:`prepare`.

Example:
    >>> import cirq
    >>> from qml.circuits.serialize import serialize_circuit, serialize_paulisum
    >>> q = cirq.LineQubit(0)
    >>> batch = prepare([serialize_circuit(cirq.Circuit(cirq.X(q)))], [],
    ...                 np.zeros((1, 0)), [[serialize_paulisum(cirq.Z(q))]])
    >>> batch.batch_size, batch.num_operators
    (1, 1)
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from qml.circuits import compiler, serialize
from qml.errors import (
    BatchSizeError,
    MissingSymbolError,
    NoisyCircuitError,
    NonFiniteValueError,
    QubitMismatchError,
    StateTooLargeError,
    SymbolNamesError,
    SymbolValuesError,
)

PADDED_CIRCUIT_VALUE = -2.0
"""Expectation reported for every operator of an empty (padding) circuit, as in TFQ."""


@dataclasses.dataclass(frozen=True)
class Estimation:
    """How a batch's expectation values are estimated.

    Attributes:
        repetitions: None for exact values; else ``int64 [batch, n_operators]``:
            measurement shots per operator (``sampled``) or noise trajectories.
        sampled: estimate from measurement shots, rather than average exact values
            over noise trajectories.
        seed: seeds the shots and trajectories; None draws one.

    Example:
        >>> import numpy as np
        >>> Estimation().exact, Estimation(np.full((2, 1), 100), sampled=True).exact
        (True, False)
    """

    repetitions: Optional[np.ndarray] = None
    sampled: bool = False
    seed: Optional[int] = None

    @property
    def exact(self) -> bool:
        """Whether the values are exact (no repetitions)."""
        return self.repetitions is None

    def for_rows(self, rows: np.ndarray) -> "Estimation":
        """The same estimation for a batch made of ``rows`` of this one's batch."""
        return self if self.exact else dataclasses.replace(
            self, repetitions=self.repetitions[rows])

    def row_seeds(self, rows: int) -> np.ndarray:
        """One seed per row for the shots and trajectories, drawn from :attr:`seed`.

        Example:
            >>> a, b = Estimation(seed=3).row_seeds(2), Estimation(seed=3).row_seeds(2)
            >>> bool((a == b).all() and a[0] != a[1])
            True
        """
        return np.random.default_rng(self.seed).integers(0, 2**31 - 1 - 2**20, size=rows)


EXACT = Estimation()


@dataclasses.dataclass(frozen=True)
class Batch:
    """A checked batch: one compiled program per row, bound values and operator rows.

    Made by :func:`prepare`; executors read it. It holds three things apart: the
    request (programs, symbols, values, operators), how to estimate its values (a
    frozen :class:`Estimation`), and what a forward pass kept for the gradient.
    Frozen, so a derived batch is made with ``dataclasses.replace``.

    Attributes:
        programs: one compiled program per row.
        symbol_names: the names of the columns of ``symbol_values``.
        symbol_values: ``float32 [batch, n_symbols]``.
        operators: ``[batch][n_operators]`` serialized Pauli sums.
        estimation: exact values, shots or noise trajectories.
        kept: what a forward pass kept for the gradient (the executor's own form:
            final states, or the native core's packed batch and states), or None.

    Example:
        >>> import numpy as np, qml
        >>> empty = qml.executors.prepare([], [], np.zeros((0, 0)), [])
        >>> empty.batch_size, empty.estimation.exact
        (0, True)
    """

    programs: tuple[Union[compiler.Program, compiler.Joined], ...]
    symbol_names: tuple[str, ...]
    symbol_values: np.ndarray  # [batch, n_symbols] float32
    operators: tuple[tuple[bytes, ...], ...]  # [batch][n_operators]
    estimation: Estimation = EXACT
    kept: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def noisy(self) -> bool:
        """Whether any row's circuit holds a noise channel."""
        return any(program.noisy for program in self.distinct_programs[0])

    @functools.cached_property
    def distinct_programs(self) -> tuple[tuple, np.ndarray]:
        """The distinct row programs, and for each row the index of its own among them.

        Rows of one circuit share one compiled program (compiled once per distinct
        row), so this groups them without looking at their contents.
        """
        return _distinct(self.programs, id)

    @functools.cached_property
    def distinct_operators(self) -> tuple[tuple, np.ndarray]:
        """The distinct operator rows, and for each row the index of its own."""
        return _distinct(self.operators, lambda row: row)

    @functools.cached_property
    def opsets(self) -> tuple[tuple[tuple[int, int], ...], np.ndarray, np.ndarray]:
        """The distinct (program, operator row) pairs as indices into
        :attr:`distinct_programs` and :attr:`distinct_operators`, the first row of
        each, and each row's pair."""
        programs, operators = self.distinct_programs[1], self.distinct_operators[1]
        keys = programs * max(1, len(self.distinct_operators[0])) + operators
        _, first, index = np.unique(keys, return_index=True, return_inverse=True)
        pairs = tuple((int(programs[r]), int(operators[r])) for r in first)
        return pairs, first, index.reshape(-1)

    def rows_of(self, index: np.ndarray) -> list[np.ndarray]:
        """The rows of each value of ``index`` (a row's group, 0 to k - 1), in order."""
        order = np.argsort(index, kind="stable")
        counts = np.bincount(index, minlength=int(index.max(initial=-1)) + 1)
        return np.split(order, np.cumsum(counts)[:-1])

    @property
    def row_qubits(self) -> np.ndarray:
        """``int32 [batch]``: each row's register width (0 for a padding row)."""
        programs, index = self.distinct_programs
        widths = np.array([p.num_qubits for p in programs], np.int32)
        return widths[index] if len(index) else np.zeros(0, np.int32)

    @property
    def batch_size(self) -> int:
        return len(self.programs)

    @property
    def num_operators(self) -> int:
        return len(self.operators[0]) if self.operators else 0

    def with_values(self, symbol_values: np.ndarray) -> "Batch":
        """The same circuits and operators with other symbol values, checked as
        :func:`prepare` checks them. What was derived from the circuits (their
        distinct programs and operator sets) carries over, so binding new values
        compiles and groups nothing.

        Example:
            >>> import cirq, numpy as np, qml, sympy
            >>> q = cirq.LineQubit(0)
            >>> row = qml.convert_to_tensor([cirq.Circuit(cirq.rx(sympy.Symbol("a"))(q))])
            >>> batch = prepare(row.numpy(), ["a"], np.zeros((1, 1)),
            ...                 qml.convert_to_tensor([[cirq.Z(q)]]).numpy())
            >>> turned = batch.with_values(np.full((1, 1), np.pi))
            >>> qml.executors.NativeExecutor().expectation(turned).round(3)
            array([[-1.]], dtype=float32)
        """
        values = _checked_values(symbol_values, self.batch_size, self.symbol_names)
        batch = dataclasses.replace(self, symbol_values=values)
        for name in _DERIVED_FROM_CIRCUITS:
            if name in self.__dict__:  # functools.cached_property keeps them there
                batch.__dict__[name] = self.__dict__[name]
        return batch

    def segment_groups(self) -> dict[int, tuple[compiler.Program, np.ndarray]]:
        """Rows grouped by each program they run: ``id -> (program, row indices)``.

        A plain row runs one program; a joined row (a data circuit followed by a model
        circuit) runs one per segment, so rows that share a model share its group.
        """
        rows: dict[int, list[np.ndarray]] = {}
        by_id: dict[int, compiler.Program] = {}
        programs, index = self.distinct_programs
        for row_program, program_rows in zip(programs, self.rows_of(index)):
            for segment in row_program.segments:
                rows.setdefault(id(segment.program), []).append(program_rows)
                by_id[id(segment.program)] = segment.program
        return {key: (by_id[key], np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0])
                for key, parts in rows.items()}

    def columns(self, program: compiler.Program, rows: np.ndarray) -> dict[str, np.ndarray]:
        """float64 symbol columns of ``rows`` for the symbols that ``program`` uses."""
        names = tuple(program.symbols)
        return dict(zip(names, self.symbol_block(names, rows).T))

    def symbol_block(self, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """``float64 [len(rows), len(names)]``: the values of symbols ``names`` on
        ``rows``."""
        index = {name: i for i, name in enumerate(self.symbol_names)}
        block = self.symbol_values[:, [index[name] for name in names]]
        every_row = np.array_equal(rows, np.arange(self.batch_size))
        return (block if every_row else block[rows]).astype(np.float64)


#: The cached properties of a :class:`Batch` that depend on its programs and
#: operators only, which :meth:`Batch.with_values` carries over.
_DERIVED_FROM_CIRCUITS = ("distinct_programs", "distinct_operators", "opsets")

#: What an executor may do beyond exact expectations; each is a method of that name.
CAPABILITIES = ("final_states", "samples", "sampled_expectation", "noisy_expectation",
                "adjoint_gradient")


class Executor(abc.ABC):
    """The interface every simulator implements: expectations of compiled batches.

    Subclasses implement :meth:`expectation`, and declare in ``capabilities`` which
    of :data:`CAPABILITIES` they also implement: ``final_states``, ``samples``,
    ``sampled_expectation``, ``noisy_expectation`` and ``adjoint_gradient`` (with
    :meth:`expectation_and_kept` when the forward pass keeps work for it). Callers
    ask :meth:`require`, which names the executor and what it lacks.

    Raises:
        TypeError: on instantiation of a subclass that lacks :meth:`expectation`, or
            on the definition of one that declares a capability it does not implement.

    Example:
        >>> import cirq, numpy as np, qml
        >>> class Zeros(qml.executors.Executor):
        ...     '''Every expectation is 0: a stand-in for tests.'''
        ...     def expectation(self, batch):
        ...         return np.zeros((batch.batch_size, batch.num_operators), np.float32)
        >>> qml.layers.Expectation(backend=Zeros())(
        ...     cirq.Circuit(cirq.X(cirq.LineQubit(0))), operators=cirq.Z(cirq.LineQubit(0))).numpy()
        array([[0.]], dtype=float32)
        >>> sorted(qml.executors.QsimExecutor().capabilities)
        ['final_states', 'noisy_expectation', 'sampled_expectation', 'samples']
    """

    name: str = "executor"
    #: Whether it holds each row's full state vector, whose size bounds the qubits.
    simulates_state_vectors: bool = True
    #: Which of :data:`CAPABILITIES` it implements.
    capabilities: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = set(cls.capabilities)
        wrong = declared - set(CAPABILITIES) | {
            c for c in declared & set(CAPABILITIES) if not callable(getattr(cls, c, None))}
        if wrong:
            raise TypeError(f"{cls.__name__} declares capabilities it does not implement: "
                            f"{sorted(wrong)}")

    @abc.abstractmethod
    def expectation(self, batch: Batch) -> np.ndarray:
        """``[batch, n_operators]`` float32 exact expectation values of ``batch``."""

    def expectation_and_kept(self, batch: Batch) -> tuple[np.ndarray, Any]:
        """The expectations, and what ``adjoint_gradient`` may reuse from this forward
        pass (by default nothing: None)."""
        return self.expectation(batch), None

    def require(self, capability: str, advice: str) -> None:
        """Checks that this executor has ``capability``.

        Raises:
            TypeError: naming the executor, the capability and ``advice``.
        """
        if capability not in self.capabilities:
            raise TypeError(f"the {self.name!r} executor cannot compute "
                            f"{capability.replace('_', ' ')}; {advice}")


def evaluate(executor: Executor, batch: Batch) -> np.ndarray:
    """``[batch, n_operators]`` expectations, estimated as ``batch`` asks.

    Exact values for an exact ``batch.estimation``; else sampled expectations
    (``estimation.sampled``) or averages over noise trajectories, from the executor's
    ``sampled_expectation`` and ``noisy_expectation`` capabilities.

    Raises:
        TypeError: if the executor lacks the capability the batch needs.
    """
    if batch.estimation.exact:
        return executor.expectation(batch)
    capability = "sampled_expectation" if batch.estimation.sampled else "noisy_expectation"
    executor.require(capability, "use backend='qsim' (or backend='noisy' for noise "
                                 "channels)")
    return getattr(executor, capability)(batch)


def require_noiseless(batch: Batch, executor_name: str) -> None:
    """Raises NoisyCircuitError if a row holds a noise channel, which ``executor_name``
    cannot simulate."""
    if not batch.noisy:  # looks at each distinct program once
        return
    for index, program in enumerate(batch.programs):
        if program.noisy:
            raise NoisyCircuitError(
                f"circuit {index} holds noise channels, which the {executor_name} "
                "executor does not simulate; use backend='noisy' with repetitions "
                "(trajectories), SampledExpectation, Sample, or qml.noise"
            )


def check_repetitions(repetitions: np.ndarray, shape: tuple[int, ...],
                      argument: str = "repetitions") -> np.ndarray:
    """``repetitions`` as int64 of ``shape``, each at least 1.

    Raises:
        ValueError: for a wrong shape or a value below 1, naming ``argument``.
    """
    values = np.asarray(repetitions)
    if values.dtype.kind not in "iu" and not (
            values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0)):
        raise TypeError(f"{argument} must hold integers, got dtype {values.dtype}")
    values = values.astype(np.int64)
    if values.shape != tuple(shape):
        raise BatchSizeError(f"{argument} has shape {values.shape}; expected {tuple(shape)}")
    if values.size and values.min() < 1:
        raise ValueError(f"{argument} must be at least 1, got {int(values.min())}")
    return values


def prepare(
    circuit_rows: Sequence[bytes],
    symbol_names: Sequence[str],
    symbol_values: np.ndarray,
    operator_rows: Sequence[Sequence[bytes]],
    appended_rows: Sequence[bytes] = (),
    state_vectors: bool = True,
) -> Batch:
    """Compiles and checks the inputs of an expectation.

    Args:
        circuit_rows: serialized circuits, one per batch row.
        symbol_names: names of the columns of ``symbol_values``.
        symbol_values: ``[batch, n_symbols]`` values.
        operator_rows: ``[batch][n_operators]`` serialized Pauli sums; ``b''`` pads.
            A 1-D array ``[n_operators]`` holds the operators of every row.
        appended_rows: optional serialized circuits, one per batch row, appended to
            each row's circuit (as ``AddCircuit`` would).
        state_vectors: whether the rows will be simulated as state vectors (see
            :attr:`Executor.simulates_state_vectors`), so that a row too wide for
            memory is refused here.

    Returns:
        A :class:`Batch`.

    Raises:
        BatchSizeError: when the rows, values and operators disagree in length.
        MissingSymbolError: for a circuit symbol absent from ``symbol_names``.
        NonFiniteValueError: for a NaN or infinite symbol value.
        QubitMismatchError: for an operator on a qubit its circuit lacks.
        StateTooLargeError: for a row too wide for memory.
        CircuitFormatError: for a malformed row (and the compiler's other errors).

    Example:
        >>> import cirq, numpy as np, qml
        >>> q = cirq.LineQubit(0)
        >>> batch = qml.executors.prepare(
        ...     qml.convert_to_tensor([cirq.Circuit(cirq.X(q))]).numpy(), [], np.zeros((1, 0)),
        ...     qml.convert_to_tensor([[cirq.Z(q)]]).numpy())
        >>> qml.executors.NativeExecutor().expectation(batch)
        array([[-1.]], dtype=float32)
    """
    batch = len(circuit_rows)
    symbol_names = checked_symbol_names(symbol_names)
    values = _checked_values(symbol_values, batch, symbol_names)
    operators = _operator_rows(operator_rows, batch)
    if appended_rows and len(appended_rows) != batch:
        raise BatchSizeError(
            f"{len(appended_rows)} appended circuits for {batch} input circuits"
        )
    programs = compiler.compile_rows(circuit_rows)
    if appended_rows:
        programs = tuple(map(compiler.join, programs, compiler.compile_rows(appended_rows)))
    batch = Batch(programs, symbol_names, values, operators)
    known = set(symbol_names)
    distinct_programs, distinct_operators = batch.distinct_programs[0], batch.distinct_operators[0]
    pairs, first_rows, _ = batch.opsets
    # Each distinct program and operator row is checked once, naming its first row.
    for (program_index, operator_index), index in zip(pairs, first_rows):
        program, row = distinct_programs[program_index], distinct_operators[operator_index]
        missing = program.symbols - known
        if missing:
            raise MissingSymbolError(
                f"circuit {index} uses symbols {sorted(missing)} that are not in "
                f"symbol_names {list(symbol_names)}"
            )
        if state_vectors:
            check_memory(program.num_qubits)
        if program.num_qubits:
            for op in row:
                operator_qubits(program, op, int(index))
    return batch


def _checked_values(symbol_values: Any, batch: int, symbol_names: tuple[str, ...]
                    ) -> np.ndarray:
    """``symbol_values`` as float32 ``[batch, len(symbol_names)]``, every value finite.

    Raises:
        SymbolValuesError: if the values are not 2-D.
        BatchSizeError: for another shape.
        NonFiniteValueError: for a NaN or infinite value, naming its row and symbol.
    """
    values = np.asarray(symbol_values, dtype=np.float32)
    if values.ndim != 2:
        raise SymbolValuesError(
            f"symbol_values must be 2-D [batch, n_symbols], got shape {values.shape}"
        )
    if values.shape != (batch, len(symbol_names)):
        raise BatchSizeError(
            f"symbol_values has shape {values.shape}, but there are {batch} circuits "
            f"and {len(symbol_names)} symbol_names; expected ({batch}, {len(symbol_names)})"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise NonFiniteValueError(
            f"symbol_values[{row}, {col}] (symbol {symbol_names[col]!r}) is "
            f"{values[row, col]}; symbol values must be finite"
        )
    return values


def _operator_rows(rows: Any, batch: int) -> tuple[tuple[bytes, ...], ...]:
    """``batch`` rows of operators as tuples of bytes. A shared row (a 1-D array, or a
    2-D array whose rows are all equal) becomes one tuple repeated, so that a large
    batch creates no objects per row."""
    if isinstance(rows, np.ndarray) and rows.dtype == object and (
            rows.ndim == 1 or (rows.ndim == 2 and len(rows) == batch > 1
                               and bool((rows == rows[:1]).all()))):
        shared = rows if rows.ndim == 1 else rows[0]
        return (tuple(bytes(op) for op in shared.tolist()),) * batch
    if len(rows) != batch:
        raise BatchSizeError(f"operators has {len(rows)} rows, but there are {batch} circuits")
    from_tensor = isinstance(rows, np.ndarray) and rows.dtype == object
    operators = tuple(map(tuple, rows.tolist() if from_tensor else rows))
    if not from_tensor or not all(type(op) is bytes for row in operators[:1] for op in row):
        operators = tuple(tuple(bytes(op) for op in row) for row in operators)
    if len({len(row) for row in operators}) > 1:
        raise BatchSizeError("every row of operators must have the same length")
    return operators


def _distinct(items: Sequence, key: Any) -> tuple[tuple, np.ndarray]:
    """The distinct ``items`` by ``key`` (items of equal keys are equal), in order of
    first appearance, and each item's index among them.

    Rows that repeat one object (a batch of one circuit, a shared operator row) are
    grouped by identity in numpy first, so ``key`` runs once per distinct object."""
    ids = np.fromiter(map(id, items), np.int64, count=len(items))
    _, first, object_index = np.unique(ids, return_index=True, return_inverse=True)
    by_key: dict = {}
    position = np.empty(len(first), np.int64)
    for k in np.argsort(first):  # the distinct objects, in order of first appearance
        item = items[first[k]]
        position[k] = by_key.setdefault(key(item), (len(by_key), item))[0]
    return tuple(item for _, item in by_key.values()), position[object_index.reshape(-1)]


def operator_qubits(program: Union[compiler.Program, compiler.Joined], row: bytes,
                    index: int = 0) -> tuple:
    """Terms of operator ``row`` as ``(coefficient, ((pauli, position), ...))``.

    Positions index ``program.qubits``. Cached per program qubits and row.

    Raises:
        QubitMismatchError: if the operator acts on a qubit that the circuit lacks.
    """
    terms = _placed_terms(program.qubits, row)
    for _, paulis in terms:
        for pauli, position in paulis:
            if not isinstance(position, int):
                raise QubitMismatchError(
                    f"operators[{index}] acts on qubit {serialize.decode_qubit(position)}, "
                    f"which circuit {index} does not have; its qubits are "
                    f"{program.cirq_qubits()}")
    return terms


@functools.lru_cache(maxsize=65536)
def _placed_terms(qubits: tuple, row: bytes) -> tuple:
    """``operator_qubits`` with a missing qubit's JSON form in place of its position."""
    position = {q: i for i, q in enumerate(qubits)}
    return tuple(
        (coefficient, tuple((pauli, position.get(tuple(qubit), qubit))
                            for pauli, qubit in paulis))
        for coefficient, paulis in (serialize.parse_paulisum_terms(row) if row else []))


def check_memory(num_qubits: int, bytes_per_amplitude: int = 8, copies: int = 3) -> None:
    """Raises StateTooLargeError if a state of ``num_qubits`` would not fit in memory."""
    needed = (2**num_qubits) * bytes_per_amplitude * copies
    available = _available_memory()
    if needed > available:
        raise StateTooLargeError(
            f"a circuit on {num_qubits} qubits needs about {needed / 2**30:.3g} GiB for "
            f"its state vector, more than the {available / 2**30:.3g} GiB available. "
            "Use fewer qubits or a smaller batch, or, for a 1-D circuit of little "
            "entanglement, qml.math.mps_1d_expectation, whose memory grows with the "
            "bond dimension instead of 2**qubits"
        )


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**34


def checked_symbol_names(names: Sequence[Any]) -> tuple[str, ...]:
    """``names`` (strings, bytes from a tensor, or ``sympy.Symbol`` s) as distinct
    strings.

    Raises:
        SymbolNamesError: if a name appears twice.
    """
    decoded = tuple(
        name.decode() if isinstance(name, bytes)
        else str(name.name) if hasattr(name, "name") and not isinstance(name, str)
        else str(name)
        for name in names)
    if len(set(decoded)) != len(decoded):
        raise SymbolNamesError(f"symbol_names must be unique, got {list(decoded)}")
    return decoded


def fill_padding(batch: Batch, out: np.ndarray) -> np.ndarray:
    """Applies TFQ's padding rules: -2 for empty circuits, 0 for empty operators."""
    if not out.size:
        return out
    distinct, index = batch.distinct_operators
    empty = np.array([[op == b"" for op in row] for row in distinct], bool)
    out[empty[index]] = 0.0
    out[batch.row_qubits == 0] = PADDED_CIRCUIT_VALUE
    return out

