"""Every tutorial runs end to end on its small settings and reaches its stated results.

Each notebook checks itself against an independent reference (Cirq's simulators, a
closed form or exact diagonalisation) with ``assert`` cells, so a wrong number fails
the run; the checks here read the figures each notebook prints.
"""

import importlib.util
import os
import pathlib
import re
import time

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"

# Per notebook: (pattern, lowest acceptable value of its first group).
EXPECTED = {
    "pqc_classifier": [(r"held-out accuracy: ([0-9.]+)", 0.9)],
    "hello_many_worlds": [(r"wanted Z = \+1, got \+([0-9.]+)", 0.8),
                          (r"wanted Z = -1, got -([0-9.]+)", 0.8)],
    "digits_classifier": [(r"accuracy of the quantum model: ([0-9.]+)", 0.7)],
    "quantum_data": [(r"held-out phase accuracy: ([0-9.]+)", 0.8)],
    "qcnn": [(r"held-out accuracy: ([0-9.]+)", 0.6)],
    "gradients": [],
    "barren_plateaus": [(r"falls by a factor ([0-9.]+) per added qubit", 1.2)],
    "noise": [],
    "research_tools": [(r"fidelity ([0-9.]+)", 0.999)],
    "quantum_rl": [(r"episodes 1-10: mean reward ([0-9.]+)", 8.0)],
    "speed": [],
}

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


def run_notebook(path: pathlib.Path, tmp_path, **env: str) -> str:
    """Executes a notebook in ``tmp_path`` and returns its printed output."""
    notebook = nbformat.read(path, as_version=4)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "stream"
    )


def test_every_tutorial_has_checks_and_a_colab_badge():
    notebooks = sorted(path.stem for path in TUTORIALS.glob("*.ipynb"))
    assert notebooks == sorted(EXPECTED)
    for name in notebooks:
        cells = nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4).cells
        assert f"colab.research.google.com/github/qml-dev/qml/blob/main/tutorials/{name}.ipynb" \
            in cells[1].source, name
        assert "google.colab" in cells[2].source and "pip" in cells[2].source, name
        assert any("assert " in cell.source for cell in cells if cell.cell_type == "code"), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_on_small_settings(name, tmp_path):
    if name == "quantum_rl" and importlib.util.find_spec("gymnasium") is None:
        pytest.skip("gymnasium is in the latest stack only")
    start = time.perf_counter()
    text = run_notebook(TUTORIALS / f"{name}.ipynb", tmp_path, QML_TUTORIAL_SMALL="1",
                        MPLBACKEND="Agg", QML_DATA_DIR=str(tmp_path / "data"))
    print(f"{name}: {time.perf_counter() - start:.1f} s on the small settings")
    for pattern, lowest in EXPECTED[name]:
        match = re.search(pattern, text)
        assert match, f"{name} did not print {pattern!r}:\n{text[-2000:]}"
        assert float(match.group(1)) >= lowest, f"{name}: {match.group(0)}"
    if name == "pqc_classifier":
        assert "reloaded model gives identical predictions: True" in text
        assert (tmp_path / "pqc_classifier.keras").exists()
