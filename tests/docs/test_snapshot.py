"""The snapshot of a run: its times from the benchmark files, the commit its provenance page
recorded, and a run's summary compared with the snapshot's."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from rero.reporting.docs.snapshot import run_record, summary_differences, timings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_benchmark(path, seconds: float, end: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:{seconds:02.0f}\t300.5\n")
    os.utime(path, (end, end))


def test_the_jobs_of_a_dataset_and_the_shared_ones_are_timed(tmp_path):
    results = tmp_path / "results"
    bench = results / "benchmarks"
    write_benchmark(bench / "train" / "mni152" / "eps_8" / "seed_0.tsv", 50.0, 1_000_100.0)
    write_benchmark(bench / "train" / "other" / "eps_8" / "seed_0.tsv", 9.0, 1_000_900.0)
    write_benchmark(bench / "aggregate.tsv", 5.0, 1_000_200.0)
    jobs = timings(results, "mni152")
    assert list(jobs["job"]) == ["aggregate", "train/mni152/eps_8/seed_0"]
    (results / "report").mkdir()
    (results / "report" / "provenance.html").write_text(
        f"<p>commit {COMMIT}, no uncommitted changes</p>"
    )
    record = run_record(results, jobs)
    assert record["commit"] == COMMIT and not record["uncommitted_changes"]
    assert record["jobs"] == 2 and record["jobs_wall_seconds"] == pytest.approx(150.0)
    assert record["date"] == "1970-01-12"


def summary(**columns) -> pd.DataFrame:
    base = {"dataset": ["mni152", "mni152"], "target_epsilon": [8.0, float("inf")]}
    return pd.DataFrame({**base, **columns})


def test_a_summary_matches_within_the_tolerance_and_names_each_difference(tmp_path):
    snapshot, run = tmp_path / "snapshot.csv", tmp_path / "run.csv"
    summary(mcc_mean=[0.7, 0.86], accountant=["pld", "none"]).to_csv(snapshot, index=False)
    summary(mcc_mean=[0.7 * (1 + 1e-12), 0.86], accountant=["pld", "none"]).to_csv(run, index=False)
    assert summary_differences(run, snapshot, 1e-9) == []
    summary(mcc_mean=[0.71, 0.86], accountant=["prv", "none"]).to_csv(run, index=False)
    problems = summary_differences(run, snapshot, 1e-9)
    assert len(problems) == 2
    assert problems[0].startswith("mcc_mean at ('mni152', 8.0): 0.71")
    summary(mcc_mean=[0.7, 0.86]).to_csv(run, index=False)
    assert summary_differences(run, snapshot, 1e-9)[0].startswith("columns differ: missing")
