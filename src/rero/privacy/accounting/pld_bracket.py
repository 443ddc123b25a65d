"""The PLD accountant's certified bracket: the pessimistic PLD's upper bound (:mod:`.pld`) and a
lower bound from a rounded-down PLD whose rounding is given back by concentration.

Lower bound (remove direction: x ~ (1-q)·N(0, σ²) + q·N(1, σ²) against N(0, σ²), one-step loss
L = ln(1 - q + q·e^u), u = (2x - 1)/(2σ²), T i.i.d. steps). Rounding each step's loss down to
the grid, L̃ = Δ·⌊L/Δ⌋ (privacy buckets; Meiser & Mohammadi, CCS 2018), gives ΣL̃ ≤ ΣL, hence a
lower bound, but one low by about T·Δ/2 — 5 % of ε at the paper's T = 53,000. The rounding
errors d_i = L_i - L̃_i ∈ [0, Δ) are i.i.d. with a mean m that is computed (E[L] by quadrature
minus the rounded pmf's mean), so by Hoeffding's inequality Σd_i ≥ T·m - t outside an event of
probability η = exp(-2t²/(T·Δ²)) (the grid's ends: :func:`_rounded_pmf`). There ΣL ≥ ΣL̃ + s,
s = T·m - t, and δ(ε) = E[(1 - e^{ε-ΣL})_+] increases in ΣL, so δ(ε) ≥ δ̃(ε - s) - η and

    ε(δ) ≥ ε̃(δ + η + τ) + s,

with ε̃ the rounded PLD composed by dp_accounting's FFT, whose truncated tail mass τ it books as
an infinite loss. The gap to the upper bound shrinks from ~T·Δ/2 to ~Δ·√(T·ln(1/η)/2). The
remove direction's ε is at most the pair's (the larger of add and remove), so it bounds it too.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from dp_accounting.pld import pld_pmf
from scipy import integrate, special

from rero.privacy.accounting.base import AccountantUnavailableError, EpsilonResult
from rero.privacy.accounting.pld import (
    PLD_MAX_SINGLE_BINS,
    PLD_TAIL_MASS_TRUNCATION,
    composition_budget_bins,
    fft_length,
    pld_epsilon,
    pld_interval,
)
from rero.privacy.accounting.pld_numerics import (
    epsilon_for_delta,
    log_subsampling_ratio,
    self_compose,
)

FAILURE_FRACTION = 1e-3
"""η, the probability of the event where Hoeffding's bound fails, as a fraction of δ."""
TAIL_SD = 12.0
"""The grid spans the losses of x ∈ [-12σ, 1 + 12σ]: the mass above goes to the top bucket
(rounded down), the mass below (loss below the lowest bucket only at q = 1; < 2e-33 per step)
to the lowest, and the chance that any step lands there counts as a failure."""
MEAN_MARGIN = 1e-12
"""Allowance per step for floating-point error in the rounding mean m, besides ten times the
quadrature's own error estimate."""
BRACKET_TARGET = 5e-3
"""Relative width (upper - lower)/upper that the lower bound's refinement aims at."""
LOWER_REFINEMENT = 4
"""Factor by which each refinement shrinks the lower bound's interval."""
LOWER_MAX_REFINEMENTS = 2
"""Most refinements of the lower bound (its cost grows with each, ~4x)."""


def _remove_loss(x: float, sigma: float, sample_rate: float) -> float:
    """The one-step remove-direction privacy loss ln(1 - q + q·e^u) at output x."""
    log_keep = math.log1p(-sample_rate) if sample_rate < 1 else -math.inf
    return float(np.logaddexp(log_keep, math.log(sample_rate) + (2 * x - 1) / (2 * sigma**2)))


