"""Executors declare what they can do, and callers ask them, not their types."""

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf
from conftest import reference_gradient

import qml
from qml.executors.base import CAPABILITIES
from qml.executors.mps import MpsExecutor

EXECUTORS = {
    "native": qml.executors.NativeExecutor(),
    "default": qml.executors.DefaultExecutor(),
    "qsim": qml.executors.QsimExecutor(),
    "tensorflow": qml.executors.TensorflowExecutor(),
    "mps": MpsExecutor(4),
    "cirq.Simulator": qml.executors.CirqExecutor(cirq.Simulator()),
    "cirq.DensityMatrixSimulator": qml.executors.CirqExecutor(cirq.DensityMatrixSimulator()),
}


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_declared_capabilities_are_methods_and_the_rest_are_refused(name):
    executor = EXECUTORS[name]
    assert executor.capabilities <= set(CAPABILITIES)
    for capability in CAPABILITIES:
        if capability in executor.capabilities:
            assert callable(getattr(executor, capability))
            executor.require(capability, "unused")
        else:
            with pytest.raises(TypeError, match=f"cannot compute {capability.replace('_', ' ')}"):
                executor.require(capability, "try another backend")


def test_a_capability_declared_without_its_method_is_refused_at_definition():
    with pytest.raises(TypeError, match=r"declares capabilities it does not implement: \['samples'\]"):
        class Boasting(qml.executors.Executor):  # noqa: F841
            capabilities = frozenset({"samples"})

            def expectation(self, batch):
                return np.zeros((batch.batch_size, batch.num_operators), np.float32)


def test_a_cirq_simulator_gets_the_capabilities_of_its_kind():
    assert "final_states" in EXECUTORS["cirq.Simulator"].capabilities
    only_samples = qml.executors.CirqExecutor(cirq.ZerosSampler())
    assert only_samples.capabilities == {"samples", "sampled_expectation"}
    with pytest.raises(TypeError, match="cannot compute final states"):
        qml.layers.State(backend=cirq.ZerosSampler())(cirq.Circuit(cirq.X(cirq.LineQubit(0))))


@pytest.mark.parametrize("name", ["native", "default", "qsim", "tensorflow", "cirq.Simulator"])
def test_adjoint_gradient_on_every_exact_executor_matches_finite_differences(name):
    """Executors with the adjoint capability sweep themselves; qsim's forward pass is
    swept by the native core."""
    q = cirq.LineQubit.range(2)
    a, b = sympy.symbols("a b")
    circuit = cirq.Circuit(cirq.rx(a)(q[0]), cirq.CNOT(*q), cirq.ry(b * 2)(q[1]))
    operators = [cirq.Z(q[1]), cirq.X(q[0]) * cirq.X(q[1])]
    values = np.array([[0.3, -0.7], [1.1, 0.4]], np.float32)
    layer = qml.layers.Expectation(backend=EXECUTORS[name],
                                   differentiator=qml.differentiators.Adjoint())
    variable = tf.Variable(values)
    upstream = np.array([[1.0, -0.5], [0.25, 2.0]])
    with tf.GradientTape() as tape:
        out = layer([circuit] * 2, symbol_names=["a", "b"], symbol_values=variable,
                    operators=operators)
        loss = tf.reduce_sum(out * upstream)
    expected = reference_gradient([circuit] * 2, values, [operators] * 2, upstream,
                                  names=["a", "b"])
    np.testing.assert_allclose(tape.gradient(loss, variable).numpy(), expected, atol=1e-4)
