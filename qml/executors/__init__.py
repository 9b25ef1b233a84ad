"""Executors: the simulators behind the layers, with one interface.

``get_executor(backend)`` maps a layer's ``backend`` argument to an executor:
``None`` (the default policy, :class:`DefaultExecutor`), ``'qsim'``, ``'tensorflow'``,
an :class:`Executor`, or any ``cirq.SimulatesExpectationValues``.

Example:
    >>> get_executor(None).name, get_executor("qsim").name
    ('default', 'qsim')
"""

from __future__ import annotations

from typing import Any

import cirq

from qml.executors.base import Batch, Executor, prepare
from qml.executors.cirq_backend import CirqExecutor
from qml.executors.default import DefaultExecutor
from qml.executors.qsim import QsimExecutor, QsimOptions
from qml.executors.tensorflow import TensorflowExecutor

__all__ = ["Batch", "CirqExecutor", "DefaultExecutor", "Executor", "QsimExecutor", "QsimOptions",
           "TensorflowExecutor", "get_executor", "prepare"]

_NAMED = {"qsim": QsimExecutor(), "tensorflow": TensorflowExecutor()}
_DEFAULT = DefaultExecutor(_NAMED["qsim"], _NAMED["tensorflow"])


def get_executor(backend: Any) -> Executor:
    """The executor for a layer's ``backend`` argument.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for an object that is not a backend.
    """
    if backend is None:
        return _DEFAULT
    if isinstance(backend, str):
        if backend not in _NAMED:
            raise ValueError(
                f"backend must be None, 'qsim', 'tensorflow' or a Cirq simulator, got "
                f"{backend!r}")
        return _NAMED[backend]
    if isinstance(backend, Executor):
        return backend
    if isinstance(backend, cirq.SimulatesExpectationValues):
        return CirqExecutor(backend)
    raise TypeError(
        "backend must be None, 'qsim', 'tensorflow', a qml executor or a "
        f"cirq.SimulatesExpectationValues, got {type(backend).__name__}: {backend!r}"
    )
