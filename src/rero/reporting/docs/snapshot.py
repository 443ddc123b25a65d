"""The docs' snapshot of a finished run: the files of ``results/`` that the docs' numbers are
rendered from, copied into ``docs/snapshot/<dataset>/`` for each dataset of the run's summary.

Per dataset: ``summary.csv`` (its rows of the summary), ``advice.csv``, ``transition.json``,
``corridor.json`` (where each family of risk curves first reaches its level,
:mod:`rero.reporting.corridor`, and the imprint attack's η), ``schedule.json`` (N, batch size,
epochs, q, T, δ of its plans), ``timings.csv`` (each job's seconds and peak memory from the run's
benchmark files) and ``run.json`` (the commit the run recorded, the date it ended, the time from
the first job's start to the last job's end, the number of jobs).
"""

from __future__ import annotations

import math
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rero.reporting.corridor import Corridor, Crossing, read_eta, results_corridors
from rero.runtime.io import read_json, write_json

#: the commit and state the run recorded on its provenance page
RECORDED_CHECKOUT = re.compile(
    r"commit ([0-9a-f]{7,40}), (no uncommitted changes|with uncommitted)"
)
#: the fields of a corridor that are crossings
CROSSINGS = ("identification", "single_release", "whole_run", "attack", "attack_at_criterion")
#: benchmark files of jobs that belong to no one dataset (their path names none)
SHARED_JOBS = ("aggregate", "figures", "report_pages", "provenance", "results_readme")


def crossing_json(crossing: Crossing | None) -> dict[str, float] | None:
    """A crossing as JSON (``high`` null where never reached), or None."""
    if crossing is None:
        return None
    return {"low": crossing.low, "high": crossing.high if crossing.reached else None}


def corridor_json(corridor: Corridor, eta: float) -> dict[str, Any]:
    """A dataset's corridor (:class:`rero.reporting.corridor.Corridor`) and the imprint attack's
    SSIM threshold ``eta`` as JSON."""
    return {
        "kappa_label": corridor.kappa_label,
        "kappa": corridor.kappa,
        "criterion": corridor.criterion,
        "eta": eta,
        **{name: crossing_json(getattr(corridor, name)) for name in CROSSINGS},
    }


def recorded_checkout(results: Path) -> dict[str, Any]:
    """The commit of the checkout the run was made from, and whether it had uncommitted
    changes, as its provenance page recorded them."""
    page = results / "report" / "provenance.html"
    match = RECORDED_CHECKOUT.search(page.read_text())
    if match is None:
        raise ValueError(f"{page}: names no commit (was the run made in a git checkout?)")
    return {"commit": match[1], "uncommitted_changes": match[2] != "no uncommitted changes"}


def benchmark_files(results: Path, dataset: str) -> list[Path]:
    """The benchmark files of ``dataset``'s jobs and of the jobs every dataset shares."""
    root = results / "benchmarks"
    return sorted(
        file
        for file in root.rglob("*.tsv")
        if dataset in file.relative_to(root).with_suffix("").parts
        or file.relative_to(root).with_suffix("").as_posix() in SHARED_JOBS
    )


def timings(results: Path, dataset: str) -> pd.DataFrame:
    """One row per job of ``dataset``: ``job`` (its benchmark path without ``.tsv``), ``seconds``,
    ``max_rss_mb`` and ``end`` (when the benchmark was written, Unix seconds)."""
    root = results / "benchmarks"
    rows = []
    for file in benchmark_files(results, dataset):
        table = pd.read_csv(file, sep="\t")
        rows.append(
            {
                "job": file.relative_to(root).with_suffix("").as_posix(),
                "seconds": float(table["s"].iloc[-1]),
                "max_rss_mb": float(table["max_rss"].iloc[-1]),
                "end": round(file.stat().st_mtime, 1),
            }
        )
    if not rows:
        raise ValueError(f"{root}: no benchmark files of {dataset}")
    return pd.DataFrame(rows)


def run_record(results: Path, jobs: pd.DataFrame) -> dict[str, Any]:
    """The run's commit, the UTC date its last job ended, the seconds from the first job's start
    to the last job's end and its number of jobs."""
    end = float(jobs["end"].max())
    start = float((jobs["end"] - jobs["seconds"]).min())
    return {
        **recorded_checkout(results),
        "date": datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d"),
        "jobs_wall_seconds": round(end - start, 1),
        "jobs": len(jobs),
    }


#: the fields of a privacy plan that say its DP-SGD schedule
SCHEDULE = ("dataset_size", "batch_size", "epochs", "sample_rate", "steps", "delta")


def schedule(results: Path, dataset: str) -> dict[str, Any]:
    """The DP-SGD schedule of ``dataset``'s plans (one for every budget), read from a private
    plan's fields (the schedule alone, so a run's plans are read whatever else they record)."""
    plans = [read_json(file) for file in sorted((results / "privacy" / dataset).glob("eps_*.json"))]
    private = [plan for plan in plans if plan["sigma"] > 0]
    if not private:
        raise ValueError(f"{results / 'privacy' / dataset}: no private plan")
    return {field: private[0][field] for field in SCHEDULE}


def take_snapshot(results: Path, out: Path) -> list[str]:
    """Copy the snapshot of every dataset of ``results/summary.csv`` into ``out/<dataset>/``
    (replacing what was there); returns the datasets."""
    summary = pd.read_csv(results / "summary.csv")
    corridors = results_corridors(results)
    datasets = sorted(summary["dataset"].astype(str).unique())
    for dataset in datasets:
        target = out / dataset
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        summary[summary["dataset"] == dataset].to_csv(target / "summary.csv", index=False)
        shutil.copyfile(results / "advice" / f"{dataset}.csv", target / "advice.csv")
        shutil.copyfile(
            results / "attack" / dataset / "transition.json", target / "transition.json"
        )
        eta = read_eta(sorted(results.glob(f"attack/{dataset}/eps_*/imprint.json")))
        write_json(target / "corridor.json", corridor_json(corridors[dataset], eta))
        write_json(target / "schedule.json", schedule(results, dataset))
        jobs = timings(results, dataset)
        jobs.to_csv(target / "timings.csv", index=False)
        write_json(target / "run.json", run_record(results, jobs))
    return datasets


def summary_differences(run: Path, snapshot: Path, rtol: float) -> list[str]:
    """How the run's ``summary.csv`` differs from the snapshot's, on the snapshot's datasets:
    columns, rows (dataset, target ε), text cells, and numbers beyond relative ``rtol`` (empty
    cells must be empty in both)."""
    expected = pd.read_csv(snapshot)
    found = pd.read_csv(run)
    found = found[found["dataset"].isin(expected["dataset"])]
    problems = []
    if list(found.columns) != list(expected.columns):
        missing = [name for name in expected.columns if name not in found.columns]
        extra = [name for name in found.columns if name not in expected.columns]
        return [f"columns differ: missing {missing}, new {extra} (or another order)"]
    key = ["dataset", "target_epsilon"]
    expected, found = expected.set_index(key).sort_index(), found.set_index(key).sort_index()
    if list(found.index) != list(expected.index):
        return [f"rows differ: {list(found.index)} against {list(expected.index)}"]
    for column in expected.columns:
        for row in expected.index:
            want, got = expected.at[row, column], found.at[row, column]
            if pd.isna(want) and pd.isna(got):
                continue
            if isinstance(want, float) and isinstance(got, float):
                same = math.isclose(want, got, rel_tol=rtol, abs_tol=0.0) or want == got
            else:
                same = str(want) == str(got)
            if not same:
                problems.append(f"{column} at {row}: {got}, snapshot {want}")
    return problems
