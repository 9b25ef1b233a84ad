"""qml: Cirq circuits as Keras 3 layers, simulated by qsim.

A TFQ program ports by changing its import::

    import qml as tfq

    layer = tfq.layers.PQC(model_circuit, cirq.Z(qubit))

See docs/ for the user guide and docs/migrating-from-tfq.md for the differences.
"""

import keras as _keras

if _keras.backend.backend() != "tensorflow":  # pragma: no cover
    raise ImportError(
        f"qml needs Keras's TensorFlow backend, but KERAS_BACKEND is "
        f"{_keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow"
    )

from qml import keras_patches  # noqa: E402,F401 (model.fit under tf.distribute)
from qml import (  # noqa: E402
    datasets,
    differentiators,
    errors,
    executors,
    layers,
    math,
    noise,
    optimizers,
    util,
)
from qml.circuits.serialize import convert_to_tensor, from_tensor  # noqa: E402
from qml.ops import (  # noqa: E402
    get_expectation_op,
    get_sampled_expectation_op,
    get_sampling_op,
    get_state_op,
    get_unitary_op,
)
from qml.utility_ops import (  # noqa: E402
    append_circuit,
    get_quantum_concurrent_op_mode,
    padded_to_ragged,
    padded_to_ragged2d,
    resolve_parameters,
    set_quantum_concurrent_op_mode,
)

__version__ = "0.1.0"
__all__ = [
    "append_circuit",
    "convert_to_tensor",
    "datasets",
    "differentiators",
    "errors",
    "executors",
    "from_tensor",
    "get_expectation_op",
    "get_quantum_concurrent_op_mode",
    "get_sampled_expectation_op",
    "get_sampling_op",
    "get_state_op",
    "get_unitary_op",
    "layers",
    "math",
    "noise",
    "optimizers",
    "padded_to_ragged",
    "padded_to_ragged2d",
    "resolve_parameters",
    "set_quantum_concurrent_op_mode",
    "util",
]
