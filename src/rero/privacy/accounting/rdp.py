"""The RDP accountant: Rényi DP of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang
2019) converted to (ε, δ) by Prop. 12 of Canonne, Kamath & Steinke 2020. Always computable and
cheap; loose at large ε."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special

from rero.privacy.accounting.base import SMALLEST_SIGMA
from rero.privacy.accounting.rdp_conversion import RDP_ORDERS

RDP_NOTE = (
    "RDP accountant (Mironov, Talwar & Zhang 2019; orders 1.1-1024): epsilon is an upper bound, "
    "loose at large epsilon"
)
SERIES_STOP = -30.0
"""A fractional order's series ends after its first term pair with both log terms below this
(the TF-Privacy / Opacus criterion)."""
SERIES_MAX_TERMS = 1 << 20
"""Terms summed per fractional order at most; an order whose series is longer is dropped
(its RDP counts as inf, which no minimum over orders picks)."""
_SERIES_MAX_BLOCK = 8192


def _variance(sigma: float) -> float:
    return sigma**2 if sigma < 1e150 else math.inf  # σ² overflows above


def _log_moments_integer_orders(sigma: float, sample_rate: float, orders: np.ndarray) -> np.ndarray:
    """log A_α for integer orders α at once: A_α = Σ_k C(α,k) (1-q)^(α-k) q^k exp((k²-k)/(2σ²))
    (MTZ 2019, §3.3); terms with k > α are -inf."""
    k = np.arange(int(orders.max()) + 1, dtype=float)[None, :]
    alpha = orders[:, None]
    inside = k <= alpha
    with np.errstate(invalid="ignore", divide="ignore"):
        log_terms = (
            special.gammaln(alpha + 1)
            - special.gammaln(k + 1)
            - special.gammaln(np.where(inside, alpha - k, 0) + 1)
            + k * math.log(sample_rate)
            + np.where(inside, alpha - k, 0) * math.log1p(-sample_rate)
            + (k * k - k) / (2 * _variance(sigma))
        )
    return special.logsumexp(np.where(inside, log_terms, -np.inf), axis=1)


def _series_log_terms(
    log_coef: np.ndarray,
    power_q: np.ndarray,
    power_keep: np.ndarray,
    tail: np.ndarray,
    sigma: float,
    sample_rate: float,
) -> np.ndarray:
    """log of |C(α,i)| q^a (1-q)^b e^((a²-a)/(2σ²)) Φ(tail/σ): one half of a series term
    (a, b = i, j below z₀; j, i above)."""
    return (
        log_coef
        + power_q * math.log(sample_rate)
        + power_keep * math.log1p(-sample_rate)
        + (power_q * power_q - power_q) / (2 * _variance(sigma))
        + special.log_ndtr(tail / sigma)
    )


def _log_moments_fractional_orders(
    sigma: float, sample_rate: float, orders: np.ndarray
) -> np.ndarray:
    """log A_α for fractional orders α at once, by the series of MTZ 2019 (§3.3): the integrals
    of A_α over (-∞, z₀] and [z₀, ∞), z₀ = σ² ln(1/q - 1) + 1/2, expanded in the generalised
    binomial series; term i (mirror j = α - i) is
        C(α,i) q^i (1-q)^j e^((i²-i)/(2σ²)) Φ((z₀-i)/σ)
        + C(α,i) q^j (1-q)^i e^((j²-j)/(2σ²)) Φ((j-z₀)/σ),
    summed with the sign of C(α,i) until :data:`SERIES_STOP`. The terms are evaluated in blocks
    over all orders still running; an order past :data:`SERIES_MAX_TERMS` gives inf."""
    variance = _variance(sigma)
    log_odds = math.log(1 / sample_rate - 1)
    z0 = 0.5 + (variance * log_odds if log_odds else 0.0)  # q = 1/2: z₀ = 1/2 however large σ
    log_sum = np.full(orders.shape, -np.inf)
    sign_sum = np.ones(orders.shape)
    running = np.arange(len(orders))
    start, block = 0, 32
    while running.size and start < SERIES_MAX_TERMS:
        i = np.arange(start, start + block, dtype=float)[None, :]
        alpha = orders[running][:, None]
        j = alpha - i
        coef = special.binom(alpha, i)
        log_coef = np.log(np.abs(coef))

        with np.errstate(invalid="ignore"):
            log_low = _series_log_terms(log_coef, i, j, z0 - i, sigma, sample_rate)
            log_high = _series_log_terms(log_coef, j, i, j - z0, sigma, sample_rate)
        small = np.maximum(log_low, log_high) < SERIES_STOP
        ended = small.any(axis=1)
        last = np.where(ended, small.argmax(axis=1), block)
        past_end = np.arange(block)[None, :] > last[:, None]
        sign = np.sign(coef)
        log_sum[running], sign_sum[running] = special.logsumexp(
            np.concatenate(
                [
                    np.where(past_end, -np.inf, log_low),
                    np.where(past_end, -np.inf, log_high),
                    log_sum[running, None],
                ],
                axis=1,
            ),
            axis=1,
            b=np.concatenate([sign, sign, sign_sum[running, None]], axis=1),
            return_sign=True,
        )
        running = running[~ended]
        start += block
        block = min(2 * block, _SERIES_MAX_BLOCK)
    log_sum[running] = math.inf
    return log_sum


@lru_cache(maxsize=4096)
def rdp_epsilon(sigma: float, sample_rate: float, steps: int, delta: float) -> float:
    """RDP upper bound on ε (add/remove relation) at :data:`RDP_ORDERS`; never refuses.

    Rényi divergence of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang 2019): integer
    orders by the binomial sum, fractional ones by the two-sided series (the Opacus /
    TF-Privacy algorithm; dp_accounting 0.6.0's variant overestimates some fractional orders),
    floored at 0 (a Rényi divergence is non-negative; the series' rounding can dip below).
    Conversion to (ε, δ): Canonne, Kamath & Steinke 2020, Prop. 12 (also Opacus' formula).
    σ below ``SMALLEST_SIGMA`` gives inf (no finite bound computed).
    """
    if sigma < SMALLEST_SIGMA:
        return math.inf
    orders = np.array(RDP_ORDERS, dtype=float)
    if sample_rate == 1:
        rdp = orders / (2 * _variance(sigma))
    else:
        integer = np.array([order.is_integer() for order in orders])
        log_moments = np.empty_like(orders)
        log_moments[integer] = _log_moments_integer_orders(sigma, sample_rate, orders[integer])
        log_moments[~integer] = _log_moments_fractional_orders(sigma, sample_rate, orders[~integer])
        rdp = np.maximum(log_moments, 0.0) / (orders - 1)
    epsilons = steps * rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)
    return float(max(np.nanmin(epsilons), 0.0))
