"""Tutorials run end to end, on small settings, and reach their stated results."""

import os
import pathlib
import re

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"


def run_notebook(path: pathlib.Path, tmp_path, **env: str) -> str:
    notebook = nbformat.read(path, as_version=4)
    os.environ.update(env)
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key in env:
            os.environ.pop(key, None)
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "stream"
    )


def test_pqc_classifier_tutorial(tmp_path):
    text = run_notebook(TUTORIALS / "pqc_classifier.ipynb", tmp_path,
                        QML_TUTORIAL_EPOCHS="12", MPLBACKEND="Agg")
    assert "reloaded model gives identical predictions: True" in text
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", text).group(1))
    assert accuracy >= 0.9, text
    assert (tmp_path / "pqc_classifier.keras").exists()
