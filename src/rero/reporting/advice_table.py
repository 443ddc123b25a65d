"""The study's advice table: for each tolerated risk, the budget it needs and what it costs.

Each row is one tolerated risk, a reconstruction success at a prior κ or a membership TPR at an
FPR, answered for a dataset's training setting (q, T, δ of its plans) by
:func:`rero.privacy.advice.advise`. Its cost is the main test metric at the advised ε,
interpolated between the trained budgets: the seed means are first made nondecreasing in ε
(isotonic regression; more budget never buys less utility in expectation), then read off
linearly in log ε, the seed sd likewise. A budget outside the trained range is not
extrapolated (the cell stays empty and the row says so); σ = 0 takes the non-private run's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from rero.privacy.advice import Constraint, UnreachableRiskError, advise
from rero.privacy.plan import read_plan
from rero.reporting.summary import training_table

TRAINED_MATCH = 0.01  # an advised ε within 1 % of a trained target counts as trained


def utility_at(epsilon: float, runs: pd.DataFrame) -> tuple[float, float, str]:
    """(mean, sd, how) of the main metric at ``epsilon`` from one dataset's training runs."""
    stats = runs.groupby("target_epsilon")["main_metric_value"].agg(["mean", "std"]).fillna(0.0)
    if math.isinf(epsilon):
        if math.inf in stats.index:
            row = stats.loc[math.inf]
            return float(row["mean"]), float(row["std"]), "the non-private run"
        return math.nan, math.nan, "no non-private run trained"
    finite = stats[np.isfinite(stats.index.to_numpy(dtype=float))]
    if finite.empty:
        return math.nan, math.nan, "no private run trained"
    budgets = finite.index.to_numpy(dtype=float)
    close = np.flatnonzero(np.abs(budgets / epsilon - 1) <= TRAINED_MATCH)
    if len(close):
        row = finite.iloc[close[0]]
        return float(row["mean"]), float(row["std"]), f"trained at ε = {budgets[close[0]]:g}"
    if not budgets.min() < epsilon < budgets.max():
        return (
            math.nan,
            math.nan,
            f"outside the trained range [{budgets.min():g}, {budgets.max():g}]: not extrapolated",
        )
    logs = np.log(budgets)
    means = IsotonicRegression(increasing=True).fit_transform(logs, finite["mean"].to_numpy())
    at = math.log(epsilon)
    upper = int(np.searchsorted(budgets, epsilon))
    return (
        float(np.interp(at, logs, means)),
        float(np.interp(at, logs, finite["std"].to_numpy())),
        f"interpolated between ε = {budgets[upper - 1]:g} and {budgets[upper]:g}",
    )


def advice_table(
    plan_files: Sequence[str | Path],
    metric_files: Sequence[str | Path],
    kappas: Sequence[tuple[str, float | None]],
    max_risks: Sequence[float],
    fprs: Sequence[float],
    accountant: str = "auto",
) -> pd.DataFrame:
    """One row per tolerated risk for the one dataset of ``plan_files`` (κ None: 1/N)."""
    plans = [read_plan(file) for file in plan_files]
    settings = {(plan.dataset, plan.sample_rate, plan.steps, plan.delta) for plan in plans}
    if len(settings) != 1:
        raise ValueError(f"the plans are of more than one dataset or setting: {sorted(settings)}")
    dataset, sample_rate, steps, delta = settings.pop()
    size = plans[0].dataset_size
    runs = training_table(metric_files)
    runs = runs[runs["dataset"] == dataset]
    metric = runs["main_metric"].iloc[0] if len(runs) else "main metric"
    queries = [
        (label, Constraint("reconstruction", kappa if kappa is not None else 1 / size, risk))
        for label, kappa in kappas
        for risk in max_risks
    ] + [(f"{fpr:g}", Constraint("membership", fpr, risk)) for fpr in fprs for risk in max_risks]
    rows = []
    for label, constraint in queries:
        try:
            answer = advise([constraint], sample_rate, steps, delta, accountant)
        except UnreachableRiskError as error:
            unreachable = dict.fromkeys(("sigma", "epsilon", "epsilon_lower", "bound"), math.nan)
            answer = unreachable | {"accountant": "", "note": str(error)}
            mean, sd, how = (
                math.nan,
                math.nan,
                f"cannot be met: at or below the prior {constraint.kappa:g}",
            )
        else:
            mean, sd, how = utility_at(float(answer["epsilon"]), runs)
        rows.append(
            {
                "dataset": dataset,
                "risk": constraint.kind,
                "at": "kappa" if constraint.kind == "reconstruction" else "fpr",
                "at_label": label,
                "at_value": constraint.kappa,
                "max_risk": constraint.max_risk,
                "sigma": answer["sigma"],
                "epsilon": answer["epsilon"],
                "epsilon_lower": answer["epsilon_lower"],
                "accountant": answer["accountant"],
                "bound": answer["bound"],
                "bound_kind": "upper bound (rigorous ReRo, pessimistic PLD)",
                "main_metric": metric,
                "main_metric_mean": mean,
                "main_metric_sd": sd,
                "utility": how,
                "sample_rate": sample_rate,
                "steps": steps,
                "delta": delta,
            }
        )
    return pd.DataFrame(rows)
