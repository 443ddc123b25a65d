"""Closed forms for reconstruction success gamma, and the argument checks every method shares.

For f-DP training, gamma <= 1 - f(kappa) (Hayes, Mahloujifar, Balle 2023; Kaissis, Hayes, Ziller,
Rueckert 2023). One subsampled Gaussian step is f_p = p G_{1/sigma} + (1-p) Id (Dong, Roth, Su
2022, "Gaussian differential privacy", JRSS-B), and mu-GDP gives gamma = Phi(Phi^-1(kappa) + mu)
(Kaissis et al. 2023).
"""

from __future__ import annotations

import math
import numbers

from scipy import special


def validate_arguments(sigma: float, sample_rate: float, steps: int, kappa: float) -> None:
    """ValueError naming the argument unless 0 < kappa < 1, 0 < p <= 1, T >= 1 int, sigma >= 0."""
    if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real) or not 0 < kappa < 1:
        raise ValueError(f"kappa must be a number in (0, 1), got {kappa!r}")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Real)
        or not 0 < sample_rate <= 1
    ):
        raise ValueError(f"sample_rate must be a number in (0, 1], got {sample_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not math.isfinite(sigma)
        or sigma < 0
    ):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")


def gdp_rero(kappa: float, mu: float) -> float:
    """gamma for mu-GDP: 1 - G_mu(kappa) = Phi(Phi^-1(kappa) + mu) (Kaissis et al. 2023)."""
    return float(special.ndtr(special.ndtri(kappa) + mu))


def noise_free_rero(kappa: float, sample_rate: float, steps: int) -> float:
    """gamma as sigma -> 0: the target is detected iff sampled at least once, 1 - (1-k)(1-p)^T."""
    if sample_rate == 1:
        return 1.0
    return float(-math.expm1(math.log1p(-kappa) + steps * math.log1p(-sample_rate)))


def single_step_rero(kappa: float, sigma: float, sample_rate: float) -> float:
    """gamma for one subsampled Gaussian step: (1-p) kappa + p Phi(Phi^-1(kappa) + 1/sigma)."""
    return (1 - sample_rate) * kappa + sample_rate * gdp_rero(kappa, 1 / sigma)


def rero_ceiling(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> float:
    """Universal upper bound min(1 - (1-k)(1-p)^T, Phi(Phi^-1(k) + sqrt(T)/sigma)).

    The first ignores the noise (f_p >= (1-p)(1-a)), the second the subsampling
    (f_p >= G_{1/sigma}); both survive composition because the tensor product is monotone.
    """
    ceiling = noise_free_rero(kappa, sample_rate, steps)
    if sigma > 0:
        ceiling = min(ceiling, gdp_rero(kappa, math.sqrt(steps) / sigma))
    return ceiling
