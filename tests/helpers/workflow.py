"""Running the project's Snakefile in a test's working directory, a private copy of the checkout
for tests that edit the code, and the tiny config that the whole-workflow tests share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

TINY_CONFIG = {
    "datasets": {
        "tiny": {"loader": "mni152", "options": {"n_train": 240, "n_val": 60, "n_test": 90}}
    },
    "eps": [8, "1e9", "inf"],
    "seeds": [0],
    "privacy": {"delta": 1e-4},
    "training": {"epochs": 1, "batch_size": 60, "physical_batch_size": 32},
    "bounds": {"extra_eps": [2, "1e4", "1e6"]},
    "attack": {
        "imprint": {"batch_size": 8, "num_batches": 2, "num_bins": 16},
        "prior_aware": {"prior_size": 4, "trials": 8, "steps": 3},
    },
    "audit": {"eps": [8], "gradient_canaries": 200, "input_canaries": 30, "guesses": [10, 20]},
}


def checkout_copy(directory: Path) -> Path:
    """``directory`` made a git checkout of the workflow as it is here (Snakefile, workflow/,
    src/rero/; one commit): its jobs run its own package, so a test may edit that code while
    other tests use the repository's."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", directory / "Snakefile")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "workflow", directory / "workflow", ignore=ignore)
    shutil.copytree(REPO / "envs", directory / "envs", ignore=ignore)
    shutil.copytree(REPO / "src" / "rero", directory / "src" / "rero", ignore=ignore)
    (directory / ".gitignore").write_text("results/\n.snakemake/\nconfig.yaml\n*.html\n")
    identity = ["-c", "user.name=rero tests", "-c", "user.email=tests@rero.invalid"]
    for command in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *command], cwd=directory, check=True, capture_output=True)
    return directory


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the Snakefile of the checkout in ``workdir`` (:func:`checkout_copy`) or else the
    repository's, in ``workdir`` (which holds the config.yaml)."""
    snakefile = workdir / "Snakefile" if (workdir / "Snakefile").is_file() else REPO / "Snakefile"
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [
            SNAKEMAKE,
            "--snakefile",
            str(snakefile),
            "--directory",
            str(workdir),
            "--cores",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule → job count from the 'Job stats' table of a dry run."""
    jobs: dict[str, int] = {}
    text = result.stdout + result.stderr
    if "Job stats:" not in text:
        return jobs
    for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            break
        if fields[0] != "total":
            jobs[fields[0]] = int(fields[1])
    return jobs
