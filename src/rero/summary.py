"""The study's summary table: one row per dataset and target ε, from the per-job outputs.

Paths follow the workflow's layout (``.../{dataset}/eps_{eps}...``); the dataset and ε of each
file are read from its path, so every table can be rebuilt from ``results/`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rero.io import read_json

METRICS = ("accuracy", "balanced_accuracy", "auroc", "mcc")
_RUN_PATH = re.compile(r"(?P<dataset>[^/]+)/eps_(?P<eps>[^/]+?)(\.json|/|$)")


def dataset_and_eps(path: str | Path) -> tuple[str, str]:
    """(dataset, eps token) of a plan, training or attack output from its path."""
    matches = list(_RUN_PATH.finditer(Path(path).as_posix()))
    if not matches:
        raise ValueError(
            f"{path}: expected a path like <dataset>/eps_<eps>/... or <dataset>/eps_<eps>.json"
        )
    return matches[-1]["dataset"], matches[-1]["eps"]


def training_table(metric_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per training run: dataset, eps, seed, test metrics and the ε the training spent."""
    rows = []
    for file in metric_files:
        dataset, eps = dataset_and_eps(file)
        metrics = read_json(file)
        spent = metrics.get("epsilon_spent", {})
        rows.append(
            {
                "dataset": dataset,
                "eps": eps,
                "seed": int(metrics["seed"]),
                **{name: float(metrics["test"][name]) for name in METRICS},
                "epsilon_spent": float(spent.get("epsilon", "nan")),
                "epsilon_spent_accountant": spent.get("accountant"),
            }
        )
    return pd.DataFrame(rows)


def plan_table(plan_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per privacy plan: σ, q, T, δ, achieved ε and the accountant behind it."""
    rows = []
    for file in plan_files:
        dataset, eps = dataset_and_eps(file)
        plan = read_json(file)
        rows.append(
            {
                "dataset": dataset,
                "eps": eps,
                "target_epsilon": float(plan["target_epsilon"]),
                "epsilon": float(plan["epsilon"]),
                "accountant": plan["accountant"],
                "sigma": float(plan["sigma"]),
                "sample_rate": float(plan["sample_rate"]),
                "steps": int(plan["steps"]),
                "delta": float(plan["delta"]),
            }
        )
    return pd.DataFrame(rows)


def attack_table(
    files: Sequence[str | Path], prefix: str, extra: Sequence[str] = ()
) -> pd.DataFrame:
    """Success rate with its 95 % CI (and ``extra`` fields) per attack output, columns prefixed."""
    fields = ("success_rate", "ci_low", "ci_high", *extra)
    rows = []
    for file in files:
        dataset, eps = dataset_and_eps(file)
        result: dict[str, Any] = read_json(file)
        rows.append(
            {"dataset": dataset, "eps": eps}
            | {f"{prefix}_{field}": float(result[field]) for field in fields}
        )
    return pd.DataFrame(
        rows, columns=["dataset", "eps"] + [f"{prefix}_{field}" for field in fields]
    )


def bound_columns(bound_files: Sequence[str | Path]) -> pd.DataFrame:
    """The rigorous bound at every κ of the bounds tables, one column per κ label.

    Rows are keyed by the numeric target ε (the tables write ε as a number, paths as a token).
    """
    frames = [pd.read_csv(file) for file in bound_files]
    bounds = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if bounds.empty:
        return pd.DataFrame(columns=["dataset", "target_epsilon"])
    rigorous = bounds[bounds["method"] == "rigorous"].assign(
        target_epsilon=lambda frame: frame["eps"].astype(float)
    )
    wide = rigorous.pivot_table(
        index=["dataset", "target_epsilon"], columns="kappa_label", values="bound", aggfunc="first"
    )
    wide.columns = [f"rero_bound_kappa_{label}" for label in wide.columns]
    return wide.reset_index()


def summarise(
    metric_files: Sequence[str | Path],
    plan_files: Sequence[str | Path],
    bound_files: Sequence[str | Path] = (),
    imprint_files: Sequence[str | Path] = (),
    prior_aware_files: Sequence[str | Path] = (),
) -> pd.DataFrame:
    """The summary table: metric mean ± sd over seeds beside σ, bounds and attack success."""
    runs = training_table(metric_files)
    grouped = runs.groupby(["dataset", "eps"], sort=False)
    stats = grouped[list(METRICS)].agg(["mean", "std"])
    stats.columns = [
        f"{metric}_{'sd' if stat == 'std' else stat}" for metric, stat in stats.columns
    ]
    stats["n_seeds"] = grouped.size()
    stats["epsilon_spent"] = grouped["epsilon_spent"].mean()
    stats["epsilon_spent_accountant"] = grouped["epsilon_spent_accountant"].first()
    table = plan_table(plan_files).merge(stats.reset_index(), on=["dataset", "eps"], how="left")
    table = table.merge(bound_columns(bound_files), on=["dataset", "target_epsilon"], how="left")
    table = table.merge(attack_table(imprint_files, "imprint"), on=["dataset", "eps"], how="left")
    table = table.merge(
        attack_table(prior_aware_files, "prior_aware", extra=("kappa", "bound")),
        on=["dataset", "eps"],
        how="left",
    )
    order = np.lexsort((table["target_epsilon"].to_numpy(), table["dataset"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)
