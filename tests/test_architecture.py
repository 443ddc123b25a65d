"""The package's layers, read from its import statements (those in function bodies too): no
import cycle, each layer imports only the layers below it, the pure core and the study spec load
no torch, and no test module imports another."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rero.runtime.sources import imported_modules, module_closure
from tests.helpers import REPO

PACKAGE = REPO / "src" / "rero"
TESTS = REPO / "tests"

#: each layer's rank: a module may import its own layer and layers of a lower rank only
LAYERS = {
    "runtime": 0,
    "privacy.accounting": 0,
    "models": 0,
    "data": 1,
    "study": 2,
    "privacy": 2,
    "training": 3,
    "attacks": 4,
    "audit": 4,
    "reporting": 4,
    "commands": 5,
    "cli": 6,
    "__main__": 7,
}
#: layers that must run without torch (the Snakefile reads the study; accounting is pure math)
TORCH_FREE = ("study", "privacy.accounting")


def module_name(file: Path) -> str:
    parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(file): file for file in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str) -> set[str]:
    """The package modules ``module`` imports (names imported from a module count as it)."""
    return {name for name in imported_modules(MODULES[module], module) if name in MODULES}


def layer(module: str) -> str | None:
    """The layer of ``module``: ``privacy.accounting`` or the package under ``rero``."""
    parts = module.split(".")[1:]
    if parts[:2] == ["privacy", "accounting"]:
        return "privacy.accounting"
    return parts[0] if parts else None


def test_every_module_belongs_to_a_layer():
    assert {layer(module) for module in MODULES} - {None} == set(LAYERS)


def test_no_import_cycle():
    graph = {module: imports_of(module) - {module} for module in MODULES}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycle = [*path[path.index(imported) :], imported]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_and_lower_layers(module):
    own = layer(module)
    if own is None:  # the root package's __init__ imports nothing
        assert imports_of(module) <= {"rero"}
        return
    wrong = sorted(
        imported
        for imported in imports_of(module)
        if layer(imported) not in (None, own) and LAYERS[layer(imported)] >= LAYERS[own]
    )
    assert not wrong, f"{module} ({own}) imports a layer at or above its own: {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("torch_free", TORCH_FREE)
def test_the_pure_core_and_the_study_import_no_torch(torch_free):
    modules = sorted(module for module in MODULES if layer(module) == torch_free)
    closure = [module_name(file) for file in module_closure(PACKAGE, modules)]
    for module in closure:
        tree = ast.parse(MODULES[module].read_text())
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in names if name.split(".")[0] in ("torch", "opacus")}, module
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] == 'torch')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_no_test_module_imports_another():
    """Shared helpers live in tests/helpers and the conftest files' fixtures (benchmarks use the
    same helpers)."""
    offenders = []
    for file in sorted([*TESTS.rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")]):
        for node in ast.walk(ast.parse(file.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                last = name.split(".")[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    offenders.append(f"{file.relative_to(REPO)} imports {name}")
    assert not offenders
