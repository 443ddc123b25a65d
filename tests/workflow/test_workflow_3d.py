"""The shipped 3-D segmentation task through the whole DAG on a tiny config."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from rero.reporting.figures import FIGURES
from tests.helpers import REPO
from tests.helpers.workflow import planned_jobs, snakemake, write_config

TINY_3D = {
    "datasets": {
        "seg": {"loader": "mni152_seg", "options": {"n_train": 48, "n_val": 16, "n_test": 16}}
    },
    "eps": [8, "inf"],
    "seeds": [0],
    "privacy": {"delta": 1e-3},
    "training": {"model": "unet3d", "epochs": 1, "batch_size": 12, "physical_batch_size": 12},
    "bounds": {"extra_eps": [2]},
    "attack": {
        "imprint": {"batch_size": 4, "num_batches": 2, "num_bins": 8},
        "prior_aware": {"prior_size": 4, "known_size": 8, "trials": 8, "steps": 3},
    },
}


@pytest.fixture(scope="module")
def run_3d(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("study_3d")
    write_config(workdir, TINY_3D)
    snakemake(workdir)
    return {"workdir": workdir, "results": workdir / "results"}


@pytest.mark.slow
def test_the_3d_task_runs_end_to_end_and_is_scored_by_dice(run_3d):
    results = run_3d["results"]
    meta = json.loads((results / "data/seg/meta.json").read_text())
    assert meta["task"] == "segmentation" and meta["shape"] == [1, 16, 16, 16]
    masks = np.load(results / "data/seg/test_masks.npy")
    assert masks.shape == (16, 16, 16, 16) and masks.dtype == np.uint8 and masks.max() <= 3
    for eps in ("8", "inf"):
        metrics = json.loads((results / f"train/seg/eps_{eps}/seed_0/metrics.json").read_text())
        assert metrics["task"] == "segmentation" and metrics["model_spec"]["name"] == "unet3d"
        assert 0 <= metrics["test"]["dice"] <= 1 and 0 <= metrics["test"]["dice_foreground"] <= 1
        assert set(metrics["test"]["dice_per_class"]) == set(meta["class_names"])
        with np.load(results / f"attack/seg/eps_{eps}/recon.npz") as recon:
            assert recon["originals"].shape == recon["reconstructions"].shape == (8, 1, 16, 16, 16)
    summary = pd.read_csv(results / "summary.csv")
    assert summary["task"].tolist() == ["segmentation"] * 2
    assert summary["main_metric"].tolist() == ["dice"] * 2
    assert summary["main_metric_mean"].equals(summary["dice_mean"])
    assert summary["mcc_mean"].isna().all()
    non_private = summary[np.isinf(summary["target_epsilon"])].iloc[0]
    assert non_private["imprint_success_rate"] > 0  # whole volumes come back without noise
    for name in FIGURES:
        assert (results / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / f"figures/{name}.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
def test_a_changed_option_reruns_the_segmentation_preparation_and_what_follows(run_3d):
    config = json.loads(json.dumps(TINY_3D))
    config["datasets"]["seg"]["options"]["n_train"] = 40
    write_config(run_3d["workdir"], config)
    try:
        jobs = planned_jobs(snakemake(run_3d["workdir"], "--dry-run"))
    finally:
        write_config(run_3d["workdir"], TINY_3D)
    assert jobs == {
        "prepare_segmentation_data": 1,
        "calibrate": 3,
        "train": 2,
        "bounds": 1,
        "from_scratch": 1,
        "attack": 3,
        "transition": 1,
        "advise": 1,
        "translate": 1,
        "aggregate": 1,
        "figures": 1,
        "report_pages": 1,
        "provenance": 1,
        "results_readme": 1,
        "all": 1,
    }


def test_a_classification_model_on_the_3d_task_stops_before_any_job(tmp_path):
    config = json.loads(json.dumps(TINY_3D))
    config["training"]["model"] = "resnet9"
    write_config(tmp_path, config)
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert (
        "training.model: 'resnet9' is a classification model, the dataset a segmentation task"
        in result.stderr
    )
    assert not (tmp_path / "results").exists()


def test_the_shipped_3d_config_is_valid(tmp_path):
    config = yaml.safe_load((REPO / "workflow" / "configs" / "mni152_seg.yaml").read_text())
    write_config(tmp_path, config)
    jobs = planned_jobs(snakemake(tmp_path, "--dry-run"))
    assert jobs["train"] == 10 and jobs["prepare_segmentation_data"] == 1
