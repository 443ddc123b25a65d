"""The tiny workflow run that every module of this folder reads: the whole DAG on the tiny config
of tests/helpers/workflow.py, run once per session. The modules that use it live here and only
here, so that under pytest-xdist they run one after another on one worker (tests/conftest.py):
the run is made once, and a test that edits the copy's config or code for a dry run never races
one that reads its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.workflow import TINY_CONFIG, checkout_copy, snakemake, write_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A copy of the checkout in which the whole workflow has run on the tiny config (tests edit
    the copy's code, never the repository's, and restore what they edit)."""
    workdir = checkout_copy(tmp_path_factory.mktemp("study"))
    write_config(workdir, TINY_CONFIG)
    snakemake(workdir)
    return workdir
