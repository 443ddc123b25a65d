"""The study's summary table: one row per dataset and target ε, from the per-job outputs.

Every record names its own dataset and privacy plan, so rows are joined on (dataset, target ε)
read from the files' contents, never from their paths; the one ε key is the float target ε
(``inf`` for the non-private baseline). A training record whose test metric is missing or not
finite is refused with its file named: a broken run is no result, in the table or anything drawn
from it (the figures, the advice table, the report pages).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rero.data.tasks import MAIN_METRIC, TASK_METRICS
from rero.privacy.plan import PrivacyPlan, read_plan
from rero.privacy.rero.from_scratch_table import ScratchCriterion
from rero.runtime.io import read_json

#: every task's test metrics: a run fills those of its task, the others stay empty
METRICS = tuple(dict.fromkeys(name for names in TASK_METRICS.values() for name in names))
KEY = ["dataset", "target_epsilon"]
#: the bounds of ``python -m rero audit`` by what their auditor sees (the per-step audit needs
#: every step: white-box only)
AUDIT_COLUMNS = tuple(
    (kind, access)
    for kind in ("epsilon_lower", "epsilon_fdp_lower", "epsilon_composed", "epsilon_composed_fdp")
    for access in ("white_box", "black_box")
    if access == "white_box" or "composed" not in kind
)


def record_key(record: dict[str, Any], path: str | Path) -> tuple[str, float]:
    """(dataset, target ε) of a training or attack record, from its own dataset and plan."""
    try:
        plan = PrivacyPlan.from_dict(record["plan"])
        return str(record["dataset"]), plan.target_epsilon
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: expected a record with 'dataset' and a valid 'plan' ({error})"
        ) from None


def _number(value: Any) -> float:
    """``value`` as a float (NaN when it is none: missing, text, a list)."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def finite_test_scores(metrics: dict[str, Any], task: str, path: str | Path) -> dict[str, float]:
    """The test metrics of ``task`` in the training record ``metrics``; ValueError naming the
    file and the metric when one is missing or not finite."""
    test = metrics.get("test")
    scores = {}
    for name in TASK_METRICS[task]:
        given = test.get(name) if isinstance(test, dict) else None
        scores[name] = _number(given)
        if not math.isfinite(scores[name]):
            raise ValueError(
                f"{path}: test {name} is {given!r}; expected a finite number (a run whose "
                "metrics are not finite is no result: retrain it)"
            )
    return scores


