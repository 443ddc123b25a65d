"""The paper's 2-D path at CPU size, through the whole workflow: the shipped ``paper_cpu.yaml`` at
its own budgets (not the extra ones of the bound curve) and at 32 px (it ships 64: a quarter of
ResNet-9's work, the same path) on a few hundred generated JPEGs in the official HAM10000
layout."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.paper import write_ham10000
from tests.helpers.workflow import snakemake

PAPER_CPU_CONFIG = REPO / "workflow" / "configs" / "paper_cpu.yaml"
SIDE = 32


@pytest.mark.slow
def test_the_cpu_sized_paper_study_runs_through_the_workflow(tmp_path, study_dir):
    config = yaml.safe_load(PAPER_CPU_CONFIG.read_text())
    root = write_ham10000(tmp_path / "HAM10000", num_lesions=100, size=(64, 48))
    config["datasets"]["ham10000"]["options"]["root"] = str(root)
    # the paper's 2-D path at its own budgets; the extra budgets of the dense bound and attack
    # curve are the tiny run's to check (tests/workflow/tiny_run/), each an attack on ResNet-9
    config["bounds"]["extra_eps"] = []
    config["datasets"]["ham10000"]["options"]["size"] = SIDE
    (tmp_path / "paper_cpu.yaml").write_text(yaml.safe_dump(config))
    snakemake(study_dir, "--configfile", str(tmp_path / "paper_cpu.yaml"))

    results = study_dir / "results"
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary["dataset"]) == ["ham10000"] * len(config["eps"])  # not the default study
    meta = json.loads((results / "data" / "ham10000" / "meta.json").read_text())
    assert meta["num_classes"] == 2 and meta["options"]["size"] == SIDE
    for eps in ("8", "inf"):
        metrics = json.loads(
            (results / f"train/ham10000/eps_{eps}/seed_0/metrics.json").read_text()
        )
        assert metrics["model_spec"]["name"] == "resnet9"
        assert metrics["model_spec"]["image_size"] == [SIDE, SIDE]
        assert metrics["model_spec"]["single_logit"]
        assert metrics["config"]["augmentation_multiplicity"] == 2
        assert metrics["config"]["optimizer"] == "nadam"
        assert metrics["config"]["loss_reduction"] == "sum"
        # logical batches of 32 expected samples run as physical batches of 16: accumulation
        assert metrics["sampling"]["expected_batch_size"] == 32
        assert metrics["sampling"]["batch_size_max"] > metrics["config"]["physical_batch_size"]
        assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    imprint = {
        eps: json.loads((results / f"attack/ham10000/eps_{eps}/imprint.json").read_text())
        for eps in ("8", "inf")
    }
    assert imprint["inf"]["num_bins"] == 2 * imprint["inf"]["batch_size"]
    # without noise every image alone in its bin comes back; at ε = 8 none does
    assert imprint["inf"]["success_rate"] >= imprint["inf"]["share_alone_in_bin"]
    assert imprint["inf"]["success_rate"] > 0 and imprint["8"]["success_rate"] == 0
    assert (results / "figures").is_dir() and any((results / "figures").iterdir())
