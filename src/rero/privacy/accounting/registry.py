"""Which accountant computes ε: the refinable accountants (PRV, PLD) by name, the ``auto``
order (PRV, then PLD, then RDP) and :func:`epsilon_for`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from rero.privacy.accounting.base import (
    DEFAULT_RELATIVE_ERROR,
    MIN_EPSILON_SCALE,
    AccountantUnavailableError,
    EpsilonResult,
    join_notes,
    validate_mechanism,
)
from rero.privacy.accounting.pld import evaluate_pld, pld_epsilon
from rero.privacy.accounting.prv import evaluate_prv, prv_epsilon
from rero.privacy.accounting.rdp import RDP_NOTE, rdp_epsilon

Evaluation = Callable[[float, float, int, float, float], EpsilonResult]
"""(σ, q, T, δ, absolute ε error) -> EpsilonResult, or AccountantUnavailableError."""


@dataclass(frozen=True)
class RefinableAccountant:
    """An accountant whose discretisation error is chosen per evaluation."""

    evaluate: Evaluation
    coarse_search: bool
    """Whether calibration locates σ with ten times coarser evaluations first (PRV: its cost
    grows as the error shrinks; PLD's interval grows with ε, so fine evaluations stay cheap)."""


REFINABLE: dict[str, RefinableAccountant] = {
    "prv": RefinableAccountant(evaluate_prv, coarse_search=True),
    "pld": RefinableAccountant(evaluate_pld, coarse_search=False),
}
"""The refinable accountants, in the order ``auto`` tries them before falling back to RDP."""
ACCOUNTANTS = ("auto", *REFINABLE, "rdp")


def require_accountant(accountant: str) -> None:
    """ValueError unless ``accountant`` is one of :data:`ACCOUNTANTS`."""
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant={accountant!r}: expected one of {', '.join(ACCOUNTANTS)}")


def refinable_order(accountant: str) -> tuple[str, ...]:
    """The refinable accountants to try for ``accountant`` ("auto": all, in order)."""
    return tuple(REFINABLE) if accountant == "auto" else (accountant,)


def evaluate(
    name: str, sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """One evaluation of refinable accountant ``name`` with absolute ε error about ``error``."""
    return REFINABLE[name].evaluate(sigma, sample_rate, steps, delta, error)


def _refined_epsilon(
    name: str,
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    relative_error: float,
    epsilon_scale: float,
) -> EpsilonResult:
    """Evaluate with error relative_error·ε: start from an upper bound on ε and rescale once the
    accountant's own value shows the scale was more than twice too large (at most 4 passes)."""
    for _ in range(4):
        scale = max(epsilon_scale, MIN_EPSILON_SCALE)
        result = evaluate(name, sigma, sample_rate, steps, delta, relative_error * scale)
        if scale <= 2 * max(result.epsilon, MIN_EPSILON_SCALE):
            return result
        epsilon_scale = result.epsilon
    return result


def epsilon_for(
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = "auto",
    *,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
) -> EpsilonResult:
    """ε at δ of T steps of the Poisson-subsampled Gaussian (noise multiplier σ, rate q).

    ``relative_error`` sets the PRV eps_error (and the PLD interval through the expected PLD
    excess) relative to ε itself. ``auto`` records in the note why PRV/PLD were not used; an
    explicit ``prv``/``pld`` raises their AccountantUnavailableError instead. σ = 0 gives
    ε = inf, accountant "none".
    """
    validate_mechanism(sample_rate, steps, delta)
    require_accountant(accountant)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma={sigma}: expected a finite noise multiplier >= 0")
    if not 0 < relative_error < 1:
        raise ValueError(f"relative_error={relative_error}: expected a value in (0, 1)")
    if sigma == 0:
        return EpsilonResult(math.inf, None, "none", "no noise (sigma = 0): not private")
    rdp = rdp_epsilon(sigma, sample_rate, steps, delta)
    if accountant == "rdp":
        return EpsilonResult(rdp, None, "rdp", RDP_NOTE)
    refused: list[str] = []
    for name in refinable_order(accountant):
        try:
            result = _refined_epsilon(name, sigma, sample_rate, steps, delta, relative_error, rdp)
        except AccountantUnavailableError as reason:
            if accountant != "auto":
                raise
            refused.append(f"{name} not used: {reason}")
            continue
        return replace(result, note=join_notes(result.note, *refused))
    return EpsilonResult(rdp, None, "rdp", join_notes(RDP_NOTE, *refused))


def clear_cache() -> None:
    """Forget cached accountant evaluations (they are pure; benchmarks start cold with this)."""
    for cached in (rdp_epsilon, prv_epsilon, pld_epsilon):
        cached.cache_clear()
