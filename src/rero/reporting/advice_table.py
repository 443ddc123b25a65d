"""The study's advice table: for each tolerated risk, the budget it needs and what it costs.

Each row is one tolerated risk under one threat model (column ``threat``): a reconstruction
success at a prior κ (``identification``: the certified ReRo bound), a from-scratch success by a
criterion of the from-scratch table at the training split's median image norm (``from-scratch``:
one release; ``from-scratch-run``: the whole run; Riess et al. 2024, an upper bound on analytic
inversions without a data prior only), or a membership TPR at an FPR (``membership``), answered
for a dataset's training setting (q, T, δ of its plans) by :func:`rero.privacy.advice.advise`.
Its cost is the main test metric at the advised ε, interpolated between the trained budgets:
the seed means are first made nondecreasing in ε (isotonic regression; more budget never buys
less utility in expectation), then read off linearly in log ε, the seed sd likewise. A budget
outside the trained range is not extrapolated (the cell stays empty and the row says so); σ = 0
takes the non-private run's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from rero.privacy.advice import Constraint, Risk, UnreachableRiskError, advise
from rero.privacy.from_scratch_advice import ScratchConstraint
from rero.privacy.plan import read_plan
from rero.privacy.rero.from_scratch import THREAT_MODEL
from rero.privacy.rero.from_scratch_table import ScratchCriterion
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


#: what the bound of each threat model's rows is
BOUND_KINDS = {
    "identification": "upper bound (rigorous ReRo, pessimistic PLD)",
    "membership": "upper bound (rigorous ReRo, pessimistic PLD)",
    "from-scratch": f"from-scratch law of one release (Riess et al. 2024): {THREAT_MODEL}",
    "from-scratch-run": f"from-scratch law of the whole run (Riess et al. 2024): {THREAT_MODEL}",
}


def median_norm_settings(scratch_file: str | Path) -> list[tuple[ScratchCriterion, int, float]]:
    """(criterion, N, median ||X|| of the training images) of each criterion of a from-scratch
    table (``rero.privacy.rero.from_scratch_table``)."""
    table = pd.read_csv(scratch_file)
    median = table[table["norm"] == "median"].drop_duplicates(["metric", "threshold"])
    return [
        (ScratchCriterion(row.metric, float(row.threshold)), int(row.dimension), row.data_norm)
        for row in median.itertuples()
    ]


def _queries(
    size: int,
    kappas: Sequence[tuple[str, float | None]],
    max_risks: Sequence[float],
    fprs: Sequence[float],
    scratch: Sequence[tuple[ScratchCriterion, int, float]],
) -> list[tuple[str, str, Risk]]:
    """(threat, at_label, constraint) of every row: identification, from-scratch (one release,
    whole run), membership."""
    return (
        [
            (
                "identification",
                label,
                Constraint("reconstruction", kappa if kappa else 1 / size, risk),
            )
            for label, kappa in kappas
            for risk in max_risks
        ]
        + [
            (threat, criterion.text, ScratchConstraint(criterion, dimension, norm, risk, run))
            for threat, run in (("from-scratch", False), ("from-scratch-run", True))
            for criterion, dimension, norm in scratch
            for risk in max_risks
        ]
        + [
            ("membership", f"{fpr:g}", Constraint("membership", fpr, risk))
            for fpr in fprs
            for risk in max_risks
        ]
    )


def _where(threat: str, constraint: Risk) -> dict[str, object]:
    """The row's ``at`` columns and, from scratch, the norm the law is read at."""
    if isinstance(constraint, ScratchConstraint):
        return {
            "at": "criterion",
            "at_value": constraint.criterion.threshold,
            "norm": "median",
            "data_norm": constraint.data_norm,
        }
    if not isinstance(constraint, Constraint):
        raise TypeError(f"no advice row for {constraint!r}")
    at = "kappa" if threat == "identification" else "fpr"
    return {"at": at, "at_value": constraint.kappa, "norm": "", "data_norm": math.nan}


def advice_table(
    plan_files: Sequence[str | Path],
    metric_files: Sequence[str | Path],
    kappas: Sequence[tuple[str, float | None]],
    max_risks: Sequence[float],
    fprs: Sequence[float],
    accountant: str = "auto",
    scratch_file: str | Path | None = None,
) -> pd.DataFrame:
    """One row per threat model and tolerated risk for the one dataset of ``plan_files`` (κ
    None: 1/N); the from-scratch rows from the criteria and median norm of ``scratch_file``."""
    plans = [read_plan(file) for file in plan_files]
    settings = {(plan.dataset, plan.sample_rate, plan.steps, plan.delta) for plan in plans}
    if len(settings) != 1:
        raise ValueError(f"the plans are of more than one dataset or setting: {sorted(settings)}")
    dataset, sample_rate, steps, delta = settings.pop()
    size = plans[0].dataset_size
    runs = training_table(metric_files)
    runs = runs[runs["dataset"] == dataset]
    metric = runs["main_metric"].iloc[0] if len(runs) else "main metric"
    scratch = median_norm_settings(scratch_file) if scratch_file is not None else []
    rows = []
    for threat, label, constraint in _queries(size, kappas, max_risks, fprs, scratch):
        try:
            answer = advise([constraint], sample_rate, steps, delta, accountant)
        except UnreachableRiskError:
            unreachable = dict.fromkeys(("sigma", "epsilon", "epsilon_lower", "bound"), math.nan)
            answer = unreachable | {"accountant": ""}
            floor, floor_is = constraint.floor(sample_rate, steps)
            mean, sd, how = math.nan, math.nan, f"cannot be met: at or below {floor_is} {floor:g}"
        else:
            mean, sd, how = utility_at(float(answer["epsilon"]), runs)
        where = _where(threat, constraint)
        rows.append(
            {
                "dataset": dataset,
                "threat": threat,
                "risk": "membership" if threat == "membership" else "reconstruction",
                "at": where["at"],
                "at_label": label,
                "at_value": where["at_value"],
                "norm": where["norm"],
                "data_norm": where["data_norm"],
                "max_risk": constraint.max_risk,
                "sigma": answer["sigma"],
                "epsilon": answer["epsilon"],
                "epsilon_lower": answer["epsilon_lower"],
                "accountant": answer["accountant"],
                "bound": answer["bound"],
                "bound_kind": BOUND_KINDS[threat],
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
