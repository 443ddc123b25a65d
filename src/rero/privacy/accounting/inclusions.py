"""The small-σ accountant: ε of T steps of the Poisson-subsampled Gaussian bracketed by
conditioning on how many times the example is sampled.

Remove direction (P = T steps of (1-q)·N(0, σ²) + q·N(1, σ²) against Q = N(0, σ²)^T): the privacy
loss is a sum of per-step losses l(x) = ln(1 - q + q·e^u), u = (2x - 1)/(2σ²). Given the set S of
the K ~ Binomial(T, q) steps that include the example,

    L = ln w_K + G_S + R,   ln w_k = k·ln q + (T - k)·ln(1 - q),   G_S = Σ_{i∈S} u_i,

where G_S ~ N(k/(2σ²), k/σ²) is the privacy loss of the Gaussian mechanism with μ = √k/σ and
R ≥ 0 collects ln(1 + ((1-q)/q)·e^{-u}) of the included steps and ln(1 + (q/(1-q))·e^u) of the
others. With δ(ε) = E_P[(1 - e^{ε-L})_+] increasing in L:

- lower bound: R ≥ 0, so δ(ε) ≥ Σ_k P(K=k)·δ_μk(ε - ln w_k);
- upper bound: outside an event of probability η = T·Φ̄(c) every |z_i| ≤ c, where then
  R ≤ Δ = T·max(q/(1-q), (1-q)/q)·exp(c/σ - 1/(2σ²)); so δ(ε) ≤ η + Σ_k P(K=k)·δ_μk(ε - ln w_k - Δ),

with δ_μ(e) = Φ(μ/2 - e/μ) - e^e·Φ(-μ/2 - e/μ) the Gaussian mechanism's hockey-stick divergence
(Balle & Wang, ICML 2018, Thm 8). The add direction's loss is at most -T·ln(1 - q), so its ε is
too. Δ vanishes like exp(-1/(2σ²)) as σ → 0 (there dp_accounting's PLD cannot size its grid and
RDP overstates ε by orders of magnitude); at larger σ the bracket widens and is refused.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special, stats

from rero.privacy.accounting.base import AccountantUnavailableError, EpsilonResult

FAILURE_FRACTION = 1e-4
"""η (the probability outside the event |z_i| ≤ c) and each Binomial tail left out of the sum,
as fractions of δ; the upper bound counts them in full."""
MAX_RELATIVE_GAP = 1e-3
"""Widest bracket (upper - lower)/upper reported; σ too large for this analysis is refused."""
BISECTION_STEPS = 200
"""Most halvings of the ε bracket (each costs one pass over the Binomial support)."""


def _gaussian_delta(mu: np.ndarray, epsilon: np.ndarray) -> np.ndarray:
    """δ_μ(e) of the Gaussian mechanism (Balle & Wang 2018, Thm 8), e ≥ 0, μ > 0, written with
    φ(a)·erfcx so that e^e·Φ(a - μ) = φ(a)·R(a - μ) (R the Mills ratio) never overflows."""
    a = mu / 2 - epsilon / mu
    second = 0.5 * np.exp(-0.5 * a * a) * special.erfcx((mu - a) / math.sqrt(2))
    with np.errstate(over="ignore", invalid="ignore"):
        first = np.where(
            a < 0, 0.5 * np.exp(-0.5 * a * a) * special.erfcx(-a / math.sqrt(2)), special.ndtr(a)
        )
    return np.clip(first - second, 0.0, 1.0)


@lru_cache(maxsize=512)
def inclusions_bracket(
    sigma: float, sample_rate: float, steps: int, delta: float
) -> tuple[float, float]:
    """(lower, upper) on ε at δ by the conditioning above; AccountantUnavailableError when the
    bracket is wider than ``MAX_RELATIVE_GAP`` (σ too large) or the remainder Δ overflows.
    Cost: O(√(Tq)) numbers per evaluation of δ(ε), at most ``BISECTION_STEPS`` evaluations."""
    tail = FAILURE_FRACTION * delta
    cutoff = -special.ndtri(tail / steps)  # c with T·Φ̄(c) = η
    log_remainder = (
        math.log(steps)
        + abs(math.log(sample_rate) - math.log1p(-sample_rate) if sample_rate < 1 else 0.0)
        + cutoff / sigma
        - 1 / (2 * sigma**2)
    )
    if sample_rate == 1:
        log_remainder = -math.inf  # every step includes the example: R = 0
    if log_remainder > 700:
        raise AccountantUnavailableError(
            f"inclusions: sigma={sigma:.3g} is too large for the small-sigma analysis "
            f"(its remainder exp({log_remainder:.3g}) overflows)"
        )
    remainder = math.exp(log_remainder)
    binomial = stats.binom(steps, sample_rate)
    first, last = int(binomial.ppf(tail)), int(binomial.isf(tail))
    counts = np.arange(max(first, 1), last + 1, dtype=float)  # K = 0 is handled on its own
    weights = binomial.pmf(counts)
    log_w = counts * math.log(sample_rate)
    if sample_rate < 1:
        log_w = log_w + (steps - counts) * math.log1p(-sample_rate)
    mu = np.sqrt(counts) / sigma
    left_out = binomial.cdf(first - 1) + binomial.sf(last)
    never = float(binomial.pmf(0)) if first <= 0 else 0.0
    log_w_never = steps * math.log1p(-sample_rate) if sample_rate < 1 else -math.inf

    def delta_lower(epsilon: float) -> float:
        return float(weights @ _gaussian_delta(mu, epsilon - log_w))

    def delta_upper(epsilon: float) -> float:
        shifted = np.maximum(epsilon - log_w - remainder, 0.0)
        # K = 0: L = ln w_0 + R, so δ ≤ P(K=0)·(1 - e^{ε - ln w_0 - Δ})_+
        exponent = epsilon - log_w_never - remainder
        unsampled = never * -math.expm1(exponent) if exponent < 0 else 0.0
        return tail + left_out + unsampled + float(weights @ _gaussian_delta(mu, shifted))

    lower = _smallest_epsilon(delta_lower, delta, sigma, last, round_up=False)
    upper = _smallest_epsilon(delta_upper, delta, sigma, last, round_up=True)
    # q = 1 is the Gaussian mechanism, symmetric: the add direction has the same ε.
    add_direction = -steps * math.log1p(-sample_rate) if sample_rate < 1 else 0.0
    upper = max(upper, add_direction)
    if not upper - lower <= MAX_RELATIVE_GAP * upper:
        raise AccountantUnavailableError(
            f"inclusions: bracket [{lower:.6g}, {upper:.6g}] wider than "
            f"{MAX_RELATIVE_GAP:.0e} relative (sigma={sigma:.3g} too large for the small-sigma "
            "analysis, or epsilon below the add direction's bound -T·ln(1-q))"
        )
    return lower, upper


def _smallest_epsilon(delta_at, delta: float, sigma: float, most: int, round_up: bool) -> float:
    """The least ε ≥ 0 with delta_at(ε) ≤ δ (delta_at decreasing) by bisection to 1e-12
    relative: the upper end when ``round_up``, else the lower end (a lower bound on it)."""
    low, high = 0.0, most / (2 * sigma**2) + 40 * math.sqrt(most) / sigma + 1.0
    if delta_at(low) <= delta:
        return 0.0
    for _ in range(BISECTION_STEPS):
        if delta_at(high) <= delta:
            break
        low, high = high, 2 * high
    else:
        raise AccountantUnavailableError("inclusions: no epsilon brings delta(epsilon) to delta")
    for _ in range(BISECTION_STEPS):
        if high - low <= 1e-12 * high:
            break
        middle = 0.5 * (low + high)
        if delta_at(middle) > delta:
            low = middle
        else:
            high = middle
    return high if round_up else low


def asymptotic_sigma(target: float, sample_rate: float, steps: int, delta: float) -> float:
    """σ ≈ √(k/(2ε)) with k the (1 - δ) quantile of Binomial(T, q): where the small-σ ε is
    about ``target`` (the start of the σ search; the RDP σ is far too large here)."""
    inclusions = max(1.0, float(stats.binom.isf(delta, steps, sample_rate)))
    return math.sqrt(inclusions / (2 * target))


def evaluate_inclusions(
    sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """The bracket of :func:`inclusions_bracket` (``error`` is not used: the bracket is what it
    is, at most ``MAX_RELATIVE_GAP`` wide)."""
    del error
    lower, upper = inclusions_bracket(sigma, sample_rate, steps, delta)
    note = (
        "small-sigma accountant (conditioning on the number of inclusions K ~ Binomial(T, q), "
        "Gaussian mechanism per K; Balle & Wang 2018): epsilon is an upper bound, epsilon_lower "
        "a lower bound"
    )
    return EpsilonResult(upper, lower, "inclusions", note)
