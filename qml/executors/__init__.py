"""Executors: the simulators behind the layers, with one interface.

``get_executor(backend)`` maps a layer's ``backend`` argument to an executor:
``None`` or ``'noiseless'`` (the default policy, :class:`DefaultExecutor`),
``'native'`` (qml's compiled core), ``'qsim'``, ``'noisy'`` (the default policy, for
expectations averaged over noise trajectories), ``'tensorflow'``, an
:class:`Executor`, or a Cirq simulator or sampler.

Example:
    >>> get_executor(None).name, get_executor("native").name, get_executor("qsim").name
    ('default', 'native', 'qsim')
"""

from __future__ import annotations

from typing import Any

from qml.executors.base import Batch, Estimation, Executor, prepare
from qml.executors.cirq_backend import CIRQ_BACKENDS, CirqExecutor
from qml.executors.default import DefaultExecutor
from qml.executors.native import NativeExecutor
from qml.executors.qsim import QsimExecutor, QsimOptions
from qml.executors.tensorflow import TensorflowExecutor

__all__ = ["Batch", "CirqExecutor", "DefaultExecutor", "Estimation", "Executor",
           "NativeExecutor", "QsimExecutor", "QsimOptions", "TensorflowExecutor",
           "get_executor", "prepare"]

_NAMED = {"native": NativeExecutor(), "qsim": QsimExecutor(), "tensorflow": TensorflowExecutor()}
_DEFAULT = DefaultExecutor(_NAMED["native"], _NAMED["qsim"])
_NAMED.update(noisy=_DEFAULT, noiseless=_DEFAULT)
BACKEND_NAMES = ("native", "noiseless", "noisy", "qsim", "tensorflow")


def get_executor(backend: Any) -> Executor:
    """The executor for a layer's ``backend`` argument.

    Args:
        backend: None (qml's default policy), ``'noiseless'``, ``'native'``,
            ``'qsim'``, ``'tensorflow'``, ``'noisy'``, an :class:`Executor`, or a Cirq
            simulator or sampler.

    Returns:
        An :class:`Executor`; named backends share one instance each.

    Raises:
        ValueError: for an unknown backend name.
        TypeError: for an object that is not a backend.

    Example:
        >>> type(get_executor("qsim")).__name__
        'QsimExecutor'
    """
    if backend is None:
        return _DEFAULT
    if isinstance(backend, str):
        if backend not in _NAMED:
            raise ValueError(
                f"backend must be None, one of {list(BACKEND_NAMES)} or a Cirq simulator, "
                f"got {backend!r}")
        return _NAMED[backend]
    if isinstance(backend, Executor):
        return backend
    if isinstance(backend, CIRQ_BACKENDS):
        return CirqExecutor(backend)
    raise TypeError(
        f"backend must be None, one of {list(BACKEND_NAMES)}, a qml executor, or a "
        "cirq.SimulatesExpectationValues, cirq.SimulatesFinalState or cirq.Sampler, got "
        f"{type(backend).__name__}: {backend!r}"
    )
