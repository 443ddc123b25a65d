"""The whole DAG on the tiny config: every output exists and parses, nothing is left to do, the
report builds, and Snakemake's record of each job's inputs holds every file the job runs."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from rero.reporting.figures import FIGURES
from rero.reporting.summary import attack_table
from tests.helpers.workflow import planned_jobs, snakemake


@pytest.mark.slow
def test_every_output_exists_and_parses(tiny_run):
    results = tiny_run / "results"
    meta = json.loads((results / "data/tiny/meta.json").read_text())
    assert meta["num_train"] == 240
    for eps in ("8", "1e9", "inf"):
        plan = json.loads((results / f"privacy/tiny/eps_{eps}.json").read_text())
        assert float(plan["epsilon"]) <= float(plan["target_epsilon"])
        metrics = json.loads((results / f"train/tiny/eps_{eps}/seed_0/metrics.json").read_text())
        assert 0 <= metrics["test"]["accuracy"] <= 1
        assert (results / f"train/tiny/eps_{eps}/seed_0/model.pt").stat().st_size > 0
        imprint = json.loads((results / f"attack/tiny/eps_{eps}/imprint.json").read_text())
        assert 0 <= imprint["success_rate"] <= 1
        prior = json.loads((results / f"attack/tiny/eps_{eps}/prior_aware.json").read_text())
        assert prior["kappa"] == pytest.approx(0.25)
        assert prior["ci_low"] <= prior["success_rate"] <= prior["ci_high"]
        with np.load(results / f"attack/tiny/eps_{eps}/recon.npz") as recon:
            assert recon["originals"].shape == recon["reconstructions"].shape
        assert (results / f"logs/train/tiny/eps_{eps}/seed_0.log").exists()
        assert (results / f"benchmarks/train/tiny/eps_{eps}/seed_0.tsv").exists()
    bounds = pd.read_csv(results / "bounds/tiny.csv")
    assert set(bounds["dataset"]) == {"tiny"}
    assert set(bounds["method"]) == {"rigorous", "gdp_clt", "edgeworth", "glrt"}
    assert set(bounds["kappa_label"]) == {"1/N", "1/4"}
    assert bounds["bound"].between(0, 1).all()
    summary = pd.read_csv(results / "summary.csv")
    assert summary["target_epsilon"].tolist() == [8, 1e9, float("inf")]
    for column in (
        "accuracy_mean",
        "train_rero_bound_kappa_1/N",
        "train_rero_bound_kappa_1/4",
        "imprint_success_rate",
        "prior_aware_success_rate",
        "prior_aware_run_bound",
    ):
        assert summary[column].notna().all(), column
    for name in FIGURES:
        assert (results / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / f"figures/{name}.pdf").read_bytes()[:5] == b"%PDF-"
    audit = json.loads((results / "audit/tiny/eps_8.json").read_text())
    assert audit["claimed"]["epsilon"] <= 8 and audit["white_box"]["canaries"] == 200
    assert summary["audit_epsilon_lower_white_box"].notna().tolist() == [True, False, False]
    membership = pd.read_csv(results / "bounds/tiny_membership.csv")
    assert len(membership) == 6 and (membership["mia_tpr_at_fpr_0.01"] >= 0.01).all()
    assert summary["mia_auc"].between(0.5, 1).all()
    scratch = pd.read_csv(results / "bounds/tiny_from_scratch.csv")
    assert len(scratch) == 6 * 4  # 6 budgets x PSNR ≥ 30 dB x 4 norms
    assert set(scratch["criterion"]) == {"PSNR ≥ 30 dB"} and (scratch["dimension"] == 784).all()
    for curve in ("single_release", "whole_run"):
        assert scratch[curve].between(0, 1).all()
        assert (scratch.loc[scratch["target_epsilon"] == float("inf"), curve] == 1).all()
    for column in ("single", "run"):
        for norm in ("median", "mean"):
            assert summary[f"from_scratch_psnr_ge_30_{column}_{norm}"].notna().all()
    assert summary["imprint_raw_psnr_ge_30_success_rate"].notna().all()
    advice = pd.read_csv(results / "advice/tiny.csv")
    # 4 tolerated risks at κ = 1/N, PSNR ≥ 30 dB (one release, the whole run), FPR 0.01
    assert advice["threat"].value_counts().to_dict() == dict.fromkeys(
        ("identification", "from-scratch", "from-scratch-run", "membership"), 4
    )
    reachable = advice[advice["sigma"].notna()]
    assert (reachable["bound"] <= reachable["max_risk"]).all()
    assert (advice["main_metric"] == "mcc").all()
    transition = json.loads((results / "attack/tiny/transition.json").read_text())
    criteria = [item["criterion"] for item in transition["transitions"]]
    assert criteria == ["success >= 0.5", "success > 0"]
    for item in transition["transitions"]:
        assert item["epsilon_low"] < item["epsilon_high"]
    curve = attack_table(
        sorted(results.glob("attack/tiny/eps_*/imprint.json")), "imprint"
    ).sort_values("target_epsilon")
    assert len(curve) == 6  # every budget of the bound curve
    rates, lows, highs = (
        curve[f"imprint_{key}"].to_numpy() for key in ("success_rate", "ci_low", "ci_high")
    )
    for i in range(len(curve)):  # the dense curve is monotone within its 95 % intervals
        assert (rates[i] <= highs[i:]).all() and (rates[i:] >= lows[i]).all()


@pytest.mark.slow
def test_nothing_left_to_do_and_report_builds(tiny_run):
    assert planned_jobs(snakemake(tiny_run, "--dry-run")) == {}
    snakemake(tiny_run, "--report", "report.html")
    assert "<html" in (tiny_run / "report.html").read_text()[:2000].lower()


@pytest.mark.slow
def test_every_file_a_job_runs_is_an_input_of_its_rule(tiny_run):
    """Snakemake's own record of each output's inputs holds a code manifest (results/code/) that
    lists every file of its subcommand with the hash of the file as it is."""
    from rero.runtime.sources import command_sources

    summary = snakemake(tiny_run, "--detailed-summary").stdout.splitlines()
    header = summary[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=False)) for line in summary[1:]]
    subcommand = {
        "prepare_data": "prepare-data",
        "calibrate": "calibrate",
        "train": "train",
        "bounds": "bounds",
        "from_scratch": "from-scratch",
        "attack": "attack",
        "aggregate": "aggregate",
        "figures": "figures",
        "advise": "advice",
        "transition": "transition",
        "audit": "audit",
        "report_pages": "report-pages",
        "provenance": "provenance",
        "results_readme": "results-readme",
        "translate": "translate",
    }
    seen = set()
    for row in rows:
        if row.get("rule") not in subcommand:
            continue
        seen.add(row["rule"])
        manifests = [
            tiny_run / name
            for name in row["input-file(s)"].split(",")
            if name.startswith("results/code/") and name.endswith(".sha256")
        ]
        assert manifests, row
        listed = {}
        for manifest in manifests:
            for line in manifest.read_text().splitlines():
                digest, name = line.split("  ", 1)
                listed[name] = digest
        for file in command_sources(subcommand[row["rule"]], tiny_run / "src" / "rero"):
            name = file.relative_to(tiny_run / "src").as_posix()
            assert listed.get(name) == hashlib.sha256(file.read_bytes()).hexdigest(), (
                row["output_file"],
                name,
            )
    assert seen == set(subcommand)
