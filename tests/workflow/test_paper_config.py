"""The paper's config: its DAG builds with the job counts its grid implies and GPUs on train and
attack."""

from __future__ import annotations

import copy

import yaml

from rero.study import config as study_config
from rero.study import tokens as config_tokens
from tests.helpers import REPO
from tests.helpers.paper import paper_config
from tests.helpers.workflow import planned_jobs, snakemake

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_the_paper_dag_has_the_grid_and_gpus_on_train_and_attack(tmp_path, study_dir):
    config = paper_config(tmp_path)
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        study_dir,
        "--dry-run",
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "slurm"),
        "--configfile",
        str(tmp_path / "paper.yaml"),
    )
    jobs = planned_jobs(result)
    datasets, budgets, seeds = 3, len(config["eps"]), len(config["seeds"])
    assert (len(config["datasets"]), budgets, seeds) == (datasets, 10, 5)
    assert jobs["train"] == datasets * budgets * seeds
    filled = copy.deepcopy(config)
    study_config.fill_defaults(filled, study_config.load_schema(SCHEMA))
    budgets_attacked = config_tokens.merged_eps_tokens(
        config_tokens.eps_tokens(filled["eps"]), filled["bounds"]["extra_eps"]
    )
    assert jobs["attack"] == datasets * len(budgets_attacked)  # the imprint attack's dense curve
    assert jobs["transition"] == jobs["advise"] == datasets
    assert jobs["prepare_data"] == 2 and jobs["prepare_segmentation_data"] == 1
    assert jobs["bounds"] == datasets
    text = result.stdout + result.stderr
    blocks = text.split("\nrule ")
    for rule in ("train", "attack"):
        resources = [block for block in blocks if block.startswith(f"{rule}:")]
        assert resources and all("gpu=1" in block for block in resources), rule


def test_decoding_processes_reach_the_job_but_not_its_params(tmp_path, study_dir):
    """``workers`` (rero.data.registry.RUNTIME_OPTIONS) is passed as ``--workers``, outside the
    ``--options`` that are the job's params, so changing it reruns nothing."""
    config = paper_config(tmp_path)
    config["datasets"]["ham10000"]["options"]["workers"] = 3
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(study_dir, "--dry-run", "-p", "--configfile", str(tmp_path / "paper.yaml"))
    lines = (result.stdout + result.stderr).splitlines()
    commands = [line for line in lines if "python -m rero prepare-data" in line]
    ham = [line for line in commands if "--dataset ham10000" in line]
    assert len(ham) == 1 and "--workers 3" in ham[0] and '"workers"' not in ham[0], commands
    assert not any("--workers" in line for line in commands if line not in ham)
