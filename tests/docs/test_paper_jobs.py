"""The paper study's job counts the docs show are those the workflow plans for
workflow/configs/paper.yaml (planned here on generated data in the official layouts)."""

from __future__ import annotations

import json

import pytest
import yaml

from rero.reporting.docs.render import SNAPSHOT
from rero.study.planned_jobs import planned_jobs
from tests.helpers import REPO
from tests.helpers.paper import paper_config

JOBS = REPO / SNAPSHOT / "paper" / "jobs.json"


@pytest.mark.slow
@pytest.mark.workflow
def test_the_documented_paper_jobs_are_what_the_workflow_plans(tmp_path):
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(paper_config(tmp_path)))
    counts = planned_jobs([tmp_path / "paper.yaml"], tmp_path)
    documented = json.loads(JOBS.read_text())["jobs"]
    assert counts == documented, (
        f"{JOBS.relative_to(REPO)} holds {documented}; the workflow plans {json.dumps(counts)}: "
        "write those there and run make docs"
    )
