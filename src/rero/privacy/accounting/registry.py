"""Which accountant computes ε: the refinable accountants (small-σ, PLD, PRV) by name, the
``auto`` order (small-σ, then PLD, then RDP) and :func:`epsilon_for`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from rero.privacy.accounting.base import (
    DEFAULT_RELATIVE_ERROR,
    MIN_EPSILON_SCALE,
    SMALLEST_SIGMA,
    AccountantUnavailableError,
    EpsilonResult,
    join_notes,
    validate_mechanism,
)
from rero.privacy.accounting.inclusions import (
    asymptotic_sigma,
    evaluate_inclusions,
    inclusions_bracket,
)
from rero.privacy.accounting.pld import pld_epsilon, pld_upper
from rero.privacy.accounting.pld_bracket import concentrated_lower, evaluate_pld
from rero.privacy.accounting.prv import evaluate_prv, prv_epsilon, prv_upper
from rero.privacy.accounting.rdp import RDP_NOTE, rdp_epsilon

Evaluation = Callable[[float, float, int, float, float], EpsilonResult]
"""(σ, q, T, δ, absolute ε error) -> EpsilonResult, or AccountantUnavailableError."""
UpperBound = Callable[[float, float, int, float, float], float]
"""(σ, q, T, δ, absolute ε error) -> the upper value alone (what the σ search needs)."""


def _inclusions_upper(
    sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> float:
    del error
    return inclusions_bracket(sigma, sample_rate, steps, delta)[1]


@dataclass(frozen=True)
class RefinableAccountant:
    """An accountant whose discretisation error is chosen per evaluation."""

    evaluate: Evaluation
    """The reported result: upper and lower bound, cross-checked where the accountant needs it."""
    upper: UpperBound
    """The upper value alone, as cheaply as the accountant gives it."""
    coarse_search: bool
    """Whether calibration locates σ with ten times coarser evaluations first (PRV: its cost
    grows as the error shrinks; PLD's interval grows with ε, so fine evaluations stay cheap)."""
    start: Callable[[float, float, int, float], float] | None = None
    """σ to start the search at for (target, q, T, δ); None: the RDP σ."""


REFINABLE: dict[str, RefinableAccountant] = {
    "inclusions": RefinableAccountant(
        evaluate_inclusions, _inclusions_upper, coarse_search=False, start=asymptotic_sigma
    ),
    "pld": RefinableAccountant(evaluate_pld, pld_upper, coarse_search=False),
    "prv": RefinableAccountant(evaluate_prv, prv_upper, coarse_search=True),
}
"""The refinable accountants by name."""
AUTO_ORDER = ("inclusions", "pld")
"""What ``auto`` tries, in order, before falling back to RDP: the small-σ bracket (milliseconds,
refused at larger σ), then the PLD bracket. PRV is used only when asked for by name."""
ACCOUNTANTS = ("auto", *REFINABLE, "rdp")


def require_accountant(accountant: str) -> None:
    """ValueError unless ``accountant`` is one of :data:`ACCOUNTANTS`."""
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant={accountant!r}: expected one of {', '.join(ACCOUNTANTS)}")


def refinable_order(accountant: str) -> tuple[str, ...]:
    """The refinable accountants to try for ``accountant`` ("auto": :data:`AUTO_ORDER`)."""
    return AUTO_ORDER if accountant == "auto" else (accountant,)


def evaluate(
    name: str, sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """One evaluation of refinable accountant ``name`` with absolute ε error about ``error``."""
    return REFINABLE[name].evaluate(sigma, sample_rate, steps, delta, error)


def upper(
    name: str, sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> float:
    """The upper value of refinable accountant ``name`` alone (not cross-checked)."""
    return REFINABLE[name].upper(sigma, sample_rate, steps, delta, error)


def _refined_epsilon(
    name: str,
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    relative_error: float,
    epsilon_scale: float,
) -> EpsilonResult:
    """Evaluate with error relative_error·ε: start from an upper bound on ε and rescale (upper
    values only) while the accountant's own value shows the scale more than twice too large (at
    most 4 passes), then evaluate the full result at that scale."""
    for _ in range(4):
        scale = max(epsilon_scale, MIN_EPSILON_SCALE)
        value = upper(name, sigma, sample_rate, steps, delta, relative_error * scale)
        if scale <= 2 * max(value, MIN_EPSILON_SCALE):
            break
        epsilon_scale = value
    return evaluate(name, sigma, sample_rate, steps, delta, relative_error * scale)


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
    explicit accountant raises its AccountantUnavailableError instead. σ = 0 gives
    ε = inf, accountant "none"; 0 < σ < ``SMALLEST_SIGMA`` is refused. Every evaluation is
    sized (PLD, PRV) or bounded in steps (small-σ, RDP) before it runs.
    """
    validate_mechanism(sample_rate, steps, delta)
    require_accountant(accountant)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma={sigma}: expected a finite noise multiplier >= 0")
    if not 0 < relative_error < 1:
        raise ValueError(f"relative_error={relative_error}: expected a value in (0, 1)")
    if sigma == 0:
        return EpsilonResult(math.inf, None, "none", "no noise (sigma = 0): not private")
    if sigma < SMALLEST_SIGMA:
        raise AccountantUnavailableError(
            f"sigma={sigma:g}: below {SMALLEST_SIGMA:g}, where epsilon exceeds ~T/(2·sigma²) = "
            f"{steps / (2 * SMALLEST_SIGMA**2):.1e} and the accountants' arithmetic overflows; "
            "no epsilon is computed"
        )
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
    for cached in (rdp_epsilon, prv_epsilon, pld_epsilon, concentrated_lower, inclusions_bracket):
        cached.cache_clear()
