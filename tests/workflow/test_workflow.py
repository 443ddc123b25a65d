"""A bad config stops before any job; a user's own config file replaces the default study."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import write_medmnist_file
from tests.helpers.workflow import TINY_CONFIG, planned_jobs, snakemake, write_config


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["training"].update(epochs="many"), "training.epochs"),
        (lambda c: c.update(eps=[]), "eps"),
        (lambda c: c.update(eps=[0]), "eps.0: 0 is not valid"),
        (lambda c: c.update(eps=["0"]), "eps: '0' is not a valid privacy budget"),
        (lambda c: c["privacy"].update(delta=0.01), "privacy.delta"),
        (lambda c: c["training"].update(batch_size=10_000), "training.batch_size"),
        (lambda c: c.update(colour="blue"), "unknown key(s) ['colour']"),
        (
            lambda c: c["training"].update(model="resnet9", grad_sample_mode="ew"),
            "training.grad_sample_mode: 'ew' cannot differentiate model 'resnet9'",
        ),
        (
            lambda c: c["datasets"].update(
                x={"loader": "medmnist", "options": {"path": "/nonexistent/x.npz"}}
            ),
            "/nonexistent/x.npz",
        ),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, change, expected):
    config = json.loads(json.dumps(TINY_CONFIG))
    change(config)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_a_key_given_twice_in_a_config_file_stops_before_any_job(tmp_path):
    write_config(tmp_path, TINY_CONFIG)
    text = (tmp_path / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text + "seeds: [1]\n")  # YAML would keep the last
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert "config.yaml:" in result.stderr and "the key 'seeds' is given twice" in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_users_config_file_replaces_the_default_study(study_dir, tmp_path):
    source = write_medmnist_file(
        tmp_path / "pneumoniamnist.npz", {"train": 60, "val": 20, "test": 20}
    )
    own = {
        "datasets": {"pneumonia": {"loader": "medmnist", "options": {"path": str(source)}}},
        "eps": [8],
        "seeds": [0],
        "privacy": {"delta": 1e-3},
        "training": {"batch_size": 20},
        "bounds": {"extra_eps": []},
    }
    own["datasets"]["pneumonia"]["training"] = {"learning_rate": 0.01, "epochs": 2}
    own["datasets"]["pneumonia"]["attack"] = {"imprint": {"num_bins": 8, "num_batches": 3}}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    result = snakemake(study_dir, "--dry-run", "-p", "--configfile", str(tmp_path / "own.yaml"))
    assert planned_jobs(result)["prepare_data"] == 1
    commands = result.stdout + result.stderr
    # The dataset's own settings reach its jobs, over the top-level sections.
    assert "--learning-rate 0.01" in commands and "--epochs 2" in commands
    assert "--num-bins 8" in commands and "--batch-size 20" in commands
    assert "dataset=mni152" not in result.stdout + result.stderr
    # Without config files of their own, --config still adjusts the shipped study.
    default = snakemake(study_dir, "--dry-run", "--config", "eps=[8,inf]")
    assert planned_jobs(default)["train"] == 4  # 2 budgets x the shipped 2 seeds
    assert "dataset=mni152" in default.stdout + default.stderr
