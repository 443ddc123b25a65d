"""Shared fixtures: the repository root, a user's checkout with the default config, and the tiny
workflow run that every module reading a real run's outputs shares (run once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, shipped_config_text

WORKFLOW_TESTS = Path(__file__).parent / "workflow"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/workflow/ runs Snakemake: marked ``workflow``, outside the fast
    tier. The modules that use the shared tiny run come first, then the other whole-workflow
    tests, so that under pytest-xdist (``make test``: ``--dist loadfile``, a module's tests and
    fixtures on one worker) the longest modules start at once."""
    for item in items:
        if WORKFLOW_TESTS in Path(item.fspath).parents:
            item.add_marker(pytest.mark.workflow)
    items.sort(
        key=lambda item: (
            "tiny_run" not in item.fixturenames,
            item.get_closest_marker("workflow") is None,
        )
    )


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A copy of the checkout in which the whole workflow has run on the tiny config of
    tests/helpers/workflow.py: run once, shared by every module that reads a real run's outputs
    (tests edit the copy's code, never the repository's)."""
    from tests.helpers.workflow import TINY_CONFIG, checkout_copy, snakemake, write_config

    workdir = checkout_copy(tmp_path_factory.mktemp("study"))
    write_config(workdir, TINY_CONFIG)
    snakemake(workdir)
    return workdir


@pytest.fixture
def study_dir(tmp_path):
    """A working directory holding the default config.yaml, as a user's checkout does."""
    workdir = tmp_path / "study"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(shipped_config_text())
    return workdir
