"""Circuit tensors: Cirq circuits and Pauli sums as rows of a ``tf.string`` tensor.

The row format is qml's own, versioned JSON, specified in docs/circuit-format.md.
Parsing uses ``orjson`` (``json`` for rows with NaN or Infinity) and builds Cirq objects
with their constructors, so a row
can never run code.

Example:
    >>> import cirq
    >>> q = cirq.LineQubit(0)
    >>> tensor = convert_to_tensor([cirq.Circuit(cirq.X(q) ** 0.5)])
    >>> from_tensor(tensor)[0] == cirq.Circuit(cirq.X(q) ** 0.5)
    True
"""

from __future__ import annotations

import cmath
import functools
import json
from typing import Any, Union

import cirq
import numpy as np
import orjson
import tensorflow as tf

from qml.circuits import channels, gates
from qml.errors import CircuitFormatError, NotACircuitError, UnsupportedGateError

FORMAT_VERSION = 1
PAULIS = {"X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
_PAULI_NAMES = {cirq.X: "X", cirq.Y: "Y", cirq.Z: "Z"}

_CONTROLLED_Y = {
    cls for cls in (getattr(cirq, "CYPowGate", None), getattr(cirq, "CCYPowGate", None)) if cls
}


# ----------------------------------------------------------------------------- qubits
def encode_qubit(qubit: cirq.Qid) -> list:
    """JSON form of a GridQubit, LineQubit or NamedQubit."""
    if isinstance(qubit, cirq.GridQubit):
        return ["g", qubit.row, qubit.col]
    if isinstance(qubit, cirq.LineQubit):
        return ["l", qubit.x]
    if isinstance(qubit, cirq.NamedQubit):
        return ["n", qubit.name]
    raise NotACircuitError(
        f"qubit {qubit!r} of type {type(qubit).__name__} is not supported; use "
        "cirq.GridQubit, cirq.LineQubit or cirq.NamedQubit"
    )


def decode_qubit(fields: Any) -> cirq.Qid:
    """The qubit that ``encode_qubit`` encoded."""
    if isinstance(fields, list) and fields:
        kind, args = fields[0], fields[1:]
        if kind == "g" and len(args) == 2 and all(_is_int(a) for a in args):
            return cirq.GridQubit(*args)
        if kind == "l" and len(args) == 1 and _is_int(args[0]):
            return cirq.LineQubit(args[0])
        if kind == "n" and len(args) == 1 and isinstance(args[0], str):
            return cirq.NamedQubit(args[0])
    raise CircuitFormatError(f"malformed qubit {fields!r}")


def merge_qubits(*qubit_lists: list) -> list[list]:
    """The union of encoded qubit lists, encoded, in Cirq's sorted order."""
    union = sorted({decode_qubit(list(q)) for qubits in qubit_lists for q in qubits})
    return [encode_qubit(q) for q in union]


# ---------------------------------------------------------------------------- circuits
def serialize_circuit(circuit: cirq.AbstractCircuit) -> bytes:
    """Serializes one circuit to a row of the circuit format.

    Raises:
        NotACircuitError: if ``circuit`` is not a ``cirq.Circuit``.
        UnsupportedGateError: if it holds a gate that qml cannot represent.
    """
    if not isinstance(circuit, cirq.AbstractCircuit):
        raise NotACircuitError(
            f"expected a cirq.Circuit, got {type(circuit).__name__}: {circuit!r:.80}"
        )
    qubits = sorted(circuit.all_qubits())
    qubit_index = {q: i for i, q in enumerate(qubits)}
    gate_index: dict[Any, int] = {}
    gate_table: list[dict] = []
    moments = []
    for moment in circuit:
        ops = []
        for op in moment:
            ops.append(_encode_operation(op, qubit_index, gate_index, gate_table))
        moments.append(ops)
    row = {
        "qml": FORMAT_VERSION,
        "type": "circuit",
        "qubits": [encode_qubit(q) for q in qubits],
        "gates": gate_table,
        "moments": moments,
    }
    return json.dumps(row, separators=(",", ":")).encode()


def _encode_operation(
    op: cirq.Operation, qubit_index: dict, gate_index: dict, gate_table: list
) -> list:
    controls: list[int] = []
    control_values: list[int] = []
    while True:  # controls come as ControlledOperation or as a ControlledGate's op
        if isinstance(op, cirq.ControlledOperation):
            control_qubits, values, op = op.controls, op.control_values, op.sub_operation
        elif type(op.gate) in _CONTROLLED_Y and op.gate.global_shift == 0:
            # Cirq 1.6+ has CYPowGate and CCYPowGate; store them as a controlled YPow so
            # that a row reads the same on every supported Cirq.
            count = op.gate.num_qubits() - 1
            controls += [qubit_index[q] for q in op.qubits[:count]]
            control_values += [1] * count
            op = cirq.YPowGate(exponent=op.gate.exponent).on(op.qubits[-1])
            continue
        elif isinstance(op.gate, cirq.ControlledGate):
            count = op.gate.num_controls()
            control_qubits, values = op.qubits[:count], op.gate.control_values
            op = op.gate.sub_gate.on(*op.qubits[count:])
        else:
            break
        controls += [qubit_index[q] for q in control_qubits]
        control_values += _control_values(values, op)
    gate = op.gate
    if gate is None:
        raise UnsupportedGateError(
            f"operation {op!r} has no gate; qml supports gate operations only"
        )
    key = gate
    try:
        index = gate_index.get(key)
    except TypeError:  # an unhashable gate
        key, index = id(gate), None
    if index is None:
        index = gate_index[key] = len(gate_table)
        gate_table.append(_encode_gate(gate))
    encoded = [index, [qubit_index[q] for q in op.qubits]]
    if controls:
        encoded += [controls, control_values]
    return encoded


def _encode_gate(gate: cirq.Gate) -> dict:
    if isinstance(gate, cirq.MeasurementGate):
        return {
            "g": "Measure",
            "n": gate.num_qubits(),
            "key": str(gate.key),
            "invert": [int(b) for b in gate.full_invert_mask()],
        }
    if channels.is_channel(gate):
        return channels.encode_channel(gate)
    kind, fields = gates.encode_gate(gate)
    return {"g": kind, **fields}


def _control_values(control_values: object, op: cirq.Operation) -> list[int]:
    """One value, 0 or 1, per control qubit."""
    if isinstance(control_values, cirq.ProductOfSums):
        per_qubit = [tuple(v) for v in control_values]
    else:
        products = list(control_values.expand())
        per_qubit = [tuple(v) for v in products[0]] if len(products) == 1 else [()]
    if any(len(allowed) != 1 or allowed[0] not in (0, 1) for allowed in per_qubit):
        raise UnsupportedGateError(
            f"controls of {op!r} have values {control_values!r}; qml supports one "
            "control value, 0 or 1, per control qubit"
        )
    return [int(allowed[0]) for allowed in per_qubit]


_FOREIGN_ROW_ADVICE = (
    "circuits and operators must be converted with qml.convert_to_tensor. A tensor "
    "made by TensorFlow Quantum's tfq.convert_to_tensor holds TFQ's own (protobuf) "
    "format: convert the Cirq objects again with qml.convert_to_tensor")


def parse_row(row: bytes) -> dict:
    """Parses a row into its JSON object, checking its version and type.

    Raises:
        CircuitFormatError: if the row is not valid qml circuit-format JSON.
    """
    try:
        parsed = orjson.loads(row)
    except orjson.JSONDecodeError:
        parsed = None  # orjson refuses NaN and Infinity, which Python's json writes
    try:
        parsed = json.loads(row) if parsed is None else parsed
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CircuitFormatError(
            f"row {row[:60]!r}... is not a qml circuit or operator ({error}); "
            + _FOREIGN_ROW_ADVICE) from None
    if not isinstance(parsed, dict) or parsed.get("type") not in ("circuit", "paulisum"):
        raise CircuitFormatError(
            f"row {row[:60]!r} is not a qml circuit or operator; " + _FOREIGN_ROW_ADVICE)
    if parsed.get("qml") != FORMAT_VERSION:
        raise CircuitFormatError(
            f"row has format version {parsed.get('qml')!r}; this qml reads version "
            f"{FORMAT_VERSION}"
        )
    return parsed


def join_rows(first: bytes, second: bytes) -> bytes:
    """The row of circuit ``first`` followed by circuit ``second``.

    The moments of ``second`` follow those of ``first``, as in
    ``cirq.Circuit(first.moments + second.moments)``. No Cirq object is built.
    """
    a, b = parse_row(first), parse_row(second)
    if a["type"] != "circuit" or b["type"] != "circuit":
        raise CircuitFormatError("join_rows takes two circuit rows")
    try:
        keys = merge_qubits(a["qubits"], b["qubits"])
        position = {tuple(k): i for i, k in enumerate(keys)}

        def remap(parsed: dict, gate_offset: int) -> list:
            local = [position[tuple(q)] for q in parsed["qubits"]]
            return [
                [
                    [op[0] + gate_offset, [local[i] for i in op[1]]]
                    + ([[local[i] for i in op[2]], op[3]] if len(op) == 4 else [])
                    for op in moment
                ]
                for moment in parsed["moments"]
            ]

        row = {
            "qml": FORMAT_VERSION,
            "type": "circuit",
            "qubits": keys,
            "gates": a["gates"] + b["gates"],
            "moments": remap(a, 0) + remap(b, len(a["gates"])),
        }
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise CircuitFormatError(f"malformed circuit row: {error}") from None
    return json.dumps(row, separators=(",", ":")).encode()


def deserialize_circuit(row: bytes) -> cirq.Circuit:
    """The circuit that ``serialize_circuit`` wrote."""
    parsed = parse_row(row)
    if parsed["type"] != "circuit":
        raise CircuitFormatError(f"row {row[:60]!r} holds an operator, not a circuit")
    try:
        qubits = [decode_qubit(q) for q in parsed["qubits"]]
        gate_table = [_decode_gate(g) for g in parsed["gates"]]
        moments = []
        for moment in parsed["moments"]:
            ops = []
            for encoded in moment:
                index, targets = encoded[0], encoded[1]
                op = gate_table[index].on(*(qubits[i] for i in targets))
                if len(encoded) == 4:
                    op = op.controlled_by(
                        *(qubits[i] for i in encoded[2]), control_values=list(encoded[3])
                    )
                ops.append(op)
            moments.append(cirq.Moment(ops))
    except CircuitFormatError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise CircuitFormatError(f"malformed circuit row {row[:60]!r}...: {error}") from None
    return cirq.Circuit(moments)


def _decode_gate(fields: dict) -> cirq.Gate:
    kind = fields["g"]
    if kind == "Measure":
        return cirq.MeasurementGate(
            num_qubits=int(fields["n"]),
            key=str(fields["key"]),
            invert_mask=tuple(bool(b) for b in fields["invert"]),
        )
    if kind == "Channel":
        return channels.decode_channel(fields)
    if kind not in gates.KIND_PARAMS:
        raise CircuitFormatError(f"unknown gate kind {kind!r}")
    return gates.decode_gate(kind, fields)


# ----------------------------------------------------------------------- Pauli sums
def serialize_paulisum(operator: Union[cirq.PauliSum, cirq.PauliString]) -> bytes:
    """Serializes a Pauli sum; an empty sum is the padding row ``b''``."""
    # A Pauli string is its own single term; wrapping it in a sum costs more than this.
    pauli_strings = (operator,) if isinstance(operator, cirq.PauliString) else operator
    terms = []
    for term in pauli_strings:
        coefficient = complex(term.coefficient)
        paulis = [[_PAULI_NAMES[p], encode_qubit(q)] for q, p in sorted(term.items())]
        terms.append([[coefficient.real, coefficient.imag], paulis])
    if not terms:
        return b""
    row = {"qml": FORMAT_VERSION, "type": "paulisum", "terms": terms}
    return json.dumps(row, separators=(",", ":")).encode()


def deserialize_paulisum(row: bytes) -> cirq.PauliSum:
    """The Pauli sum that ``serialize_paulisum`` wrote."""
    if row == b"":
        return cirq.PauliSum()
    terms = parse_paulisum_terms(row)
    psum = cirq.PauliSum()
    for coefficient, paulis in terms:
        psum += cirq.PauliString(
            {decode_qubit(q): PAULIS[p] for p, q in paulis}, coefficient=coefficient
        )
    return psum


_LARGEST_FLOAT32 = float(np.finfo(np.float32).max)


def parse_paulisum_terms(row: bytes) -> list[tuple[complex, list[tuple[str, list]]]]:
    """Terms of a serialized Pauli sum as ``(coefficient, [(pauli, qubit), ...])``."""
    parsed = parse_row(row)
    if parsed["type"] != "paulisum":
        raise CircuitFormatError(f"row {row[:60]!r} holds a circuit, not an operator")
    try:
        terms = []
        for (real, imag), paulis in parsed["terms"]:
            entries = []
            for pauli, qubit in paulis:
                if pauli not in PAULIS:
                    raise CircuitFormatError(f"unknown Pauli {pauli!r}")
                decode_qubit(qubit)
                entries.append((pauli, qubit))
            coefficient = complex(float(real), float(imag))
            if not cmath.isfinite(coefficient):
                raise CircuitFormatError(
                    f"operator row {row[:60]!r} has a coefficient that is not finite: "
                    f"{coefficient}")
            terms.append((coefficient, entries))
    except CircuitFormatError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CircuitFormatError(f"malformed operator row {row[:60]!r}: {error}") from None
    if sum(abs(c) for c, _ in terms) > _LARGEST_FLOAT32:
        raise CircuitFormatError(
            f"operator row {row[:60]!r} has coefficients whose sum of magnitudes exceeds "
            "float32's range, so its expectation could not be returned")
    return terms


# -------------------------------------------------------------------------- tensors
def _serialize_item(item: object) -> bytes:
    if isinstance(item, cirq.AbstractCircuit):
        return serialize_circuit(item)
    if isinstance(item, cirq.PauliString):  # immutable and hashable, so its row is cached
        return _serialized_pauli_string(item)
    if isinstance(item, cirq.PauliSum):
        return serialize_paulisum(item)
    if isinstance(item, cirq.Pauli):
        raise NotACircuitError(
            f"a bare Pauli {item!r} has no qubit; use it on a qubit, e.g. cirq.Z(q)"
        )
    if isinstance(item, cirq.Operation) and cirq.PauliString in type(item).__mro__:
        return serialize_paulisum(item)
    raise NotACircuitError(
        f"expected a cirq.Circuit, cirq.PauliSum or cirq.PauliString, got "
        f"{type(item).__name__}: {item!r:.80}"
    )


@functools.lru_cache(maxsize=4096)
def _serialized_pauli_string(pauli_string: cirq.PauliString) -> bytes:
    return serialize_paulisum(pauli_string)


def convert_to_tensor(items_to_convert: Any,
                      deterministic_proto_serialize: bool = False) -> tf.Tensor:
    """Converts nested lists of circuits or Pauli sums to a ``tf.string`` tensor.

    Args:
        items_to_convert: a circuit or Pauli sum, or a (rectangular) nested list of
            them. ``cirq.PauliString`` and sums of them are accepted as Pauli sums.
        deterministic_proto_serialize: accepted for TFQ's sake; qml's rows are always
            deterministic.

    Returns:
        A ``tf.string`` tensor of the same shape as the nesting.

    Raises:
        NotACircuitError: for an item that is not a circuit or Pauli sum.
        UnsupportedGateError: for a gate qml cannot simulate.
        ValueError: for a ragged nesting.

    Example:
        >>> q = cirq.GridQubit(0, 0)
        >>> convert_to_tensor([[cirq.Z(q), cirq.X(q)]]).shape
        TensorShape([1, 2])
    """
    del deterministic_proto_serialize
    rows = to_rows(items_to_convert)
    try:
        array = np.array(rows, dtype=object)
    except ValueError:
        array = None
    if array is None or (array.size and not isinstance(array.flat[0], bytes)):
        raise ValueError(
            "items_to_convert must be a rectangular nested list; pad ragged lists "
            "with cirq.Circuit() or cirq.PauliSum()"
        )
    return tf.constant(array, dtype=tf.string)


def from_tensor(tensor_to_convert: Any) -> np.ndarray:
    """Converts a ``tf.string`` tensor of circuits or Pauli sums back to Cirq objects.

    Args:
        tensor_to_convert: a ``tf.string`` tensor (or array, or nested list of bytes)
            of any shape, as made by :func:`convert_to_tensor`.

    Returns:
        A numpy object array of the tensor's shape holding ``cirq.Circuit`` and
        ``cirq.PauliSum`` objects.

    Raises:
        CircuitFormatError: for a row that is not a serialized circuit or operator.

    Example:
        >>> q = cirq.LineQubit(0)
        >>> from_tensor(convert_to_tensor([cirq.Z(q)]))[0] == cirq.PauliSum.wrap(cirq.Z(q))
        True
    """
    array = np.asarray(tf.convert_to_tensor(tensor_to_convert, dtype=tf.string).numpy(),
                       dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index, row in np.ndenumerate(array):
        out[index] = _deserialize(row)
    return out


def _deserialize(row: bytes) -> Union[cirq.Circuit, cirq.PauliSum]:
    if row == b"":
        return cirq.PauliSum()
    parsed_type = parse_row(row)["type"]
    return deserialize_circuit(row) if parsed_type == "circuit" else deserialize_paulisum(row)


def to_rows(items: Any) -> Any:
    """Serializes a (nested list of) circuits or Pauli sums to (nested lists of) bytes."""
    return _map_nested(items, _serialize_item)


def _map_nested(items: Any, fn) -> Any:
    if isinstance(items, (list, tuple)):
        return [_map_nested(item, fn) for item in items]
    if isinstance(items, np.ndarray) and items.dtype == object:
        return [_map_nested(item, fn) for item in items]
    return fn(items)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
