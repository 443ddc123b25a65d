"""The bounds tables: every method's gamma for each privacy plan and prior kappa, and the
certified membership-inference bounds of each plan.

kappa = 1/N with N the training-set size is the paper's prior (Ziller et al. 2024): the target is
one of N equally likely candidates.
"""

from __future__ import annotations

import pandas as pd

from rero.privacy.plan import PrivacyPlan
from rero.privacy.rero.membership import DEFAULT_FPRS, membership_bounds
from rero.privacy.rero.methods import METHODS, UPPER_BOUND, rero_bound

BOUNDS_COLUMNS = (
    "dataset",
    "target_epsilon",
    "sigma",
    "q",
    "steps",
    "kappa",
    "kappa_label",
    "method",
    "kind",
    "bound",
)


def plan_columns(plan: PrivacyPlan) -> dict[str, object]:
    """The columns that name a plan's mechanism in both tables: dataset, target ε, σ, q, T."""
    return {
        "dataset": plan.dataset,
        "target_epsilon": plan.target_epsilon,
        "sigma": plan.sigma,
        "q": plan.sample_rate,
        "steps": plan.steps,
    }


def plan_kappa(plan: PrivacyPlan, label: str, kappa: float | None) -> float:
    """``kappa``, or 1/N with N = the plan's dataset_size when it is None."""
    if kappa is not None:
        return kappa
    size = plan.dataset_size
    if size is None or size < 2:
        raise ValueError(
            f"plan for dataset {plan.dataset!r} at target ε {plan.target_epsilon:g}: kappa "
            f"{label} needs a dataset_size N >= 2, got {size!r}"
        )
    return 1 / size


def bounds_table(
    plans: list[PrivacyPlan],
    kappas: list[tuple[str, float | None]],
    methods: list[str] | None = None,
) -> pd.DataFrame:
    """One row per plan x kappa x method (columns BOUNDS_COLUMNS), plans sorted by target ε.

    ``kappas`` are (label, value) pairs; a value of None means 1/N (see :func:`plan_kappa`).
    """
    names = list(METHODS) if methods is None else list(methods)
    for name in names:
        if name not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}")
    rows = []
    for plan in plans:
        for label, value in kappas:
            kappa = plan_kappa(plan, label, value)
            for name in names:
                bound = rero_bound(
                    name,
                    sigma=plan.sigma,
                    sample_rate=plan.sample_rate,
                    steps=plan.steps,
                    kappa=kappa,
                )
                rows.append(
                    {
                        **plan_columns(plan),
                        "kappa": kappa,
                        "kappa_label": label,
                        "method": name,
                        "kind": bound.kind,
                        "bound": bound.value,
                    }
                )
    table = pd.DataFrame(rows, columns=list(BOUNDS_COLUMNS))
    return table.sort_values("target_epsilon", kind="stable", ignore_index=True)


def membership_column(fpr: float) -> str:
    """The column of the TPR bound at one FPR."""
    return f"mia_tpr_at_fpr_{fpr:g}"


def membership_table(plans: list[PrivacyPlan]) -> pd.DataFrame:
    """One row per plan: the certified membership-inference bounds of its DP-SGD run (TPR at
    each of ``DEFAULT_FPRS``, AUC, balanced accuracy), plans sorted by target ε."""
    rows = []
    for plan in plans:
        bounds = membership_bounds(sigma=plan.sigma, sample_rate=plan.sample_rate, steps=plan.steps)
        rows.append(
            {
                **plan_columns(plan),
                **{membership_column(fpr): bounds.tpr_at_fpr[fpr] for fpr in DEFAULT_FPRS},
                "mia_auc": bounds.auc,
                "mia_balanced_accuracy": bounds.balanced_accuracy,
                "kind": UPPER_BOUND,
                "note": bounds.note,
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values("target_epsilon", kind="stable", ignore_index=True)
