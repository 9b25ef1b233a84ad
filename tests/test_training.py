"""End-to-end training: the README's hybrid classifier on each executor."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import hybrid_classifier  # noqa: E402


@pytest.mark.parametrize("backend", ["native", "qsim", "tensorflow"])
def test_hybrid_classifier_learns_the_regions(backend):
    accuracy, _ = hybrid_classifier.train(backend, samples=400, epochs=30, seed=0, verbose=0)
    assert accuracy >= 0.95
