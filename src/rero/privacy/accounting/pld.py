"""The PLD accountant: dp_accounting's privacy-loss distribution with connect-the-dots
discretisation (Doroshenko et al., PETS 2022), sized before it runs. The pessimistic PLD
dominates the mechanism's (its ε is an upper bound) and the optimistic one is dominated by it
(a lower bound), whatever the interval: the bracket is certified, its width is the
discretisation error."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import privacy_loss_distribution, privacy_loss_mechanism
from scipy import fft, stats

from rero.privacy.accounting.base import (
    MEMORY_BUDGET_BYTES,
    AccountantUnavailableError,
    EpsilonResult,
)

PLD_BYTES_PER_BIN = 96
"""Peak bytes per PLD bin during FFT self-composition (measured 70)."""
PLD_MAX_BINS = 4_000_000
"""Largest PLD composition run (~400 MB and ~6 s on one core)."""
PLD_MAX_SINGLE_BINS = 1_000_000
"""Largest one-step PLD (~2.5 s to build); the composed one is longer except for very few steps."""
PLD_SIZING_BINS = 20_000
"""Bins of the coarse one-step PLD used to predict the composed size."""
PLD_MAX_INTERVAL = 500.0
"""Largest PLD discretisation interval: dp_accounting evaluates expm1(interval) (overflow > 709).
Above it the interval stops growing with ε, so the bin count grows with ε."""
BRACKET_TARGET = 5e-3
"""Relative width (upper - lower)/upper that the optimistic PLD's refinement aims at."""
OPTIMISTIC_REFINEMENT = 4
"""Factor by which each refinement shrinks the optimistic PLD's interval."""
OPTIMISTIC_MAX_REFINEMENTS = 2
"""Most refinements of the optimistic PLD (its cost grows with each, ~4x)."""
PLD_TAIL_MASS_TRUNCATION = 1e-15
"""dp_accounting's default tail truncation in self-composition (used to size it beforehand)."""

PldDistribution = privacy_loss_distribution.PrivacyLossDistribution


def _pld_single_step_bins(sigma: float, sample_rate: float, interval: float) -> float:
    """Bins of the one-step PLD (add and remove), from the losses at dp_accounting's x cut-offs."""
    total = 0.0
    for adjacency in (
        privacy_loss_mechanism.AdjacencyType.REMOVE,
        privacy_loss_mechanism.AdjacencyType.ADD,
    ):
        loss = privacy_loss_mechanism.GaussianPrivacyLoss(
            sigma, sampling_prob=sample_rate, adjacency_type=adjacency
        )
        tail = loss.privacy_loss_tail()
        spread = loss.privacy_loss(tail.lower_x_truncation) - loss.privacy_loss(
            tail.upper_x_truncation
        )
        total += abs(spread) / interval + 1
    return total


def _gaussian_pld(
    sigma: float, sample_rate: float, interval: float, pessimistic: bool = True
) -> PldDistribution:
    """One step of the Poisson-subsampled Gaussian as a pessimistic (or optimistic) PLD."""
    return privacy_loss_distribution.from_gaussian_mechanism(
        standard_deviation=sigma,
        sampling_prob=sample_rate,
        value_discretization_interval=interval,
        pessimistic_estimate=pessimistic,
        use_connect_dots=pessimistic,  # optimistic: privacy buckets (dp_accounting's only one)
    )


def _pld_composed_bins(pld: PldDistribution, steps: int) -> int:
    """FFT length dp_accounting 0.6.0 will use to self-compose each one-step pmf T times.

    Reads the one-step pmfs (``_pmf_remove``/``_pmf_add``, internals of the pinned version) and
    applies dp_accounting's own Chernoff truncation bounds, without composing anything.
    """
    pmfs = {id(pmf): pmf for pmf in (pld._pmf_remove, pld._pmf_add)}
    total = 0
    for pmf in pmfs.values():
        probs = pmf.to_dense_pmf()._probs
        lower, upper = pld_common.compute_self_convolve_bounds(
            probs, steps, PLD_TAIL_MASS_TRUNCATION
        )
        total += fft.next_fast_len(max(upper - lower + 1, len(probs)))
    return total


def composed_pld(
    sigma: float, sample_rate: float, steps: int, interval: float, pessimistic: bool = True
) -> PldDistribution:
    """The T-fold composition of the one-step PLD (pessimistic: dominates the mechanism's;
    optimistic: dominated by it), sized first. AccountantUnavailableError, at a cost of
    milliseconds, when:

    1. the one-step PLD (bin count in closed form) needs more than ``PLD_MAX_SINGLE_BINS`` bins;
    2. the composed FFT length, predicted from a one-step PLD of at most ``PLD_SIZING_BINS``
       bins (the composed loss range barely depends on the interval), exceeds
       min(``PLD_MAX_BINS``, ``MEMORY_BUDGET_BYTES`` / ``PLD_BYTES_PER_BIN``);
    3. dp_accounting fails.
    """
    budget_bins = min(PLD_MAX_BINS, MEMORY_BUDGET_BYTES / PLD_BYTES_PER_BIN)
    single_bins = _pld_single_step_bins(sigma, sample_rate, interval)
    if single_bins > PLD_MAX_SINGLE_BINS:
        raise AccountantUnavailableError(
            f"one-step PLD needs {single_bins:.3g} bins (limit {PLD_MAX_SINGLE_BINS:.3g})"
        )
    sizing_interval = min(interval * max(1.0, single_bins / PLD_SIZING_BINS), PLD_MAX_INTERVAL)
    sizing_pld = _gaussian_pld(sigma, sample_rate, sizing_interval)
    composed_bins = _pld_composed_bins(sizing_pld, steps) * sizing_interval / interval
    if composed_bins > budget_bins:
        raise AccountantUnavailableError(
            f"PLD composition needs {composed_bins:.3g} bins (budget {budget_bins:.3g}) "
            f"at interval {interval:.3g}"
        )
    if pessimistic and sizing_interval == interval:
        pld = sizing_pld
    else:
        pld = _gaussian_pld(sigma, sample_rate, interval, pessimistic)
    try:
        return pld.self_compose(steps, PLD_TAIL_MASS_TRUNCATION)
    except (OverflowError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"dp_accounting PLD failed: {error}") from error


