"""The summary table and the figures, on result files written in the workflow's layout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rero import figures
from rero.cli import main
from rero.io import save_npz, write_json
from rero.summary import dataset_and_eps, summarise

EPS = ["1", "1e3", "inf"]


def write_results(root, seeds=(0, 1)):
    """Plans, metrics, bounds and attack outputs for one dataset at three budgets."""
    files = {
        "metrics": [],
        "plans": [],
        "bounds": [],
        "imprint": [],
        "prior_aware": [],
        "recon": [],
    }
    rows = []
    for index, eps in enumerate(EPS):
        sigma = 0.0 if eps == "inf" else 1.0 / (1 + index)
        plan = root / "privacy" / "toy" / f"eps_{eps}.json"
        write_json(
            plan,
            {
                "target_epsilon": float(eps),
                "epsilon": float(eps) * 0.995,
                "sigma": sigma,
                "sample_rate": 0.1,
                "steps": 50,
                "delta": 1e-5,
                "accountant": "none" if eps == "inf" else "prv",
            },
        )
        files["plans"].append(plan)
        for seed in seeds:
            metrics = root / "train" / "toy" / f"eps_{eps}" / f"seed_{seed}" / "metrics.json"
            score = 0.6 + 0.1 * index + 0.01 * seed
            write_json(
                metrics,
                {
                    "seed": seed,
                    "test": {
                        "accuracy": score,
                        "balanced_accuracy": score,
                        "auroc": score,
                        "mcc": score,
                    },
                    "epsilon_spent": {"epsilon": float(eps)},
                },
            )
            files["metrics"].append(metrics)
        attack_dir = root / "attack" / "toy" / f"eps_{eps}"
        write_json(
            attack_dir / "imprint.json", {"success_rate": index / 2, "ci_low": 0.0, "ci_high": 1.0}
        )
        write_json(
            attack_dir / "prior_aware.json",
            {"success_rate": 0.2, "ci_low": 0.1, "ci_high": 0.3, "kappa": 0.125, "bound": 0.4},
        )
        ssim = np.array([0.1, 0.9, 0.5]) * (index + 1) / 3
        save_npz(
            attack_dir / "recon.npz",
            originals=np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32),
            reconstructions=np.random.default_rng(index).random((3, 1, 8, 8), dtype=np.float32),
            ssim=ssim,
            mse=1 - ssim,
            batch_index=np.zeros(3, int),
        )
        files["imprint"].append(attack_dir / "imprint.json")
        files["prior_aware"].append(attack_dir / "prior_aware.json")
        files["recon"].append(attack_dir / "recon.npz")
        for method, kind in (("rigorous", "upper bound"), ("edgeworth", "approximation")):
            rows.append(
                {
                    "dataset": "toy",
                    "eps": float(eps),  # the bounds table writes ε as a number
                    "sigma": sigma,
                    "q": 0.1,
                    "steps": 50,
                    "kappa": 0.01,
                    "kappa_label": "1/N",
                    "method": method,
                    "kind": kind,
                    "bound": 0.1 * (index + 1),
                }
            )
    bounds = root / "bounds" / "toy.csv"
    bounds.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(bounds, index=False)
    files["bounds"].append(bounds)
    return files


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("results/privacy/mni152/eps_1e3.json", ("mni152", "1e3")),
        ("results/train/mni152/eps_inf/seed_0/metrics.json", ("mni152", "inf")),
        ("results/attack/a-b/eps_0.5/recon.npz", ("a-b", "0.5")),
    ],
)
def test_dataset_and_eps(path, expected):
    assert dataset_and_eps(path) == expected


def test_dataset_and_eps_rejects_other_paths():
    with pytest.raises(ValueError, match="expected a path like"):
        dataset_and_eps("results/summary.csv")


def test_summary_rows_and_statistics(tmp_path):
    files = write_results(tmp_path)
    table = summarise(
        files["metrics"], files["plans"], files["bounds"], files["imprint"], files["prior_aware"]
    )
    assert table["eps"].tolist() == EPS
    first = table.iloc[0]
    assert first["n_seeds"] == 2
    assert first["accuracy_mean"] == pytest.approx(0.605)
    assert first["accuracy_sd"] == pytest.approx(np.std([0.6, 0.61], ddof=1))
    assert first["rero_bound_kappa_1/N"] == pytest.approx(0.1)
    assert table.iloc[2]["imprint_success_rate"] == 1.0
    assert table.iloc[1]["prior_aware_bound"] == 0.4
    assert math.isinf(table.iloc[2]["target_epsilon"])


def test_cli_aggregate_and_figures(tmp_path):
    files = write_results(tmp_path)
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
    assert len(pd.read_csv(summary)) == 3
    out = tmp_path / "figures"
    argv = ["figures", "--summary", str(summary), "--out-dir", str(out)]
    for flag, key in (("--metrics", "metrics"), ("--bounds", "bounds"), ("--recon", "recon")):
        argv += [flag, *map(str, files[key])]
    assert main(argv) == 0
    for name in ("utility_vs_eps", "bounds_vs_eps", "reconstructions", "risk_vs_eps"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reconstructions_orders_by_non_private_success(tmp_path):
    files = write_results(tmp_path)
    figures.reconstructions(files["recon"], tmp_path / "r.png", num_images=2)
    assert (tmp_path / "r.png").stat().st_size > 0
