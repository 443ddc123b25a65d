"""The RDP accountant: Rényi DP of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang
2019) converted to (ε, δ) by Prop. 12 of Canonne, Kamath & Steinke 2020. Always computable and
cheap; loose at large ε."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from prv_accountant.privacy_random_variables import PoissonSubsampledGaussianMechanism
from scipy import special

from rero.privacy.rdp_conversion import RDP_ORDERS

RDP_NOTE = (
    "RDP accountant (Mironov, Talwar & Zhang 2019; orders 1.1-1024): epsilon is an upper bound, "
    "loose at large epsilon"
)


def _log_moment_integer_order(sigma: float, sample_rate: float, order: int) -> float:
    """log A_α, integer α: A_α = Σ_k C(α,k) (1-q)^(α-k) q^k exp((k²-k)/(2σ²)) (MTZ 2019, §3.3)."""
    k = np.arange(order + 1, dtype=float)
    log_terms = (
        special.gammaln(order + 1)
        - special.gammaln(k + 1)
        - special.gammaln(order - k + 1)
        + k * math.log(sample_rate)
        + (order - k) * math.log1p(-sample_rate)
        + (k * k - k) / (2 * sigma**2 if sigma < 1e150 else math.inf)  # σ² overflows above
    )
    return float(special.logsumexp(log_terms))


@lru_cache(maxsize=4096)
def rdp_epsilon(sigma: float, sample_rate: float, steps: int, delta: float) -> float:
    """RDP upper bound on ε (add/remove relation) at :data:`RDP_ORDERS`; never refuses.

    Rényi divergence of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang 2019): integer
    orders by the binomial sum above, fractional ones by prv-accountant's series (the Opacus /
    TF-Privacy algorithm; dp_accounting 0.6.0's variant overestimates some fractional orders).
    Conversion to (ε, δ): Canonne, Kamath & Steinke 2020, Prop. 12 (also Opacus' formula).
    """
    mechanism = PoissonSubsampledGaussianMechanism(
        sampling_probability=sample_rate, noise_multiplier=sigma
    )
    orders = np.array(RDP_ORDERS, dtype=float)
    if sample_rate == 1:
        rdp = orders / (2 * sigma**2)
    else:
        rdp = np.array(
            [
                _log_moment_integer_order(sigma, sample_rate, int(order)) / (order - 1)
                if order.is_integer()
                else float(mechanism.rdp(order))
                for order in orders
            ]
        )
    epsilons = steps * rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)
    return float(max(np.nanmin(epsilons), 0.0))