def _output_at_loss(loss: np.ndarray, sigma: float, sample_rate: float) -> np.ndarray:
    """x with L(x) = loss (L is increasing in x); -inf at or below ln(1 - q)."""
    log_keep = math.log1p(-sample_rate) if sample_rate < 1 else -math.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = log_subsampling_ratio(np.asarray(loss, dtype=float), sample_rate)
        return np.where(loss > log_keep, 0.5 + sigma**2 * log_ratio, -np.inf)


def _loss_survival(loss: np.ndarray, sigma: float, sample_rate: float) -> np.ndarray:
    """P(L ≥ loss) under the mixture."""
    x = _output_at_loss(loss, sigma, sample_rate)
    return (1 - sample_rate) * special.ndtr(-x / sigma) + sample_rate * special.ndtr(
        (1 - x) / sigma
    )


def remove_loss_mean(
    sigma: float, sample_rate: float, above: float = -math.inf, below: float = math.inf
) -> tuple[float, float]:
    """E[L·1(above ≤ x < below)] of the one-step remove loss under the mixture (all x: E[L],
    the KL divergence of the mixture from N(0, σ²)), by quadrature over each Gaussian's ±40σ
    (the rest has mass < 1e-300), with the quadrature's error estimate."""
    scale = 1.0 / (sigma * math.sqrt(2 * math.pi))

    def weighted_loss(x: float, centre: float) -> float:
        density = scale * math.exp(-0.5 * ((x - centre) / sigma) ** 2)
        return density * _remove_loss(x, sigma, sample_rate)

    mean = error = 0.0
    for weight, centre in ((1 - sample_rate, 0.0), (sample_rate, 1.0)):
        bottom, top = max(centre - 40 * sigma, above), min(centre + 40 * sigma, below)
        if weight == 0 or top <= bottom:
            continue
        value, estimate = integrate.quad(
            weighted_loss,
            bottom,
            top,
            args=(centre,),
            points=[centre] if bottom < centre < top else None,
            limit=200,
            epsabs=1e-14,
            epsrel=1e-12,
        )
        mean += weight * value
        error += weight * estimate
    return mean, error


def _rounded_pmf(
    sigma: float, sample_rate: float, interval: float
) -> tuple[int, np.ndarray, float, float]:
    """The one-step loss rounded down to the grid of ``TAIL_SD``: (index of the lowest bucket,
    the pmf, a lower bound on E[min(L - L̃, Δ)·1(L ≥ lowest edge)], P(L < lowest edge)).

    The mean leaves out the top bucket and anything below the lowest edge, where
    min(L - L̃, Δ) is replaced by 0 (≤ its value on the top bucket; below, it is the failure)."""
    lowest = math.floor(_remove_loss(-TAIL_SD * sigma, sigma, sample_rate) / interval)
    top_loss = _remove_loss(1 + TAIL_SD * sigma, sigma, sample_rate)
    highest = max(math.floor(top_loss / interval), lowest + 1)
    if highest - lowest + 1 > PLD_MAX_SINGLE_BINS:
        raise AccountantUnavailableError(
            f"rounded one-step PLD needs {highest - lowest + 1:.3g} bins "
            f"(limit {PLD_MAX_SINGLE_BINS:.3g})"
        )
    edges = np.arange(lowest, highest + 1) * interval
    bottom_x, top_x = (float(x) for x in _output_at_loss(edges[[0, -1]], sigma, sample_rate))
    below_grid = float(
        (1 - sample_rate) * special.ndtr(bottom_x / sigma)
        + sample_rate * special.ndtr((bottom_x - 1) / sigma)
    )
    survival = _loss_survival(edges, sigma, sample_rate)
    survival[0] = 1.0 - below_grid
    probs = np.append(survival[:-1] - survival[1:], survival[-1])
    probs[0] += below_grid
    # E[L̃·1(lowest edge ≤ L < top edge)] by summation by parts (no differences of nearly
    # equal numbers)
    rounded_mean = interval * (
        lowest * survival[0] + survival[1:-1].sum() - (highest - 1) * survival[-1]
    )
    loss_mean, quadrature_error = remove_loss_mean(sigma, sample_rate, bottom_x, top_x)
    rounding_mean = loss_mean - rounded_mean - 10 * quadrature_error - MEAN_MARGIN
    return lowest, np.clip(probs, 0.0, None), rounding_mean, below_grid


