"""Shared fixtures (the repository root, a user's checkout with the default config) and the order
in which ``make test`` hands modules to its pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, shipped_config_text

TESTS = Path(__file__).parent
WORKFLOW_TESTS = TESTS / "workflow"
#: the modules that read the one shared tiny workflow run (its fixture is in this folder's conftest)
TINY_RUN_TESTS = WORKFLOW_TESTS / "tiny_run"


#: the longest modules after the tiny run's, longest first (measured: minutes each)
LONGEST_MODULES = (
    "test_paper_cpu.py",
    "test_slurm.py",
    "test_benchmarks.py",
    "test_workflow_3d.py",
)


def run_order(item: pytest.Item) -> tuple[bool, int, bool, bool]:
    """Longest first: the shared tiny run's modules, :data:`LONGEST_MODULES`, the other
    whole-workflow tests, the modules with slow tests, the rest (each keeps its place in its
    group)."""
    path = Path(item.fspath)
    longest = LONGEST_MODULES
    return (
        TINY_RUN_TESTS not in path.parents,
        longest.index(path.name) if path.name in longest else len(longest),
        WORKFLOW_TESTS not in path.parents,
        item.get_closest_marker("slow") is None,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/workflow/ runs Snakemake: marked ``workflow``, outside the fast
    tier. Items are put in :func:`run_order`, which is the order the workers get them in."""
    for item in items:
        if WORKFLOW_TESTS in Path(item.fspath).parents:
            item.add_marker(pytest.mark.workflow)
    items.sort(key=run_order)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist hands out whole modules (as ``--dist loadfile``), the folder of the shared
    tiny run as one unit, in the collected order (:func:`run_order`) rather than by test count:
    the run is made once, on one worker, while the other starts the next-longest work."""
    from xdist.scheduler import LoadScopeScheduling

    tiny_run_prefix = f"{TINY_RUN_TESTS.relative_to(config.rootpath).as_posix()}/"

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return tiny_run_prefix if module.startswith(tiny_run_prefix) else module

    config.option.loadscopereorder = False
    return ModuleScheduling(config, log)


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def study_dir(tmp_path):
    """A working directory holding the default config.yaml, as a user's checkout does."""
    workdir = tmp_path / "study"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(shipped_config_text())
    return workdir
