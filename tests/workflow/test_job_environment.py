"""What a job runs and what it asks the cluster for, without a cluster: every job runs the
workflow's own src/ (not an installed copy), and the cluster profile's documented edits do what
its comments say."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from tests.helpers import REPO
from tests.helpers.workflow import TINY_CONFIG, snakemake, write_config

CLUSTER_PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"


def copy_workflow(destination: Path) -> Path:
    """A second checkout of the workflow: its Snakefile, rules, schemas, envs and package."""
    destination.mkdir()
    shutil.copy2(REPO / "Snakefile", destination / "Snakefile")
    for folder in ("workflow", "envs", "src"):
        shutil.copytree(
            REPO / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return destination


def test_jobs_run_the_workflows_own_package(tmp_path):
    """A job of a second copy of the workflow runs that copy's src/, whichever rero the
    environment has installed (the venv's is an editable install of this repository)."""
    checkout = copy_workflow(tmp_path / "checkout")
    study = tmp_path / "study"
    write_config(study, TINY_CONFIG)
    snakemake(study, "--snakefile", str(checkout / "Snakefile"), "results/data/tiny/meta.json")
    first_line = (study / "results/logs/prepare_data/tiny.log").read_text().splitlines()[0]
    assert first_line.startswith("rero prepare-data: rero ")
    assert first_line.endswith(f"from {checkout / 'src' / 'rero'}")


def dry_run_resources(study: Path, profile_dir: Path, *targets: str) -> dict[str, str]:
    """Rule -> the resources line of the dry run's jobs for ``targets`` under a profile."""
    result = snakemake(study, "--workflow-profile", str(profile_dir), "--dry-run", *targets)
    resources = {}
    for block in re.split(r"\n(?=rule \w+:)", result.stdout):
        rule = re.match(r"rule (\w+):", block)
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and line:
            resources[rule.group(1)] = line.group(1)
    return resources


def test_an_account_in_default_resources_reaches_the_gpu_rules(tmp_path):
    """The profile says: add slurm_account to default-resources alone, every rule gets it."""
    profile = yaml.safe_load(CLUSTER_PROFILE.read_text())
    profile["default-resources"]["slurm_account"] = "proj42"
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile))
    study = tmp_path / "study"
    write_config(study, TINY_CONFIG)
    resources = dry_run_resources(
        study,
        profile_dir,
        "results/train/tiny/eps_8/seed_0/metrics.json",
        "results/attack/tiny/eps_8/imprint.json",
    )
    assert {"prepare_data", "calibrate", "train", "attack"} <= set(resources)
    for rule, line in resources.items():
        assert "slurm_account=proj42" in line, f"{rule}: {line}"
    for rule in ("train", "attack"):
        assert "slurm_partition=gpu" in resources[rule] and "gpu=1" in resources[rule]
