"""The study described in prose: its budgets written as a reader writes them, which accountant
calibrated σ at each budget, with the reason a preferred one was not used (from the privacy
plans' own ``accountant`` and ``note``), and each dataset's risk corridor
(:mod:`rero.reporting.corridor`)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from rero.privacy.accounting.registry import AUTO_ORDER, REFINABLE
from rero.privacy.plan import NON_PRIVATE_ACCOUNTANT, PrivacyPlan
from rero.reporting.corridor import LEVEL, Corridor, Crossing, read_eta, results_corridors

SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
ACCOUNTANT_NAMES = {
    "inclusions": (
        "the exact inclusion-count analysis (conditioning on how often the example is sampled)"
    ),
    "prv": "the PRV accountant (Gopi, Lee & Wutschitz 2021)",
    "pld": "dp_accounting's PLD accountant (Doroshenko et al. 2022)",
    "rdp": "the RDP accountant (Mironov 2017)",
}
#: "<accountant> not used: <reason>" entries of a plan's note (reasons may hold "; " themselves)
REFUSAL = re.compile(r"\b([a-z]+) not used: (.*?)(?=; [a-z]+ not used: |$)")


def number_text(value: float) -> str:
    """A number as prose writes it: 8, 0.5, 10³, 2·10⁻⁴ (powers of ten from 10³ and below 10⁻²)."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0 or 1e-2 <= abs(value) < 1e3:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = "10" + str(int(exponent)).translate(SUPERSCRIPTS)
    return power if mantissa == "1" else f"{mantissa}·{power}"


def budget_text(epsilon: float) -> str:
    """A target budget: its number, or "non-private" for ε = inf."""
    return "non-private" if math.isinf(epsilon) else number_text(epsilon)


def series_text(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def budgets_text(epsilons: Sequence[float]) -> str:
    """The budgets as prose, "ε = 1, 8, 10³, 10⁹ and non-private" (in the order given)."""
    return "ε = " + series_text([budget_text(epsilon) for epsilon in epsilons])


def refusals(note: str) -> list[tuple[str, str]]:
    """(accountant, reason) for each accountant a plan's note says was not used."""
    return REFUSAL.findall(note)


def auto_order_text() -> str:
    """What ``privacy.accountant = auto`` does, in the order the code tries the accountants
    (:data:`rero.privacy.accounting.registry.AUTO_ORDER`, then RDP)."""
    tried = ", then ".join(ACCOUNTANT_NAMES[name] for name in (*AUTO_ORDER, "rdp"))
    named = [ACCOUNTANT_NAMES[name] for name in REFINABLE if name not in AUTO_ORDER]
    text = (
        "With privacy.accountant = auto, σ is calibrated by the first accountant that computes ε "
        f"safely, tried in this order: {tried}"
    )
    return text + (f"; {series_text(named)} only when named." if named else ".")


def accountant_text(plans: Sequence[PrivacyPlan], requested: str) -> str:
    """Which accountant calibrated σ at which budgets of one dataset, and why, as prose.

    ``requested`` is the configured ``privacy.accountant`` (auto tries the inclusion-count
    analysis, then PLD, then RDP); consecutive budgets served by the same accountant share a
    clause.
    """
    ordered = sorted(plans, key=lambda plan: plan.target_epsilon)
    private = [plan for plan in ordered if plan.private]
    clauses = []
    for name, group in groupby(private, key=lambda plan: plan.accountant):
        members = list(group)
        budgets = series_text([number_text(plan.target_epsilon) for plan in members])
        clause = f"at ε = {budgets} with {ACCOUNTANT_NAMES.get(name, name)}"
        reasons = [
            f"{'' if len(members) == 1 else f'at ε = {number_text(plan.target_epsilon)}: '}"
            f"{refused if refused == 'inclusions' else refused.upper()} not used: {reason}"
            for plan in members
            for refused, reason in refusals(plan.note)
        ]
        if reasons:
            clause += f" ({'; '.join(reasons)})"
        clauses.append(clause)
    text = f"privacy.accountant = {requested}. "
    if clauses:
        text += "σ was calibrated " + "; ".join(clauses) + "."
    if any(not plan.private for plan in ordered):
        text += (
            f" The non-private baseline (accountant {NON_PRIVATE_ACCOUNTANT!r}) trains the same "
            "model for the same steps without clipping or noise."
        )
    return text.strip()


def schedule_text(plan: PrivacyPlan) -> str:
    """The DP-SGD schedule behind a dataset's plans: N, batch size, epochs, q, T and δ."""
    parts = [
        f"N = {plan.dataset_size} training examples" if plan.dataset_size else None,
        f"expected batch size {plan.batch_size}" if plan.batch_size else None,
        f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''}" if plan.epochs else None,
        f"Poisson sampling rate q = {plan.sample_rate:.4g}",
        f"T = {plan.steps} steps",
        f"δ = {number_text(plan.delta)}",
    ]
    return ", ".join(part for part in parts if part)


