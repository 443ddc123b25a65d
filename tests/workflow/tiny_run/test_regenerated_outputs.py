"""A finished study that lost a job's outputs is not complete: the next run makes them again,
with exactly the jobs that read them (the final target requires every job's own result)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.workflow import planned_jobs, snakemake

#: outputs of one run and one attack of the tiny study, lost together
LOST = (
    "results/train/tiny/eps_8/seed_0/model.pt",
    "results/train/tiny/eps_8/seed_0/metrics.json",
    "results/attack/tiny/eps_1e9/recon.npz",
)


def test_lost_models_metrics_and_attack_records_are_made_again(tiny_run: Path) -> None:
    files = [tiny_run / name for name in LOST]
    kept = {file: (file.read_bytes(), file.stat()) for file in files}
    try:
        assert planned_jobs(snakemake(tiny_run, "-n", "--quiet", "rules")) == {}
        for file in files:
            file.unlink()
        planned = planned_jobs(snakemake(tiny_run, "-n", "--quiet", "rules"))
    finally:
        for file, (content, status) in kept.items():
            file.write_bytes(content)
            os.utime(file, ns=(status.st_atime_ns, status.st_mtime_ns))
    # the train job of that run and the attack of that budget, then what reads their outputs:
    # the advice (metrics), the transition search (the attack's imprint record), the summary,
    # figures and report pages, the results README (the summary), the final target
    assert planned == {
        "train": 1,
        "attack": 1,
        "transition": 1,
        "advise": 1,
        "aggregate": 1,
        "figures": 1,
        "report_pages": 1,
        "results_readme": 1,
        "all": 1,
    }
