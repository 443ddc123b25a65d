"""The PRV accountant (Gopi, Lee & Wutschitz, NeurIPS 2021; prv-accountant 0.2.0), with the
checks that refuse an evaluation before it can exhaust memory or return a wrong ε, the
cross-check against the certified PLD bracket that every reported PRV result passes, and
:func:`prv_estimate`: prv-accountant's own estimate, recorded beside a certified bracket."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from prv_accountant import PRVAccountant
from prv_accountant.accountant import compute_safe_domain_size
from prv_accountant.domain import Domain
from prv_accountant.privacy_random_variables import (
    PoissonSubsampledGaussianMechanism,
    PrivacyRandomVariableTruncated,
)

from rero.privacy.accounting.base import (
    MEMORY_BUDGET_BYTES,
    AccountantUnavailableError,
    EpsilonResult,
)
from rero.privacy.accounting.pld_bracket import evaluate_pld, remove_loss_mean

PRV_BYTES_PER_BIN = 400
"""Peak bytes per PRV domain bin (measured 340: long-double grid, pmf, FFT, cumulative sums)."""
PRV_DELTA_ERROR = 1e-3
"""PRV delta_error as a fraction of δ (the value prv-accountant and Opacus use)."""
PRV_MAX_HALF_WIDTH = 0.9 * float(np.log(np.finfo(np.longdouble).max))
"""PRV domain half-width above which exp(t) overflows in its long-double arithmetic."""
PRV_MEAN_TOLERANCE = 0.1
"""Largest T·|mean error| of the truncated PRV, as a fraction of eps_error (``prv_epsilon``)."""
CHECK_ERROR_FRACTION = 0.25
"""The PLD cross-check's ε error as a fraction of the PRV eps_error (its bracket is narrower)."""


@lru_cache(maxsize=512)
def prv_epsilon(
    sigma: float, sample_rate: float, steps: int, delta: float, eps_error: float
) -> tuple[float, float, float]:
    """(lower, estimate, upper) from prv-accountant; the upper value is the rigorous bound
    (Gopi et al. 2021, Thm 5.5). AccountantUnavailableError, before anything is allocated, when:

    1. the domain half-width L (prv's own RDP-based choice) exceeds ``PRV_MAX_HALF_WIDTH``,
       where exp(±t) overflows its long-double arithmetic;
    2. the bin count 2L/mesh, times ``PRV_BYTES_PER_BIN``, exceeds ``MEMORY_BUDGET_BYTES``;
    3. the mean of the truncated PRV that prv-accountant integrates (its discretisation is
       shifted by that mean, T times) differs from the KL divergence computed here by more than
       ``PRV_MEAN_TOLERANCE``·eps_error after ×T: prv-accountant 0.2.0's quadrature misses loss
       mass on a wide domain (one full-batch step at σ = 0.02: off by ~540; q = 0.2525, T = 300,
       σ = 0.224: off by ~40). Small σ at small q (σ = 0.05, q = 0.005, T = 1000) is refused by
       check 1 before this one runs.

    Also refused when prv-accountant itself fails or returns a non-finite value. These checks
    do not catch every wrong PRV bound (q = 1/106, T = 53,000, σ = 0.3071, eps_error 5: upper
    992.5 where the true ε is ≈ 995.6); :func:`evaluate_prv` cross-checks what passes them.
    """
    delta_error = PRV_DELTA_ERROR * delta
    prv = PoissonSubsampledGaussianMechanism(
        sampling_probability=sample_rate, noise_multiplier=sigma
    )
    half_width = float(
        compute_safe_domain_size([prv], [steps], eps_error=eps_error, delta_error=delta_error)
    )
    if not half_width <= PRV_MAX_HALF_WIDTH:
        raise AccountantUnavailableError(
            f"PRV domain half-width {half_width:.3g} exceeds the long-double range "
            f"({PRV_MAX_HALF_WIDTH:.0f})"
        )
    mesh = eps_error / math.sqrt(steps / 2 * math.log(12 / delta_error))
    bins = 2 * half_width / mesh
    if bins * PRV_BYTES_PER_BIN > MEMORY_BUDGET_BYTES:
        raise AccountantUnavailableError(
            f"PRV needs {bins:.3g} bins (~{bins * PRV_BYTES_PER_BIN / 2**30:.1f} GiB, budget "
            f"{MEMORY_BUDGET_BYTES / 2**30:.1f} GiB) for eps_error={eps_error:.3g}"
        )
    domain = Domain.create_aligned(-half_width, half_width, mesh)
    # prv's cdf at float64 points overflows exp(t) above t ~ 709 and then returns its limit 1.
    with np.errstate(over="ignore"):
        truncated = PrivacyRandomVariableTruncated(prv, domain.t_min(), domain.t_max())
        truncated_mean = float(truncated.mean())
    mean_gap = steps * abs(truncated_mean - remove_loss_mean(sigma, sample_rate)[0])
    if mean_gap > PRV_MEAN_TOLERANCE * eps_error:
        raise AccountantUnavailableError(
            f"prv-accountant's mean of the privacy loss is off by {mean_gap:.3g} after {steps} "
            f"compositions (allowed {PRV_MEAN_TOLERANCE * eps_error:.3g})"
        )
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            # prv warns "Assuming that true epsilon < eps_max"; eps_max is its own domain choice.
            warnings.simplefilter("ignore")
            accountant = PRVAccountant(
                prvs=[prv],
                max_self_compositions=[steps],
                eps_error=eps_error,
                delta_error=delta_error,
                eps_max=half_width,
            )
            lower, estimate, upper = accountant.compute_epsilon(
                delta=delta, num_self_compositions=[steps]
            )
    except (RuntimeError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"prv-accountant failed: {error}") from error
    if not all(math.isfinite(value) for value in (lower, estimate, upper)):
        raise AccountantUnavailableError(f"prv-accountant returned {(lower, estimate, upper)}")
    return float(max(lower, 0.0)), float(estimate), float(upper)


