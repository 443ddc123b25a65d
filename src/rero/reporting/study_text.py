"""The study described in prose: its budgets written as a reader writes them, and which
accountant calibrated σ at each budget, with the reason a preferred one was not used (from the
privacy plans' own ``accountant`` and ``note``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import groupby

from rero.privacy.plan import NON_PRIVATE_ACCOUNTANT, PrivacyPlan

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