def eps_text(value: float) -> str:
    """A budget where a curve crosses, to three significant digits: 64, 3.16·10⁷."""
    return number_text(float(f"{value:.3g}"))


def where_text(crossing: Crossing) -> str:
    """Where a curve first reaches its level, as the budgets computed bracket it."""
    if not crossing.reached:
        return f"not reached within the studied ε, up to ε = {eps_text(crossing.low)}"
    if crossing.low == 0:
        return f"already at ε = {eps_text(crossing.high)}, the smallest budget studied"
    return f"between ε = {eps_text(crossing.low)} and {eps_text(crossing.high)}"


def reach_text(subject: str, verb: str, goal: str, crossing: Crossing) -> str:
    """ "<subject> <verb> between ε = a and b", or "<subject>: <goal> not reached ..."."""
    if crossing.reached:
        return f"{subject} {verb} {where_text(crossing)}"
    return f"{subject}: {goal} {where_text(crossing)}"


def corridor_text(corridor: Corridor, eta: float) -> str:
    """One dataset's corridor in prose: where the certified identification bound and the
    from-scratch bound (where computed) reach :data:`LEVEL`, where the imprint attack (success
    SSIM ≥ ``eta``) first succeeds, and the ε range between them."""
    level = f"{LEVEL:g}"
    kappa = "κ = 1/N" if corridor.kappa_label == "1/N" else f"κ = {number_text(corridor.kappa)}"
    subject = f"the certified identification bound ({kappa})"
    clauses = [reach_text(subject, f"reaches {level}", level, corridor.identification)]
    if corridor.single_release is not None and corridor.whole_run is not None:
        goal = f"P({corridor.criterion}) = {level}"
        subject = "the from-scratch bound (no data prior; median-norm image, one release)"
        clauses.append(
            f"{reach_text(subject, f'reaches {goal}', goal, corridor.single_release)} "
            f"(whole run: {where_text(corridor.whole_run)})"
        )
    subject = f"the imprint attack (measured, SSIM ≥ {eta:g})"
    if corridor.attack is not None:
        clause = reach_text(
            subject, "first succeeds on an image", "a first success", corridor.attack
        )
        if corridor.attack_at_criterion is not None:
            clause += f" (by {corridor.criterion}: {where_text(corridor.attack_at_criterion)})"
        clauses.append(clause)
    elif corridor.attack_at_criterion is not None:  # the transition searched by that criterion
        subject = f"the imprint attack (measured, {corridor.criterion})"
        clauses.append(
            reach_text(
                subject,
                "first succeeds on an image",
                "a first success",
                corridor.attack_at_criterion,
            )
        )
    else:
        clauses.append(f"{subject}: its first success was not located in this run")
    text = f"On {corridor.dataset}, {'; '.join(clauses)}."
    if corridor.span is not None:
        low, high = corridor.span
        text += (
            f" The corridor, where the certified bound is ≥ {level} but the imprint attack "
            f"succeeds on no image, spans ε = {eps_text(low)} to {eps_text(high)}."
        )
    return text


def results_corridor_text(results: str | Path) -> list[str]:
    """The corridor sentence of every dataset of a results folder (its summary, bounds, the
    from-scratch tables where written, and η from the imprint attack's records)."""
    root = Path(results)
    return [
        corridor_text(item, read_eta(sorted(root.glob(f"attack/{name}/eps_*/imprint.json"))))
        for name, item in results_corridors(root).items()
    ]