def prv_upper(sigma: float, sample_rate: float, steps: int, delta: float, error: float) -> float:
    """prv-accountant's upper value, eps_error = ``error`` (refusals: :func:`prv_epsilon`); not
    cross-checked: the σ search uses it, :func:`evaluate_prv` certifies the final σ."""
    return prv_epsilon(sigma, sample_rate, steps, delta, error)[2]


def evaluate_prv(
    sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """prv-accountant's upper value (eps_error = ``error``), reported only when it is at least
    the pessimistic PLD's certified upper bound computed at a quarter of that error (``check``):
    it is then an upper bound too. Its lower value is not certified, so the result's lower bound
    is the check's (:func:`~rero.privacy.accounting.pld_bracket.concentrated_lower`).
    AccountantUnavailableError when the check fails, or for the refusals of
    :func:`prv_epsilon` and of the PLD (:func:`~rero.privacy.accounting.pld.pld_epsilon`)."""
    lower, _, upper = prv_epsilon(sigma, sample_rate, steps, delta, error)
    check = evaluate_pld(sigma, sample_rate, steps, delta, CHECK_ERROR_FRACTION * error)
    if not (check.epsilon <= upper and lower <= check.epsilon):
        raise AccountantUnavailableError(
            f"prv-accountant's bracket [{lower:.6g}, {upper:.6g}] (eps_error {error:.3g}) does "
            f"not hold the certified PLD upper bound {check.epsilon:.6g}"
        )
    note = (
        "PRV accountant (Gopi, Lee & Wutschitz 2021): epsilon is its upper value "
        f"(eps_error {error:.3g}, delta_error {PRV_DELTA_ERROR * delta:.3g}), cross-checked: it "
        f"is at least the PLD's certified upper bound {check.epsilon:.6g}; epsilon_lower is the "
        f"PLD's certified lower bound (prv-accountant's own lower value: {lower:.6g})"
    )
    return EpsilonResult(upper, check.lower, "prv", note, check)


@dataclass(frozen=True)
class PrvEstimate:
    """prv-accountant's own estimate of ε at δ (None where it gives none) and a note saying
    where it lies against the certified bracket, or why there is none."""

    estimate: float | None
    note: str


def prv_estimate(
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    error: float,
    certified: EpsilonResult,
) -> PrvEstimate:
    """prv-accountant's estimate of ε at δ (eps_error = ``error``, :func:`prv_epsilon`) beside
    the ``certified`` result, which stays the one reported: an estimate is no bound, and
    prv-accountant's can fall outside the certified bracket (q = 0.2525, T = 300, δ = 8e-7 at
    ε ≈ 0.995: 6e-6 above it, with eps_error 0.01).
    Never raises: a refusal or any failure of prv-accountant is the note of an empty estimate."""
    try:
        lower, estimate, upper = prv_epsilon(sigma, sample_rate, steps, delta, error)
    except AccountantUnavailableError as reason:
        return PrvEstimate(None, f"PRV estimate refused: {reason}")
    except Exception as failure:  # an estimate beside the certified bound never stops a plan
        return PrvEstimate(None, f"PRV estimate failed: {type(failure).__name__}: {failure}")
    if estimate < 0:
        return PrvEstimate(None, f"PRV estimate refused: prv-accountant returned {estimate:.3g}")
    low = 0.0 if certified.lower is None else certified.lower
    if certified.lower is None:
        held = f"the certified upper bound {certified.epsilon:.6g}"
    else:
        held = f"the certified bracket [{certified.lower:.6g}, {certified.epsilon:.6g}]"
    held = f"{held} of {certified.accountant}"
    if estimate > certified.epsilon:
        where = f"{estimate - certified.epsilon:.3g} above {held} (the true ε is not above it)"
    elif estimate < low:
        where = f"{low - estimate:.3g} below {held} (the true ε is not below it)"
    else:
        where = f"{'below' if certified.lower is None else 'within'} {held}"
    return PrvEstimate(
        estimate,
        f"PRV accountant (Gopi, Lee & Wutschitz 2021): prv-accountant's estimate {estimate:.6g} "
        f"(its interval [{lower:.6g}, {upper:.6g}], eps_error {error:.3g}) lies {where}; an "
        "estimate, not a bound: epsilon reports the certified upper end",
    )
