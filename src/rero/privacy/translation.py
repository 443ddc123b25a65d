"""What a budget calibrated with RDP is worth: the σ that RDP calibration gives for each target
ε (the paper's, Ziller et al. 2024, via Opacus' RDP accountant) and the tight ε of that σ.

RDP's (ε, δ) conversion is loose at large ε (Mironov, Talwar & Zhang 2019; Canonne, Kamath &
Steinke 2020, Prop. 12), so a run labelled "ε = 10⁹" by RDP is far more private than its label;
the tight ε here is the certified bracket of :func:`~rero.privacy.accounting.registry.epsilon_for`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from rero.privacy.accounting.registry import epsilon_for
from rero.privacy.calibration import calibrate_grid

RDP_REL_TOL = 1e-4
"""Calibration tolerance of the RDP σ (the paper's Opacus calibration: ε·1e-6; the RDP ε of the
σ found is in [(1 - RDP_REL_TOL)·target, target])."""


@dataclass(frozen=True)
class Translation:
    """One budget: the RDP-calibrated σ, its RDP ε and its tight ε bracket at the same δ."""

    target_epsilon: float
    rdp_sigma: float
    rdp_epsilon: float
    epsilon: float
    epsilon_lower: float | None
    accountant: str
    note: str

    @property
    def overstatement(self) -> float:
        """RDP ε over the tight upper bound: how many times the RDP label overstates ε."""
        return self.rdp_epsilon / self.epsilon


def translate_budgets(
    targets: Iterable[float], sample_rate: float, steps: int, delta: float
) -> list[Translation]:
    """For each finite target ε: the σ of RDP calibration (orders of
    :data:`~rero.privacy.accounting.rdp_conversion.RDP_ORDERS`, tolerance ``RDP_REL_TOL``) and
    the tight ε of that σ (``auto``: small-σ bracket, then PLD). ValueError for an infinite
    target (the non-private run has no σ to translate) and for what :func:`calibrate_grid`
    refuses."""
    targets = [float(target) for target in targets]
    for target in targets:
        if math.isinf(target):
            raise ValueError("target_epsilon=inf: the non-private run has no sigma to translate")
    plans = calibrate_grid(
        targets,
        sample_rate,
        steps,
        delta,
        accountant="rdp",
        rel_tol=RDP_REL_TOL,
        estimate_prv=False,
    )
    rows = []
    for plan in plans:
        tight = epsilon_for(plan.sigma, sample_rate, steps, delta)
        rows.append(
            Translation(
                target_epsilon=plan.target_epsilon,
                rdp_sigma=plan.sigma,
                rdp_epsilon=plan.epsilon,
                epsilon=tight.epsilon,
                epsilon_lower=tight.lower,
                accountant=tight.accountant,
                note=tight.note,
            )
        )
    return rows