@lru_cache(maxsize=512)
def concentrated_lower(
    sigma: float, sample_rate: float, steps: int, delta: float, interval: float
) -> float:
    """Lower bound on ε at δ (module docstring): ε̃(δ + η + τ) + max(0, T·m - t), with η
    Hoeffding's failure probability plus T·P(L below the grid). Refused
    (AccountantUnavailableError) when the rounded PLD exceeds the PLD's sizing limits (one step,
    or the composed FFT length) or dp_accounting fails."""
    lowest, probs, rounding_mean, below_grid = _rounded_pmf(sigma, sample_rate, interval)
    length, budget = fft_length(probs, steps), composition_budget_bins()
    if length > budget:
        raise AccountantUnavailableError(
            f"rounded PLD composition needs {length:.3g} bins (budget {budget:.3g}) "
            f"at interval {interval:.3g}"
        )
    hoeffding_failure = FAILURE_FRACTION * delta
    deviation = interval * math.sqrt(steps * math.log(1 / hoeffding_failure) / 2)
    shift = max(0.0, steps * rounding_mean - deviation)
    failure = hoeffding_failure + steps * below_grid
    pmf = pld_pmf.DensePLDPmf(interval, lowest, probs, 0.0, pessimistic_estimate=False)
    try:
        composed = self_compose(pmf, steps, PLD_TAIL_MASS_TRUNCATION)
        with np.errstate(over="ignore"):
            rounded = epsilon_for_delta(composed, delta + failure + PLD_TAIL_MASS_TRUNCATION)
    except (OverflowError, ValueError, FloatingPointError, MemoryError) as error:
        raise AccountantUnavailableError(f"dp_accounting PLD failed: {error}") from error
    if not math.isfinite(rounded):
        raise AccountantUnavailableError("rounded PLD lower bound: no finite epsilon")
    return float(rounded) + shift


def evaluate_pld(
    sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """PLD bracket on ε: the pessimistic PLD's upper bound at the interval of
    :func:`~rero.privacy.accounting.pld.pld_interval` (refusals:
    :func:`~rero.privacy.accounting.pld.pld_epsilon`) and :func:`concentrated_lower` at that
    interval, refined (÷ ``LOWER_REFINEMENT``, at most ``LOWER_MAX_REFINEMENTS`` times, while
    the sizing allows) until the bracket is within ``BRACKET_TARGET`` of the upper bound. Where
    the lower bound is refused at every interval the result has none and the note says why."""
    interval = pld_interval(sample_rate, steps, delta, error)
    upper = pld_epsilon(sigma, sample_rate, steps, delta, interval)
    lower, lower_interval, lower_note = None, interval, ""
    for refinement in range(LOWER_MAX_REFINEMENTS + 1):
        finer = interval / LOWER_REFINEMENT**refinement
        try:
            lower = concentrated_lower(sigma, sample_rate, steps, delta, finer)
        except AccountantUnavailableError as reason:
            lower_note = f"; no lower bound at interval {finer:.3g}: {reason}"
            break
        lower_interval = finer
        if upper - lower <= BRACKET_TARGET * upper:
            break
    if lower is not None:
        lower_note = (
            ", epsilon_lower the rounded-down PLD's lower bound with its rounding given back "
            f"by Hoeffding's inequality (interval {lower_interval:.3g})"
        )
    note = (
        "PLD accountant (dp_accounting; Doroshenko et al. 2022): epsilon is the pessimistic "
        f"(connect-the-dots) PLD's upper bound (interval {interval:.3g})" + lower_note
    )
    return EpsilonResult(upper, lower, "pld", note)