@lru_cache(maxsize=512)
def pld_epsilon(
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    interval: float,
    pessimistic: bool = True,
) -> float:
    """PLD bound on ε (max over add and remove) of :func:`composed_pld`: the pessimistic PLD's
    ε is an upper bound, the optimistic one's, at δ + the truncated tail mass that dp_accounting
    books as an infinite loss, a lower bound. Refused (AccountantUnavailableError) where
    :func:`composed_pld` is, or when the probability of an infinite loss exceeds δ
    (:func:`_pld_epsilon_by_bisection`).
    """
    composed = composed_pld(sigma, sample_rate, steps, interval, pessimistic)
    target = delta if pessimistic else delta + PLD_TAIL_MASS_TRUNCATION
    try:
        with np.errstate(over="ignore"):
            epsilon = composed.get_epsilon_for_delta(target)
        if math.isinf(epsilon):
            epsilon = _pld_epsilon_by_bisection(composed, target)
    except (OverflowError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"dp_accounting PLD failed: {error}") from error
    return float(epsilon)


def _pld_epsilon_by_bisection(composed: PldDistribution, delta: float) -> float:
    """Smallest ε (to 1e-12 relative, rounded up) with δ(ε) ≤ δ, from the stable δ(ε) formula;
    AccountantUnavailableError when δ(∞), the mass of an infinite loss, already exceeds δ.

    dp_accounting's ε-for-δ search divides by Σ p·e^(-loss), which underflows when ε is near
    709-745 and then returns inf; its δ(ε) = Σ p·(1 - e^(ε - loss)) has no such problem.
    """
    if composed.get_delta_for_epsilon(math.inf) > delta:
        raise AccountantUnavailableError(
            "PLD: the probability of an infinite privacy loss exceeds delta"
        )
    low, high = 0.0, 1.0
    while composed.get_delta_for_epsilon(high) > delta:
        low, high = high, 2 * high
    while high - low > 1e-12 * high:
        middle = 0.5 * (low + high)
        if composed.get_delta_for_epsilon(middle) > delta:
            low = middle
        else:
            high = middle
    return high


@lru_cache(maxsize=256)
def _inclusions_at_delta(sample_rate: float, steps: int, delta: float) -> int:
    """The (1-δ) quantile k of Binomial(T, q): how often the example is used in the runs that
    decide ε at δ. Pessimistic PLD rounding adds up to one interval per use, so the PLD interval
    is the allowed ε error divided by k (measured excess: about k/2 intervals)."""
    return max(1, int(stats.binom.isf(delta, steps, sample_rate)))


def pld_interval(sample_rate: float, steps: int, delta: float, error: float) -> float:
    """The PLD interval for an ε excess of about ``error``: error / k (at most
    ``PLD_MAX_INTERVAL``), k from :func:`_inclusions_at_delta`."""
    return min(error / _inclusions_at_delta(sample_rate, steps, delta), PLD_MAX_INTERVAL)


def pld_upper(sigma: float, sample_rate: float, steps: int, delta: float, error: float) -> float:
    """The pessimistic PLD's upper bound on ε, excess about ``error`` (:func:`pld_epsilon`)."""
    return pld_epsilon(
        sigma, sample_rate, steps, delta, pld_interval(sample_rate, steps, delta, error)
    )


def evaluate_pld(
    sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """PLD bracket on ε: the pessimistic PLD's upper bound at the interval of
    :func:`pld_interval` and the optimistic PLD's lower bound. The optimistic (privacy-buckets)
    rounding loses up to one interval per step, T in all, so its interval is refined
    (÷ ``OPTIMISTIC_REFINEMENT``, at most ``OPTIMISTIC_MAX_REFINEMENTS`` times, while the sizing
    allows) until the bracket is within ``BRACKET_TARGET`` of the upper bound; refusals of the
    upper bound: :func:`pld_epsilon`."""
    interval = pld_interval(sample_rate, steps, delta, error)
    upper = pld_epsilon(sigma, sample_rate, steps, delta, interval)
    lower_interval = interval
    lower = pld_epsilon(sigma, sample_rate, steps, delta, interval, pessimistic=False)
    for _ in range(OPTIMISTIC_MAX_REFINEMENTS):
        if upper - lower <= BRACKET_TARGET * upper:
            break
        try:
            finer = lower_interval / OPTIMISTIC_REFINEMENT
            lower = pld_epsilon(sigma, sample_rate, steps, delta, finer, pessimistic=False)
            lower_interval = finer
        except AccountantUnavailableError:
            break
    note = (
        "PLD accountant (dp_accounting; Doroshenko et al. 2022): epsilon is the pessimistic "
        f"(connect-the-dots) PLD's upper bound (interval {interval:.3g}), epsilon_lower the "
        f"optimistic (privacy-buckets) PLD's lower bound (interval {lower_interval:.3g})"
    )
    return EpsilonResult(upper, lower, "pld", note)
