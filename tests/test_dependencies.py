"""Every runtime import of the package is declared, in pyproject.toml and in the cluster's conda
environment (envs/rero.yaml), with the same pins; the package imports without Snakemake.

Snakemake and its SLURM plugin run the workflow: they are installed by pyproject.toml, but the jobs
(`python -m rero ...`) never import them, so the job environment does not carry them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
import yaml

from tests.helpers import REPO

PACKAGE = REPO / "src" / "rero"
WORKFLOW_DEPENDENCIES = {"snakemake", "snakemake-executor-plugin-slurm"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def normalise(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(lines: list[str]) -> dict[str, str]:
    """Distribution name -> version specifier of requirement strings."""
    parsed = {}
    for line in lines:
        match = REQUIREMENT.match(line.strip())
        assert match, f"unreadable requirement {line!r}"
        parsed[normalise(match.group(1))] = match.group(2).replace(" ", "")
    return parsed


def pyproject_dependencies() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return parse_requirements(project["dependencies"])


def conda_pip_dependencies() -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / "rero.yaml").read_text())
    pip_lists = [item["pip"] for item in env["dependencies"] if isinstance(item, dict)]
    assert len(pip_lists) == 1, "envs/rero.yaml: expected one pip: list"
    return parse_requirements(pip_lists[0])


def imported_top_level_modules() -> dict[str, list[str]]:
    """Third-party top-level module -> the package files importing it (anywhere in the file)."""
    found: dict[str, list[str]] = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "rero" and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(str(file.relative_to(REPO)))
    return found


def imported_distributions() -> dict[str, list[str]]:
    """Distribution -> files importing it, through the installed modules' metadata."""
    providers = metadata.packages_distributions()
    distributions: dict[str, list[str]] = {}
    for module, files in imported_top_level_modules().items():
        assert module in providers, f"{module} (imported by {files[0]}) is not installed"
        for distribution in providers[module]:
            distributions.setdefault(normalise(distribution), []).extend(files)
    return distributions


def test_every_import_is_declared_in_pyproject_and_the_conda_env():
    declared = pyproject_dependencies()
    conda = conda_pip_dependencies()
    for distribution, files in imported_distributions().items():
        assert distribution in declared, f"{distribution} ({files[0]}) is not in pyproject.toml"
        assert distribution in conda, f"{distribution} ({files[0]}) is not in envs/rero.yaml"


def test_every_declared_runtime_dependency_is_used():
    unused = set(pyproject_dependencies()) - WORKFLOW_DEPENDENCIES - set(imported_distributions())
    assert not unused, f"declared in pyproject.toml but imported nowhere in src/rero: {unused}"


def test_conda_env_pins_match_pyproject_and_the_makefile():
    declared = pyproject_dependencies()
    conda = conda_pip_dependencies()
    assert set(conda) == set(declared) - WORKFLOW_DEPENDENCIES
    torch_pin = re.search(r"^TORCH \?= torch(==\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert torch_pin, "Makefile: expected a line `TORCH ?= torch==<version>`"
    for distribution, pin in conda.items():
        expected = torch_pin.group(1) if distribution == "torch" else declared[distribution]
        assert pin == expected, f"envs/rero.yaml pins {distribution}{pin}, expected {expected}"


@pytest.mark.slow
def test_package_imports_without_snakemake():
    """Import every module of the package with Snakemake and its plugin made unimportable."""
    script = (
        "import sys, importlib, pkgutil\n"
        "for name in ('snakemake', 'snakemake_executor_plugin_slurm'):\n"
        "    sys.modules[name] = None\n"
        "import rero\n"
        "modules = [m.name for m in pkgutil.walk_packages(rero.__path__, 'rero.')]\n"
        "for name in modules:\n"
        "    if name != 'rero.__main__':\n"
        "        importlib.import_module(name)\n"
        "print(len(modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout) >= 40
