"""Where the imprint attack starts to work: the budget ε at which its success crosses a level.

The imprint attack's success on the same batches grows with ε (less noise on the same update).
From the success measured on a grid of budgets, the first crossing of the level is bracketed by
two neighbouring budgets (below the level at the lower, at or above at the upper); the bracket
is then halved in log ε a fixed number of times, each midpoint attacked with σ calibrated for it
by the study's accountant policy. The result is an interval, not a point: the success at the
midpoints is measured on finitely many images, so the crossing is located for this attack, these
batches and this seed. Success is the paper's (SSIM >= η) unless another of the attack's
criteria (:mod:`rero.attacks.success`) is named.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rero.attacks.job import CalibrationPolicy, ImprintSettings, imprint_job
from rero.attacks.success import SuccessCriterion
from rero.data.prepare import read_meta
from rero.data.store import load_split
from rero.privacy.calibration import calibrate
from rero.privacy.plan import PrivacyPlan, read_plan
from rero.runtime.device import resolve_device
from rero.runtime.io import provenance, read_json
from rero.study.tokens import budget_token


@dataclass(frozen=True)
class Transition:
    """The ε interval (``low``, ``high``] where success first reaches the level; the measured
    success at every budget attacked."""

    level: float
    strict: bool
    low: float
    high: float
    measured: dict[float, float]
    note: str


def reaches(success: float, level: float, strict: bool) -> bool:
    """Whether ``success`` counts as reaching ``level`` (``strict``: above it, e.g. > 0)."""
    return success > level if strict else success >= level


def locate_transition(
    measured: Mapping[float, float],
    attack_at: Callable[[float], float],
    level: float,
    *,
    strict: bool = False,
    bisections: int = 4,
) -> Transition:
    """Bracket the first crossing of ``level`` on the finite budgets of ``measured`` (ε →
    success), then bisect in log ε with ``attack_at(ε)`` -> success, ``bisections`` times."""
    if not 0 <= level <= 1:
        raise ValueError(f"level={level}: expected a success rate in [0, 1]")
    if bisections < 0:
        raise ValueError(f"bisections={bisections}: expected an integer >= 0")
    points = dict(
        sorted((float(eps), float(s)) for eps, s in measured.items() if math.isfinite(eps))
    )
    if not points:
        raise ValueError("no finite budget measured: the crossing cannot be bracketed")
    budgets = list(points)
    crossed = [eps for eps in budgets if reaches(points[eps], level, strict)]
    if not crossed:
        return Transition(
            level, strict, budgets[-1], math.inf, points, "not reached at any budget measured"
        )
    high = crossed[0]
    below = [eps for eps in budgets if eps < high]
    if not below:
        return Transition(
            level, strict, 0.0, high, points, "reached already at the smallest budget measured"
        )
    low = below[-1]
    for _ in range(bisections):
        middle = math.sqrt(low * high)
        points[middle] = attack_at(middle)
        if reaches(points[middle], level, strict):
            high = middle
        else:
            low = middle
    return Transition(
        level, strict, low, high, dict(sorted(points.items())), f"{bisections} bisections in log ε"
    )


def criterion_rate(
    record: Mapping[str, Any], criterion: SuccessCriterion, source: str | Path
) -> float:
    """The success rate of ``criterion`` in an imprint record (the paper's SSIM criterion: its
    ``success_rate``); ValueError naming ``source`` when the record does not report it."""
    if criterion.metric == "ssim":
        return float(record["success_rate"])
    reported = {item["label"]: item for item in record.get("criteria", [])}
    if criterion.label not in reported:
        raise ValueError(
            f"{source}: the imprint record reports no success criterion {criterion.text} (it "
            f"reports {', '.join(item['criterion'] for item in reported.values()) or 'none'}); "
            "expected the attack run with it"
        )
    return float(reported[criterion.label]["success_rate"])


def budget_keyed(rates: Mapping[float, float]) -> dict[str, float]:
    """``rates`` by budget, in increasing ε, keyed by each budget's exact token
    (``rero.study.tokens.budget_token``): ``float(key)`` is the budget, so none is lost."""
    return {budget_token(eps): value for eps, value in sorted(rates.items())}


def transition_job(
    data_dir: str | Path,
    plan_files: Sequence[str | Path],
    imprint_files: Sequence[str | Path],
    settings: ImprintSettings,
    levels: Sequence[float],
    *,
    bisections: int,
    seed: int,
    policy: CalibrationPolicy,
    device: str = "auto",
    threads: int = 1,
    criterion: SuccessCriterion | None = None,
) -> dict[str, Any]:
    """The transition of every level (and of "first success > 0") for one dataset, from its
    imprint results on the budgets of ``plan_files``; midpoints are attacked with the same
    batches, seed and settings at σ calibrated by ``policy`` (the study's accountant and ε
    tolerance). Success by ``criterion``, one of the settings' criteria (None: the paper's
    SSIM >= ``settings.ssim_threshold``)."""
    paper = SuccessCriterion("ssim", settings.ssim_threshold)
    criterion = paper if criterion is None else criterion
    if criterion not in (paper, *settings.success):
        raise ValueError(
            f"transition criterion {criterion.text}: expected one of the attack's criteria "
            f"({', '.join(item.text for item in (paper, *settings.success))})"
        )
    torch_device = resolve_device(device)
    torch.set_num_threads(threads)
    plans = [read_plan(file) for file in plan_files]
    private = [plan for plan in plans if plan.private]
    if not private:
        raise ValueError("no private plan among --plans: nothing to locate a transition between")
    template = private[0]
    measured = {}
    for file in imprint_files:
        record = read_json(file)
        epsilon = PrivacyPlan.from_dict(record["plan"]).target_epsilon
        measured[epsilon] = criterion_rate(record, criterion, file)
    meta = read_meta(data_dir)
    train = load_split(data_dir, "train")
    reference, _ = load_split(data_dir, settings.reference_split)
    attacked: dict[float, float] = {}

    def attack_at(epsilon: float) -> float:
        if epsilon not in attacked:
            plan = calibrate(
                epsilon,
                template.sample_rate,
                template.steps,
                template.delta,
                accountant=policy.accountant,
                rel_tol=policy.rel_tol,
                dataset=template.dataset,
                dataset_size=template.dataset_size,
                batch_size=template.batch_size,
                epochs=template.epochs,
            )
            record, _ = imprint_job(
                train,
                reference,
                int(meta["num_classes"]),
                plan,
                settings,
                seed,
                torch_device,
                policy,
            )
            attacked[epsilon] = criterion_rate(record, criterion, f"the attack at ε = {epsilon:g}")
        return attacked[epsilon]

    found = [
        locate_transition(measured, attack_at, level, strict=strict, bisections=bisections)
        for level, strict in [*((float(level), False) for level in levels), (0.0, True)]
    ]
    return {
        "dataset": meta["dataset"],
        "transitions": [
            {
                "level": item.level,
                "criterion": f"success > {item.level:g}"
                if item.strict
                else f"success >= {item.level:g}",
                "epsilon_low": item.low,
                "epsilon_high": item.high,
                "note": item.note,
            }
            for item in found
        ],
        "measured": budget_keyed(measured),
        "bisected": budget_keyed(attacked),
        "ssim_threshold": settings.ssim_threshold,
        "success_criterion": {
            "label": criterion.label,
            "criterion": criterion.text,
            "metric": criterion.metric,
            "threshold": criterion.threshold,
        },
        "seed": seed,
        "accountant": policy.accountant,
        "eps_tolerance": policy.rel_tol,
        "method": "bracket on the measured budgets, then bisection in log ε; σ of each midpoint "
        "calibrated for the dataset's schedule",
        "provenance": provenance(),
    }
