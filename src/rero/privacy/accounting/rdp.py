"""The RDP accountant: Rényi DP of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang
2019) converted to (ε, δ) by Prop. 12 of Canonne, Kamath & Steinke 2020. Always computable and
cheap; loose at large ε."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from prv_accountant.privacy_random_variables import PoissonSubsampledGaussianMechanism
from scipy import special

from rero.privacy.accounting.base import SMALLEST_SIGMA
from rero.privacy.rdp_conversion import RDP_ORDERS

RDP_NOTE = (
    "RDP accountant (Mironov, Talwar & Zhang 2019; orders 1.1-1024): epsilon is an upper bound, "
    "loose at large epsilon"
)


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
            + (k * k - k) / (2 * sigma**2 if sigma < 1e150 else math.inf)  # σ² overflows above
        )
    return special.logsumexp(np.where(inside, log_terms, -np.inf), axis=1)


@lru_cache(maxsize=4096)
def rdp_epsilon(sigma: float, sample_rate: float, steps: int, delta: float) -> float:
    """RDP upper bound on ε (add/remove relation) at :data:`RDP_ORDERS`; never refuses.

    Rényi divergence of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang 2019): integer
    orders by the binomial sum above, fractional ones by prv-accountant's series (the Opacus /
    TF-Privacy algorithm; dp_accounting 0.6.0's variant overestimates some fractional orders).
    Conversion to (ε, δ): Canonne, Kamath & Steinke 2020, Prop. 12 (also Opacus' formula).
    σ below ``SMALLEST_SIGMA`` gives inf (no finite bound computed; the series would not end).
    """
    if sigma < SMALLEST_SIGMA:
        return math.inf
    mechanism = PoissonSubsampledGaussianMechanism(
        sampling_probability=sample_rate, noise_multiplier=sigma
    )
    orders = np.array(RDP_ORDERS, dtype=float)
    if sample_rate == 1:
        rdp = orders / (2 * sigma**2)
    else:
        integer = np.array([order.is_integer() for order in orders])
        rdp = np.empty_like(orders)
        rdp[integer] = _log_moments_integer_orders(sigma, sample_rate, orders[integer]) / (
            orders[integer] - 1
        )
        rdp[~integer] = [float(mechanism.rdp(order)) for order in orders[~integer]]
    epsilons = steps * rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)
    return float(max(np.nanmin(epsilons), 0.0))