def training_table(metric_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per training run: dataset, task, target ε, seed, the test metrics of its task (NaN
    for the other task's), its main metric with its 95 % test-set bootstrap interval
    (``main_metric_ci_low``, ``_high``) and the upper bound on its ε that Opacus' RDP accountant
    gives (``rdp_epsilon_upper_bound``: looser than the plan's certified ε, so above it); NaN
    where the record has none. ValueError naming the file for a missing or non-finite test
    metric."""
    rows = []
    for file in metric_files:
        metrics = read_json(file)
        dataset, target = record_key(metrics, file)
        task = metrics.get("task")
        if task not in TASK_METRICS:
            raise ValueError(f"{file}: task {task!r}; expected one of {', '.join(TASK_METRICS)}")
        rdp = metrics.get("rdp_epsilon_upper_bound", {})
        scores = finite_test_scores(metrics, task, file)
        interval = metrics.get("test_bootstrap", {})
        rows.append(
            {
                "dataset": dataset,
                "task": task,
                "target_epsilon": target,
                "seed": int(metrics["seed"]),
                **{name: scores.get(name, np.nan) for name in METRICS},
                "main_metric": MAIN_METRIC[task],
                "main_metric_value": scores[MAIN_METRIC[task]],
                "main_metric_ci_low": _number(interval.get("low")),
                "main_metric_ci_high": _number(interval.get("high")),
                "rdp_epsilon_upper_bound": float(rdp.get("epsilon", "nan")),
            }
        )
    return pd.DataFrame(rows)


def plan_table(plan_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per privacy plan: σ, q, T, δ, the certified ε bracket and its accountant, and the
    PRV accountant's own estimate recorded beside it."""
    rows = []
    for file in plan_files:
        plan = read_plan(file)
        if plan.dataset is None:
            raise ValueError(f"{file}: the plan names no dataset (calibrate it with --data-dir)")
        rows.append(
            {
                "dataset": plan.dataset,
                "target_epsilon": plan.target_epsilon,
                "epsilon": plan.epsilon,
                "epsilon_lower": plan.epsilon_lower,
                "accountant": plan.accountant,
                "prv_epsilon_estimate": plan.prv_epsilon_estimate,
                "sigma": plan.sigma,
                "sample_rate": plan.sample_rate,
                "steps": plan.steps,
                "delta": plan.delta,
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
        result: dict[str, Any] = read_json(file)
        dataset, target = record_key(result, file)
        rows.append(
            {"dataset": dataset, "target_epsilon": target}
            | {f"{prefix}_{field}": float(result[field]) for field in fields}
        )
    return pd.DataFrame(rows, columns=[*KEY, *(f"{prefix}_{field}" for field in fields)])


def criteria_columns(imprint_files: Sequence[str | Path]) -> pd.DataFrame:
    """The imprint attack's further success criteria (``criteria`` of its records beyond the
    paper's SSIM, which is ``imprint_success_rate``): ``imprint_<label>_success_rate``,
    ``_ci_low`` and ``_ci_high`` per criterion label."""
    rows = []
    for file in imprint_files:
        record = read_json(file)
        dataset, target = record_key(record, file)
        row: dict[str, Any] = {"dataset": dataset, "target_epsilon": target}
        for item in record.get("criteria", []):
            if item["metric"] != "ssim":
                for field in ("success_rate", "ci_low", "ci_high"):
                    row[f"imprint_{item['label']}_{field}"] = float(item[field])
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=KEY)


def bound_columns(bound_files: Sequence[str | Path]) -> pd.DataFrame:
    """The rigorous bound of the training run's mechanism at every κ of the bounds tables, one
    column ``train_rero_bound_kappa_<label>`` per κ label."""
    frames = [pd.read_csv(file) for file in bound_files]
    bounds = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if bounds.empty:
        return pd.DataFrame(columns=KEY)
    rigorous = bounds[bounds["method"] == "rigorous"]
    wide = rigorous.pivot_table(index=KEY, columns="kappa_label", values="bound", aggfunc="first")
    wide.columns = [f"train_rero_bound_kappa_{label}" for label in wide.columns]
    return wide.reset_index()


#: the from-scratch bound's summary columns: (CSV column, column suffix), (norm, suffix)
SCRATCH_CURVES = (("single_release", "single"), ("whole_run", "run"))
SCRATCH_NORMS = (("median", "median"), ("mean_over_images", "mean"))


def from_scratch_columns(scratch_files: Sequence[str | Path]) -> pd.DataFrame:
    """The from-scratch bound (Riess et al. 2024) per criterion of its tables, at the median
    norm and averaged over the training images, one release and the whole run:
    ``from_scratch_<label>_<single|run>_<median|mean>`` (label as ``psnr_ge_30``)."""
    frames = [pd.read_csv(file) for file in scratch_files]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if table.empty:
        return pd.DataFrame(columns=KEY)
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    for record in table.to_dict("records"):
        norm = dict(SCRATCH_NORMS).get(record["norm"])
        if norm is None:
            continue
        label = ScratchCriterion(record["metric"], float(record["threshold"])).label
        key = (str(record["dataset"]), float(record["target_epsilon"]))
        row = rows.setdefault(key, {"dataset": key[0], "target_epsilon": key[1]})
        for field, curve in SCRATCH_CURVES:
            row[f"from_scratch_{label}_{curve}_{norm}"] = float(record[field])
    return pd.DataFrame(list(rows.values()))


def membership_columns(membership_files: Sequence[str | Path]) -> pd.DataFrame:
    """The certified membership-inference bounds (``mia_*`` columns) of every plan."""
    frames = [pd.read_csv(file) for file in membership_files]
    if not frames:
        return pd.DataFrame(columns=KEY)
    table = pd.concat(frames, ignore_index=True)
    return table[[*KEY, *(column for column in table.columns if column.startswith("mia_"))]]


def transition_columns(transition_files: Sequence[str | Path]) -> pd.DataFrame:
    """Per dataset, the ε interval (low, high] where the imprint attack's success first reaches
    each level: columns ``imprint_transition_<criterion>_eps_low`` / ``_eps_high``; success by
    a criterion other than the paper's SSIM names it: ``imprint_transition_<label>_<criterion>``."""
    rows = []
    for file in transition_files:
        record = read_json(file)
        row: dict[str, Any] = {"dataset": record["dataset"]}
        success = record.get("success_criterion", {"metric": "ssim"})
        prefix = "" if success["metric"] == "ssim" else f"{success['label']}_"
        for item in record["transitions"]:
            name = prefix + item["criterion"].replace("success ", "").replace(" ", "")
            row[f"imprint_transition_{name}_eps_low"] = float(item["epsilon_low"])
            row[f"imprint_transition_{name}_eps_high"] = float(item["epsilon_high"])
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["dataset"])


def audit_columns(audit_files: Sequence[str | Path]) -> pd.DataFrame:
    """Per access, the audited ε lower bound (``audit_epsilon_lower_white_box``, ``_black_box``:
    empirical lower bounds on the ε of the training code at the audit's confidence), the f-DP
    lower bound (``audit_epsilon_fdp_lower_<access>``: within the claimed mechanism's family) and,
    white-box, the per-step audit's composed bounds (``audit_epsilon_composed[_fdp]_white_box``)."""
    rows = []
    for file in audit_files:
        record = read_json(file)
        row = {"dataset": str(record["dataset"]), "target_epsilon": float(record["target_epsilon"])}
        for kind, access in AUDIT_COLUMNS:
            if kind in record.get(access, {}):
                row[f"audit_{kind}_{access}"] = float(record[access][kind])
        rows.append(row)
    columns = [*KEY, *(f"audit_{kind}_{access}" for kind, access in AUDIT_COLUMNS)]
    return pd.DataFrame(rows, columns=columns)


def summarise(
    metric_files: Sequence[str | Path],
    plan_files: Sequence[str | Path],
    bound_files: Sequence[str | Path] = (),
    imprint_files: Sequence[str | Path] = (),
    prior_aware_files: Sequence[str | Path] = (),
    membership_files: Sequence[str | Path] = (),
    transition_files: Sequence[str | Path] = (),
    audit_files: Sequence[str | Path] = (),
    scratch_files: Sequence[str | Path] = (),
) -> pd.DataFrame:
    """The summary table: metric mean ± sd over seeds beside σ, bounds and attack success."""
    runs = training_table(metric_files)
    grouped = runs.groupby(KEY, sort=False)
    stats = grouped[[*METRICS, "main_metric_value"]].agg(["mean", "std"])
    stats.columns = [
        f"{metric.removesuffix('_value')}_{'sd' if stat == 'std' else stat}"
        for metric, stat in stats.columns
    ]
    stats.insert(0, "task", grouped["task"].first())
    stats.insert(1, "main_metric", grouped["main_metric"].first())
    stats["n_seeds"] = grouped.size()
    width = runs["main_metric_ci_high"] - runs["main_metric_ci_low"]
    stats["main_metric_test_ci_width"] = width.groupby([runs[key] for key in KEY]).mean()
    stats["rdp_epsilon_upper_bound"] = grouped["rdp_epsilon_upper_bound"].mean()
    table = plan_table(plan_files).merge(stats.reset_index(), on=KEY, how="left")
    table = table.merge(bound_columns(bound_files), on=KEY, how="left")
    table = table.merge(membership_columns(membership_files), on=KEY, how="left")
    table = table.merge(from_scratch_columns(scratch_files), on=KEY, how="left")
    table = table.merge(transition_columns(transition_files), on="dataset", how="left")
    table = table.merge(attack_table(imprint_files, "imprint"), on=KEY, how="left")
    table = table.merge(criteria_columns(imprint_files), on=KEY, how="left")
    # the prior-aware attack runs DP-SGD of its own (its q, T): its κ and bound are that run's
    prior_aware = attack_table(prior_aware_files, "prior_aware", extra=("kappa", "bound"))
    prior_aware = prior_aware.rename(
        columns={
            "prior_aware_kappa": "prior_aware_run_kappa",
            "prior_aware_bound": "prior_aware_run_bound",
        }
    )
    table = table.merge(prior_aware, on=KEY, how="left")
    table = table.merge(audit_columns(audit_files), on=KEY, how="left")
    order = np.lexsort((table["target_epsilon"].to_numpy(), table["dataset"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)
