"""The summary table and the figures, on result files as the workflow's jobs write them."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from rero.cli import main
from rero.privacy.plan import read_plan, write_plan
from rero.privacy.rero.from_scratch_table import ScratchCriterion, from_scratch_table
from rero.privacy.rero.table import bounds_table
from rero.reporting.columns import describe_column
from rero.reporting.figures import FIGURES
from rero.reporting.figures.labels import eps_label
from rero.reporting.summary import summarise
from rero.runtime.io import read_json, save_npz, write_json
from tests.helpers import toy_plan

TARGETS = [1.0, 1e3, math.inf]


def write_results(root, seeds=(0, 1)):
    """Plans, metrics, bounds and attack records for one dataset at three budgets.

    Paths deliberately do not follow the workflow's layout: rows are keyed by content.
    """
    files = {key: [] for key in ("metrics", "plans", "bounds", "imprint", "prior_aware", "recon")}
    plans = []
    for index, target in enumerate(TARGETS):
        plan = toy_plan(target, n=500, batch=50, epochs=5, sigma=1.0 / (1 + index))
        plans.append(plan)
        write_plan(root / f"plan{index}.json", plan)
        files["plans"].append(root / f"plan{index}.json")
        record = {"dataset": "toy", "target_epsilon": target, "plan": plan.to_dict()}
        for seed in seeds:
            metrics = root / f"run{index}-{seed}.json"
            score = 0.6 + 0.1 * index + 0.01 * seed
            write_json(
                metrics,
                record
                | {
                    "task": "classification",
                    "seed": seed,
                    "test": {name: score for name in ("accuracy", "balanced_accuracy", "auroc")}
                    | {"mcc": score},
                    "rdp_epsilon_upper_bound": {"epsilon": target, "accountant": "rdp"},
                },
            )
            files["metrics"].append(metrics)
        imprint = record | {
            "success_rate": index / 2,
            "ci_low": 0.0,
            "ci_high": 1.0,
            "ssim_threshold": 0.95,
        }
        write_json(root / f"imprint{index}.json", imprint)
        prior = {"success_rate": 0.2, "ci_low": 0.1, "ci_high": 0.3, "kappa": 0.125, "bound": 0.4}
        write_json(root / f"prior{index}.json", record | prior)
        ssim = np.array([0.1, 0.9, 0.5]) * (index + 1) / 3
        save_npz(
            root / f"recon{index}.npz",
            originals=np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32),
            reconstructions=np.random.default_rng(index).random((3, 1, 8, 8), dtype=np.float32),
            ssim=ssim,
            mse=1 - ssim,
            batch_index=np.zeros(3, int),
            dataset=np.str_("toy"),
            target_epsilon=np.float64(target),
        )
        files["imprint"].append(root / f"imprint{index}.json")
        files["prior_aware"].append(root / f"prior{index}.json")
        files["recon"].append(root / f"recon{index}.npz")
    table = bounds_table(plans, [("1/N", None)], ["rigorous", "gdp_clt"])
    table.to_csv(root / "bounds.csv", index=False)
    files["bounds"].append(root / "bounds.csv")
    return files, table


def test_summary_rows_and_statistics(tmp_path):
    files, bounds = write_results(tmp_path)
    table = summarise(
        files["metrics"], files["plans"], files["bounds"], files["imprint"], files["prior_aware"]
    )
    assert table["target_epsilon"].tolist() == TARGETS
    assert "eps" not in table.columns
    first = table.iloc[0]
    assert first["n_seeds"] == 2
    assert first["accuracy_mean"] == pytest.approx(0.605)
    assert first["accuracy_sd"] == pytest.approx(np.std([0.6, 0.61], ddof=1))
    rigorous = bounds[(bounds["method"] == "rigorous") & (bounds["target_epsilon"] == 1.0)]
    assert first["train_rero_bound_kappa_1/N"] == rigorous["bound"].item()
    assert table.iloc[2]["imprint_success_rate"] == 1.0
    assert table.iloc[1]["prior_aware_run_bound"] == 0.4
    assert table.iloc[1]["sigma"] == 0.5


def test_summary_has_the_from_scratch_bound_per_criterion_described(tmp_path):
    files, _ = write_results(tmp_path)
    plans = [read_plan(file) for file in files["plans"]]
    criteria = [ScratchCriterion("psnr", 30.0), ScratchCriterion("mse", 0.25)]
    scratch = from_scratch_table(plans, np.array([0.5, 1.0, 2.0]), 4, criteria, clip_norm=1.0)
    scratch.to_csv(tmp_path / "toy_from_scratch.csv", index=False)
    table = summarise(
        files["metrics"], files["plans"], scratch_files=[tmp_path / "toy_from_scratch.csv"]
    )
    names = [
        f"from_scratch_{label}_{curve}_{norm}"
        for label in ("psnr_ge_30", "mse_le_0.25")
        for curve in ("single", "run")
        for norm in ("median", "mean")
    ]
    assert set(names) <= set(table.columns)
    median = scratch[(scratch["norm"] == "median") & (scratch["metric"] == "mse")]
    assert table["from_scratch_mse_le_0.25_run_median"].tolist() == median["whole_run"].tolist()
    assert table.iloc[2]["from_scratch_psnr_ge_30_single_mean"] == 1.0  # the non-private run
    assert "MSE ≤ 0.25" in describe_column("from_scratch_mse_le_0.25_run_median")
    described = describe_column("from_scratch_psnr_ge_30_single_mean")
    assert "PSNR ≥ 30 dB" in described and "averaged over the training images" in described
    assert "not on every adversary" in described


def test_summary_refuses_a_record_without_a_plan(tmp_path):
    files, _ = write_results(tmp_path)
    write_json(files["imprint"][0], {"dataset": "toy", "success_rate": 0.5})
    with pytest.raises(ValueError, match=r"imprint0\.json: expected a record with .dataset. and"):
        summarise(files["metrics"], files["plans"], imprint_files=files["imprint"])


@pytest.mark.parametrize(
    ("value", "shown"),
    [(math.nan, "'nan'"), (math.inf, "'inf'"), (None, "None"), ("high", "'high'")],
)
def test_summary_refuses_a_run_whose_metric_is_not_finite(tmp_path, value, shown):
    files, _ = write_results(tmp_path)
    broken = files["metrics"][3]
    record = read_json(broken)
    record["test"]["mcc"] = value
    write_json(broken, record)
    expected = rf"^{re.escape(str(broken))}: test mcc is {shown}; expected a finite number"
    with pytest.raises(ValueError, match=expected):
        summarise(files["metrics"], files["plans"])


def test_summary_refuses_a_run_without_its_metric(tmp_path):
    files, _ = write_results(tmp_path)
    broken = files["metrics"][0]
    record = read_json(broken)
    del record["test"]["auroc"]
    write_json(broken, record)
    with pytest.raises(ValueError, match=r"run0-0\.json: test auroc is None; expected a finite"):
        summarise(files["metrics"], files["plans"])


def test_aggregate_command_names_the_broken_run_in_one_line(tmp_path, capsys):
    files, _ = write_results(tmp_path)
    record = read_json(files["metrics"][2])
    record["test"]["accuracy"] = math.nan
    write_json(files["metrics"][2], record)
    out = tmp_path / "summary.csv"
    argv = ["aggregate", "--metrics", *map(str, files["metrics"])]
    status = main([*argv, "--plans", *map(str, files["plans"]), "--out", str(out)])
    assert status == 2 and not out.exists()
    assert f"rero aggregate: error: {files['metrics'][2]}: test accuracy is 'nan'" in (
        capsys.readouterr().err
    )


@pytest.mark.slow
def test_cli_aggregate_and_figures(tmp_path):
    files, _ = write_results(tmp_path)
    summary = tmp_path / "summary.csv"
    argv = ["aggregate", "--out", str(summary)]
    for flag, key in (
        ("--metrics", "metrics"),
        ("--plans", "plans"),
        ("--bounds", "bounds"),
        ("--imprint", "imprint"),
        ("--prior-aware", "prior_aware"),
    ):
        argv += [flag, *map(str, files[key])]
    assert main(argv) == 0
    assert pd.read_csv(summary)["target_epsilon"].tolist() == TARGETS
    out = tmp_path / "figures"
    argv = ["figures", "--summary", str(summary), "--out-dir", str(out)]
    for flag, key in (
        ("--metrics", "metrics"),
        ("--bounds", "bounds"),
        ("--recon", "recon"),
        ("--imprint", "imprint"),
    ):
        argv += [flag, *map(str, files[key])]
    assert main(argv) == 0
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (8.0, "ε = 8"),
        (1000.0, "ε = 1000"),
        (1e9, "ε = 10⁹"),
        (0.5, "ε = 0.5"),
        (math.inf, "non-private"),
    ],
)
def test_eps_label(value, label):
    assert eps_label(value) == label
