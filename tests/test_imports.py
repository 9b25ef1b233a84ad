"""qml's modules import one way: no import statement, at any depth, closes a cycle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` and the modules of that package it imports; a name
    imported from a package counts as its submodule when there is one."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for module, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative to the module's package
                    parts = module.split(".")[:None if path.name == "__init__.py" else -1]
                    base = ".".join(parts[:len(parts) - node.level + 1] + [base] * bool(base))
                imported |= {known(f"{base}.{alias.name}") for alias in node.names}
        graph[module] = imported - {"", module}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of ``graph``, or [] when its modules can be ordered."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return []


def test_qml_has_no_import_cycle():
    graph = import_graph(ROOT / "qml")
    assert len(graph) > 30 and "qml.executors.native" in graph["qml.executors.default"]
    assert cycle(graph) == []


def test_a_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    import pkg.a\n")
    with pytest.raises(AssertionError):
        assert cycle(import_graph(package)) == []
    assert set(cycle(import_graph(package))) == {"pkg.a", "pkg.sub.b"}
