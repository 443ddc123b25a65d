"""Certified membership-inference bounds of DP-SGD, from the same analysis as the ReRo bound.

The test "was the target in the training set?" between the mechanism without the target (null μ)
and with it (alternative ν) has the trade-off function f(α) = the least type-II error at type-I
error α; any membership test has TPR ≤ 1 − f(FPR) (Dong, Roth, Su 2022, "Gaussian differential
privacy"). 1 − f(α) = inf over ε of α e^ε + δ_{ν‖μ}(ε) is the ReRo bound at prior κ = α (Hayes,
Mahloujifar, Balle 2023), so the TPR bound is the rigorous bound at κ = FPR. Its integral bounds
the AUC, and the largest TPR − FPR is the total variation δ_{ν‖μ}(0), which bounds the balanced
accuracy by (1 + TV)/2 (Kaissis et al. 2023, "Optimal privacy guarantees for a relaxed threat
model: addressing sub-optimal adversaries in differentially private machine learning"). All are
upper bounds: closed forms where exact (σ = 0, q = 1), else the pessimistic PLD of
:mod:`rero.privacy.rero.pld`, and an upper Riemann sum of the nondecreasing 1 − f for the AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rero.privacy.rero.closed_forms import validate_arguments
from rero.privacy.rero.loss_model import PrivacyLossModel
from rero.privacy.rero.methods import rigorous_bound
from rero.privacy.rero.pld import (
    DISCRETISATION,
    WINDOW_MARGIN,
    LossDistribution,
    compose,
    rero_from_distribution,
    single_step_distribution,
)

DEFAULT_FPRS = (1e-3, 1e-2, 1e-1)
#: FPRs of the AUC's upper Riemann sum: geometric below 0.01, then linear to 1
AUC_GRID = np.concatenate([np.geomspace(1e-6, 1e-2, 17)[:-1], np.linspace(1e-2, 1.0, 100)])


@dataclass(frozen=True)
class MembershipBounds:
    """Upper bounds on any membership test of one DP-SGD run (σ, q, T)."""

    tpr_at_fpr: dict[float, float]
    auc: float
    balanced_accuracy: float
    note: str


def total_variation(dist: LossDistribution) -> float:
    """δ_{ν‖μ}(0) = E_ν[(1 − e^−L)+] + ν(L = ∞) of a pessimistic loss distribution."""
    losses = dist.losses
    positive = losses > 0
    return float(
        min(1.0, dist.infinity_mass + np.sum(dist.masses[positive] * -np.expm1(-losses[positive])))
    )


def membership_bounds(
    *, sigma: float, sample_rate: float, steps: int, fprs: Sequence[float] = DEFAULT_FPRS
) -> MembershipBounds:
    """TPR at each FPR, AUC and balanced-accuracy upper bounds of T DP-SGD steps (σ, q)."""
    validate_arguments(sigma, sample_rate, steps, 0.5)
    for fpr in fprs:
        if not 0 < fpr < 1:
            raise ValueError(f"fpr={fpr}: expected a false-positive rate in (0, 1)")
    tpr = {
        float(fpr): rigorous_bound(
            sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=fpr
        ).value
        for fpr in fprs
    }
    if sigma == 0:
        missed = (1 - sample_rate) ** steps  # the target is never sampled
        return MembershipBounds(
            tpr, 1 - missed / 2, (2 - missed) / 2, "sigma = 0 (non-private): noise-free limit"
        )
    if sample_rate == 1:
        mu = math.sqrt(steps) / sigma
        auc = float(stats.norm.cdf(mu / math.sqrt(2)))
        balanced = float(stats.norm.cdf(mu / 2))
        return MembershipBounds(tpr, auc, balanced, "p = 1: exact mu-GDP, mu = sqrt(T)/sigma")
    model = PrivacyLossModel(mu=1 / sigma, p=sample_rate, squared=False)
    max_loss = math.log(1 / AUC_GRID[0]) + WINDOW_MARGIN
    single = single_step_distribution(model, max_loss=max_loss, step=DISCRETISATION)
    composed = compose(single, steps, max_loss=max_loss)
    curve = np.array([rero_from_distribution(composed, float(fpr)) for fpr in AUC_GRID])
    widths = np.diff(np.concatenate([[0.0], AUC_GRID]))
    auc = float(min(1.0, np.sum(widths * curve)))
    balanced = (1 + total_variation(composed)) / 2
    return MembershipBounds(
        tpr, auc, balanced, "pessimistic PLD; AUC as an upper Riemann sum over 116 FPRs"
    )
