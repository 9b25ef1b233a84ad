"""The documentation: every public name is documented, and the site builds and renders.

The docstring examples themselves run as doctests (``--doctest-modules`` in
pyproject.toml); here each public name must have the sections a reader looks for.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import pathlib
import re
import runpy
import shutil
import subprocess
import sys

import keras
import matplotlib.image
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PUBLIC_MODULES = ["qml", "qml.layers", "qml.differentiators", "qml.math", "qml.noise",
                  "qml.util", "qml.datasets", "qml.optimizers", "qml.executors",
                  "qml.errors"]

# Does not depend on the stack's TensorFlow, Keras or Cirq: runs on one stack only.
pytestmark = pytest.mark.stack_independent


def public_names() -> list[tuple[str, str, object]]:
    """(module, name, object) for every non-module name in a public module's ``__all__``."""
    found = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                found.append((module_name, name, obj))
    return found


def required_sections(obj: object) -> list[str]:
    """The docstring sections a public name must have.

    Functions: Args (when they take any), Returns and Raises. Classes: Args (when
    a constructor of qml's own takes any) and Raises; layers also Returns, for what a call
    gives. Dataclasses and named tuples list Attributes. Exceptions need only their example.
    Everything has an example.
    """
    sections = ["Example"]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return sections
    if dataclasses.is_dataclass(obj) or (inspect.isclass(obj) and issubclass(obj, tuple)):
        return sections + ["Attributes:"]
    function = obj.__init__ if inspect.isclass(obj) else obj
    parameters = [p for p in inspect.signature(function).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if not (getattr(function, "__module__", None) or "").startswith("qml"):
        parameters = []  # a constructor inherited from Keras or object
    if parameters:
        sections.append("Args:")
    if not inspect.isclass(obj) or issubclass(obj, keras.layers.Layer):
        sections.append("Returns:")
    return sections + ["Raises:"]


@pytest.mark.parametrize("module_name,name,obj", public_names(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_public_name_is_documented(module_name, name, obj):
    doc = inspect.getdoc(obj) or ""
    missing = [section for section in required_sections(obj) if section not in doc]
    assert not missing, f"{module_name}.{name} lacks {missing} in its docstring"
    assert ">>>" in doc.split("Example", 1)[1], f"{module_name}.{name}: example has no code"


mkdocs_available = importlib.util.find_spec("mkdocs") is not None


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> pathlib.Path:
    if not mkdocs_available:
        pytest.skip("mkdocs is in the latest stack only")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def test_site_builds_strict_with_every_tutorial(built_site):
    notebooks = sorted(path.stem for path in (ROOT / "tutorials").glob("*.ipynb"))
    pages = sorted(path.parent.name for path in (built_site / "tutorials").glob("*/index.html"))
    assert pages == notebooks
    config = (ROOT / "mkdocs.yml").read_text()
    unlisted = [name for name in notebooks if f"tutorials/{name}.ipynb" not in config]
    assert not unlisted, f"tutorials missing from mkdocs.yml's nav: {unlisted}"


def test_api_reference_lists_every_public_name(built_site):
    missing = []
    for module_name in PUBLIC_MODULES:
        page_name = "qml" if module_name == "qml" else module_name.split(".", 1)[1]
        html = (built_site / "api" / page_name / "index.html").read_text()
        anchors = set(re.findall(r'id="([\w.]+)"', html))
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if inspect.ismodule(getattr(module, name)):
                continue
            if f"{module_name}.{name}" not in anchors:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ["chromium", "chromium-browser"])), None)


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium package is not installed")
@pytest.mark.parametrize("page", ["index.html", "api/layers/index.html"])
def test_site_page_renders_in_headless_chromium(built_site, page, tmp_path):
    """Chromium loads the page from disk, runs its scripts and lays out its text."""
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--allow-file-access-from-files"]
    url = (built_site / page).as_uri()
    dom = subprocess.run(browser + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    expected = "A first model" if page == "index.html" else "qml.layers.PQC"
    assert expected in dom
    assert "md-sidebar" in dom  # the Material theme's navigation was rendered
    screenshot = tmp_path / "page.png"
    subprocess.run(browser + [f"--screenshot={screenshot}", "--window-size=1280,900", url],
                   capture_output=True, timeout=120)
    pixels = matplotlib.image.imread(screenshot)[..., :3]
    assert pixels.shape[:2] == (900, 1280)
    inked = np.mean(pixels.min(axis=2) < 0.8)  # text, the header bar, code blocks
    colours = len(np.unique((pixels.reshape(-1, 3) * 15).round(), axis=0))
    assert inked > 0.02 and colours > 20, f"{page} looks blank: {inked:.3f} inked, {colours} colours"


@pytest.mark.parametrize("page", ["README.md", "docs/benchmarks.md"])
def test_every_figure_table_matches_the_record_it_names(page):
    """A section of README.md or of a docs page that names a stored record under
    benchmarks/results/ quotes that record's table rows as they stand in it."""
    text = (ROOT / page).read_text()
    checked = 0
    for section in re.split(r"^## ", text, flags=re.M):
        records = set(re.findall(r"(benchmarks/results/[\w.-]+\.md)", section))
        rows = [line for line in section.splitlines()
                if line.startswith("|") and not set(line) <= set("|-: ")]
        if not records or not rows:
            continue
        lines = {line for record in records
                 for line in (ROOT / record).read_text().splitlines()}
        missing = [row for row in rows if row not in lines]
        assert not missing, f"{page} rows not in {sorted(records)}: {missing}"
        checked += len(rows)
    assert checked > 0, f"{page} quotes no stored record"


def test_every_stored_record_a_page_names_exists():
    """Figures in the docs name their record; each named record is in the repository."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for record in re.findall(r"benchmarks/results/[\w.-]+\.md", page.read_text()):
            assert (ROOT / record).is_file(), f"{page.name} names {record}, which is missing"


def test_the_migration_guides_ported_program_trains_and_reloads(tmp_path, monkeypatch):
    """The 'after' program of the migration guide runs as printed; the model it saves
    reloads and steers the qubit as the targets ask."""
    guide = (ROOT / "docs" / "migrating-from-tfq.md").read_text()
    section = guide.split("## A whole program, before and after", 1)[1].split("\n## ", 1)[0]
    after = re.findall(r"```python\n(.*?)```", section, flags=re.S)[1]
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "ported.py"
    script.write_text(after)
    scope = runpy.run_path(str(script))  # the guide's own code, as a user runs it
    restored = keras.models.load_model(tmp_path / "controller.keras")
    import tensorflow as tf

    out = np.asarray(restored([scope["circuits"], tf.constant(scope["commands"])]))
    np.testing.assert_allclose(out, np.asarray(scope["model"](
        [scope["circuits"], tf.constant(scope["commands"])])), atol=1e-6)
    assert out[0, 0] > 0.8 and out[1, 0] < -0.8, out
