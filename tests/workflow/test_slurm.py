"""The workflow on a real SLURM cluster (scripts/slurm_up.sh starts a single-node one).

Skipped unless `sinfo` reports an idle node. Checks that the cluster jobs really go through
sbatch, and which resources the shipped cluster profile asks SLURM for on the GPU rules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rero.study.resources import attempt_minutes, per_sample_gradients
from tests.helpers import REPO
from tests.helpers.workflow import SNAKEMAKE, TINY_CONFIG, write_config

TEST_PROFILE = REPO / "tests" / "workflow" / "slurm-profile"
CLUSTER_PROFILE = REPO / "workflow" / "profiles" / "slurm"
# Rules that run on the cluster, and how many jobs each has for SLURM_CONFIG.
CLUSTER_JOBS = {
    "prepare_data": 1,
    "calibrate": 2,
    "bounds": 1,
    "from_scratch": 1,
    "train": 2,
    "attack": 2,
    "transition": 1,
    "advise": 1,
    "audit": 1,
    "translate": 1,
}
LOCAL_RULES = ("all", "aggregate", "figures", "report_pages", "provenance", "results_readme")
RUN_TIMEOUT_S = 600
SUBMIT_TIMEOUT_S = 90

# The smallest study: one ε plus the non-private run, one seed, one epoch, no extra bound budgets.
SLURM_CONFIG = json.loads(json.dumps(TINY_CONFIG))
SLURM_CONFIG["eps"] = [8, "inf"]
SLURM_CONFIG["bounds"] = {"extra_eps": []}
SLURM_CONFIG["attack"]["transition"] = {"bisections": 1}
#: the tiny study's train limit (workflow/rules/resources.smk): its work over the assumed
#: throughput of the schema's default model, small_cnn, at the default multiplicity 1
TRAIN_MINUTES = attempt_minutes(
    per_sample_gradients(
        SLURM_CONFIG["datasets"]["tiny"]["options"]["n_train"],
        SLURM_CONFIG["training"]["batch_size"],
        SLURM_CONFIG["training"]["epochs"],
        1,
    ),
    "small_cnn",
)


def slurm_unavailable() -> str | None:
    """Why no SLURM cluster can run jobs here, or None when sinfo reports an idle node."""
    if reason := os.environ.get("RERO_SLURM_SKIP_REASON"):
        return reason
    if shutil.which("sinfo") is None:
        return "no SLURM: sinfo is not on PATH (start one with `bash scripts/slurm_up.sh`)"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "no SLURM: sinfo did not answer within 20 s"
    if states.returncode != 0:
        return f"no SLURM: sinfo failed: {states.stderr.strip()}"
    if "idle" not in states.stdout.split():
        return f"no idle SLURM node (sinfo node states: {states.stdout.split()})"
    return None


SKIP_REASON = slurm_unavailable()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


def cancel_jobs_in(workdir: Path) -> None:
    """Cancel the SLURM jobs whose working directory is ``workdir`` (left by a killed run)."""
    queue = subprocess.run(
        ["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True, timeout=20
    )
    job_ids = [
        job_id
        for job_id, _, job_dir in (line.partition(" ") for line in queue.stdout.splitlines())
        if Path(job_dir) == workdir
    ]
    if job_ids:
        subprocess.run(["scancel", *job_ids], timeout=20, check=False)


def snakemake_bounded(
    workdir: Path, timeout: int, *args: str, watch: Callable[[], bool] | None = None
) -> subprocess.CompletedProcess:
    """Run the project's Snakefile in ``workdir``; on timeout kill it and its cluster jobs.

    ``watch``, if given, is called every 0.5 s while Snakemake runs, until it returns True.
    Snakemake may ignore SIGTERM while it waits on cluster jobs, so the whole process group is
    killed. Jobs find the environment's python first on PATH (sbatch exports the environment).
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    process = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while watch is not None and process.poll() is None and time.monotonic() < deadline:
            if watch():
                break
            time.sleep(0.5)
        output, _ = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        cancel_jobs_in(workdir)
        pytest.fail(f"snakemake {' '.join(args)} ran past {timeout} s:\n{output[-6000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def slurm_job_logs(workdir: Path) -> dict[str, list[Path]]:
    """Rule → SLURM log files (`.snakemake/slurm_logs/rule_<rule>/<wildcards>/<job id>.log`)."""
    log_dir = workdir / ".snakemake" / "slurm_logs"
    return {
        rule_dir.name.removeprefix("rule_"): sorted(rule_dir.rglob("*.log"))
        for rule_dir in sorted(log_dir.glob("rule_*"))
    }


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    workdir = tmp_path_factory.mktemp("slurm_study")
    write_config(workdir, SLURM_CONFIG)
    result = snakemake_bounded(workdir, RUN_TIMEOUT_S, "--profile", str(TEST_PROFILE))
    return workdir, result


def test_study_runs_through_sbatch(slurm_run):
    workdir, result = slurm_run
    assert result.returncode == 0, result.stdout[-6000:]
    results = workdir / "results"
    for eps in ("8", "inf"):
        metrics = json.loads((results / f"train/tiny/eps_{eps}/seed_0/metrics.json").read_text())
        assert 0 <= metrics["test"]["accuracy"] <= 1
        assert (results / f"attack/tiny/eps_{eps}/imprint.json").exists()
    assert (results / "summary.csv").read_text().count("\n") == 3
    assert (results / "figures/risk_vs_eps.png").read_bytes()[:4] == b"\x89PNG"

    logs = slurm_job_logs(workdir)
    assert {rule: len(files) for rule, files in logs.items()} == CLUSTER_JOBS
    assert not set(LOCAL_RULES) & set(logs)
    # Each log is named after its SLURM job id; squeue (MinJobAge) still lists them as done.
    job_ids = [file.stem for files in logs.values() for file in files]
    assert all(job_id.isdigit() for job_id in job_ids)
    states = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", ",".join(job_ids), "-o", "%i %T %Z"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    listed = {line.split()[0]: line.split()[1:] for line in states.stdout.splitlines()}
    assert listed == {job_id: ["COMPLETED", str(workdir)] for job_id in job_ids}


def gres_profile(directory: Path) -> Path:
    """The shipped cluster profile with the edit its comments give to sites that schedule GPUs as
    generic resources: `gres: "gpu:1"` in place of `gpu: 1` under train and attack."""
    profile = yaml.safe_load((CLUSTER_PROFILE / "config.yaml").read_text())
    for rule in ("train", "attack"):
        resources = profile["set-resources"][rule]
        resources["gres"] = f"gpu:{resources.pop('gpu')}"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


@pytest.mark.parametrize("gpu_request", ["gpu", "gres"])
def test_cluster_profile_asks_slurm_for_a_gpu(tmp_path, gpu_request):
    """The sbatch line the shipped profile (or its documented gres variant) builds for train and
    attack, read back from the error of the rejected submission: the test node has neither those
    partitions nor GPUs."""
    profile_dir = CLUSTER_PROFILE if gpu_request == "gpu" else gres_profile(tmp_path / "profile")
    write_config(tmp_path, SLURM_CONFIG)
    upstream = ["results/data/tiny/meta.json", "results/privacy/tiny/eps_inf.json"]
    prepared = snakemake_bounded(tmp_path, SUBMIT_TIMEOUT_S, "--cores", "2", *upstream)
    assert prepared.returncode == 0, prepared.stdout[-6000:]

    targets = [
        "results/train/tiny/eps_inf/seed_0/metrics.json",
        "results/attack/tiny/eps_inf/imprint.json",
    ]
    submitted = snakemake_bounded(
        tmp_path,
        SUBMIT_TIMEOUT_S,
        "--workflow-profile",
        str(profile_dir),
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--keep-going",
        *targets,
    )
    assert submitted.returncode != 0
    calls = re.findall(r"sbatch call:\s*\n\s*(sbatch .*)", submitted.stdout)
    profile = yaml.safe_load((profile_dir / "config.yaml").read_text())
    for rule in ("train", "attack"):
        resources = profile["set-resources"][rule]
        rule_calls = [call for call in calls if f"--comment rule_{rule}_" in call]
        assert rule_calls, f"no sbatch call for {rule} in:\n{submitted.stdout[-6000:]}"
        for call in rule_calls:
            flags = call.split(" --wrap=")[0].split()
            if gpu_request == "gpu":
                assert f"--gpus={resources['gpu']}" in flags
                assert "--gres" not in call
            else:
                assert f"--gres={resources['gres']}" in flags
                assert "--gpus" not in call
            assert flags[flags.index("-p") + 1] == resources["slurm_partition"]
            assert flags[flags.index("--mem") + 1] == str(resources["mem_mb"])
            runtime = resources["runtime"] if rule == "attack" else TRAIN_MINUTES
            assert flags[flags.index("-t") + 1] == str(runtime)
            assert f"--cpus-per-task={profile['set-threads'][rule]}" in flags


# A training run of 1,000 steps, checkpointed every 4: about a minute on one core, long enough to
# outlast the up to 30 s slurmctld takes to act on a lowered time limit.
PREEMPTED_CONFIG = json.loads(json.dumps(SLURM_CONFIG))
PREEMPTED_CONFIG["eps"] = [8]
PREEMPTED_CONFIG["training"]["epochs"] = 250
PREEMPTED_TRAINING = "results/train/tiny/eps_8/seed_0"
PREEMPT_TIMEOUT_S = 420


def running_job_id(workdir: Path, rule: str) -> str | None:
    """The SLURM job id of ``rule``'s running job in ``workdir`` (the plugin's comment names it)."""
    queue = subprocess.run(
        ["squeue", "-h", "--states=RUNNING", "-o", "%i|%k|%Z"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    for line in queue.stdout.splitlines():
        job_id, comment, job_dir = line.split("|")
        if comment.startswith(f"rule_{rule}_") and Path(job_dir) == workdir:
            return job_id
    return None


def test_training_killed_at_its_time_limit_resumes_when_resubmitted(tmp_path):
    """A train job that SLURM kills at its time limit (state TIMEOUT) is resubmitted by the
    profile's retries and continues from its last checkpoint, accountant included, instead of
    starting over. Its time limit is lowered to 0 once the first checkpoint exists, so the kill
    lands mid-run whatever the machine's speed."""
    write_config(tmp_path, PREEMPTED_CONFIG)
    checkpoint = tmp_path / PREEMPTED_TRAINING / "checkpoint.pt"
    killed: list[str] = []

    def lower_the_time_limit_once_checkpointed() -> bool:
        if checkpoint.exists() and (job_id := running_job_id(tmp_path, "train")):
            subprocess.run(
                ["scontrol", "update", f"JobId={job_id}", "TimeLimit=0"], timeout=20, check=True
            )
            killed.append(job_id)
        return bool(killed)

    result = snakemake_bounded(
        tmp_path,
        PREEMPT_TIMEOUT_S,
        "--profile",
        str(TEST_PROFILE),
        "--retries",
        "1",
        f"{PREEMPTED_TRAINING}/metrics.json",
        watch=lower_the_time_limit_once_checkpointed,
    )
    assert killed, f"train finished before its first checkpoint:\n{result.stdout[-6000:]}"
    assert result.returncode == 0, result.stdout[-6000:]

    train_jobs = [file.stem for file in slurm_job_logs(tmp_path)["train"]]
    states = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", ",".join(train_jobs), "-o", "%i %T"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    state_of = dict(line.split() for line in states.stdout.splitlines())
    assert state_of[killed[0]] == "TIMEOUT"
    assert sorted(state_of.values()) == ["COMPLETED", "TIMEOUT"]

    log = (tmp_path / "results/logs/train/tiny/eps_8/seed_0.log").read_text()
    resumed = re.search(r"resumed at step (\d+) of (\d+)", log)
    assert resumed, log[-3000:]
    step, steps = map(int, resumed.groups())
    assert 0 < step < steps
    assert "\r" not in log and re.search(rf"step {steps}/{steps} \(100%\)", log)
    metrics = json.loads((tmp_path / PREEMPTED_TRAINING / "metrics.json").read_text())
    assert metrics["rdp_epsilon_upper_bound"]["steps"] == steps  # the accountant resumed too
    assert not checkpoint.exists()
