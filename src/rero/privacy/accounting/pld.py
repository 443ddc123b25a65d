"""The PLD accountant's upper bound: dp_accounting's privacy-loss distribution with
connect-the-dots discretisation (Doroshenko et al., PETS 2022), sized before it runs. The
pessimistic PLD dominates the mechanism's, so its ε is an upper bound whatever the interval; the
lower bound of the bracket is in :mod:`.pld_bracket`."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from dp_accounting.pld import privacy_loss_distribution, privacy_loss_mechanism
from scipy import stats

from rero.privacy.accounting.base import (
    MEMORY_BUDGET_BYTES,
    AccountantUnavailableError,
)
from rero.privacy.accounting.pld_numerics import (
    dense_pmfs,
    gaussian_pld,
    pld_epsilon_for_delta,
    self_compose_pld,
    self_convolution_length,
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


def composition_budget_bins() -> float:
    """Largest FFT length one composition may use: min(``PLD_MAX_BINS``,
    ``MEMORY_BUDGET_BYTES`` / ``PLD_BYTES_PER_BIN``)."""
    return min(PLD_MAX_BINS, MEMORY_BUDGET_BYTES / PLD_BYTES_PER_BIN)


def fft_length(probs: np.ndarray, steps: int) -> int:
    """FFT length of self-composing the one-step pmf ``probs`` T times (dp_accounting's Chernoff
    truncation bounds, :func:`~.pld_numerics.self_convolution_length`), composing nothing."""
    return self_convolution_length(probs, steps, PLD_TAIL_MASS_TRUNCATION)


def _pld_composed_bins(pld: PldDistribution, steps: int) -> int:
    """FFT length of composing the one-step pmfs of ``pld`` (:func:`dense_pmfs`) T times."""
    return sum(fft_length(pmf._probs, steps) for pmf in dense_pmfs(pld))


def composed_pld(sigma: float, sample_rate: float, steps: int, interval: float) -> PldDistribution:
    """The T-fold composition of the pessimistic one-step PLD (it dominates the mechanism's),
    sized first. AccountantUnavailableError, at a cost of
    milliseconds, when:

    1. the one-step PLD (bin count in closed form) needs more than ``PLD_MAX_SINGLE_BINS`` bins;
    2. the composed FFT length, predicted from a one-step PLD of at most ``PLD_SIZING_BINS``
       bins (the composed loss range barely depends on the interval), exceeds
       :func:`composition_budget_bins`;
    3. dp_accounting fails.
    """
    budget_bins = composition_budget_bins()
    single_bins = _pld_single_step_bins(sigma, sample_rate, interval)
    if single_bins > PLD_MAX_SINGLE_BINS:
        raise AccountantUnavailableError(
            f"one-step PLD needs {single_bins:.3g} bins (limit {PLD_MAX_SINGLE_BINS:.3g})"
        )
    sizing_interval = min(interval * max(1.0, single_bins / PLD_SIZING_BINS), PLD_MAX_INTERVAL)
    sizing_pld = gaussian_pld(sigma, sample_rate, sizing_interval)
    composed_bins = _pld_composed_bins(sizing_pld, steps) * sizing_interval / interval
    if composed_bins > budget_bins:
        raise AccountantUnavailableError(
            f"PLD composition needs {composed_bins:.3g} bins (budget {budget_bins:.3g}) "
            f"at interval {interval:.3g}"
        )
    pld = sizing_pld if sizing_interval == interval else gaussian_pld(sigma, sample_rate, interval)
    try:
        return self_compose_pld(pld, steps, PLD_TAIL_MASS_TRUNCATION)
    except (OverflowError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"dp_accounting PLD failed: {error}") from error


@lru_cache(maxsize=512)
def pld_epsilon(
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    interval: float,
) -> float:
    """Upper bound on ε (max over add and remove) from :func:`composed_pld`. Refused
    (AccountantUnavailableError) where :func:`composed_pld` is, or when the probability of an
    infinite loss exceeds δ (:func:`_pld_epsilon_by_bisection`).
    """
    composed = composed_pld(sigma, sample_rate, steps, interval)
    try:
        with np.errstate(over="ignore"):
            epsilon = pld_epsilon_for_delta(composed, delta)
        if math.isinf(epsilon):
            epsilon = _pld_epsilon_by_bisection(composed, delta)
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
