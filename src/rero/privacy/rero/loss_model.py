"""One step of DP-SGD's worst-case privacy-loss pair, in units of the noise standard deviation.

DP-SGD's worst case reduces to one dimension (clip norm normalised to 1; Hayes, Mahloujifar,
Balle 2023): null N(0, 1), alternative (1-p) N(0, 1) + p N(mu, 1) with mu = 1/sigma. The relaxed
adversary sees only the squared statistic (GLRT; Kaissis, Ziller, Kolek, Riess, Rueckert 2023).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special


def _log_normal_interval(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """log P(lower <= Z < upper) for standard normal Z, accurate in both tails (elementwise)."""
    lower, upper = np.broadcast_arrays(np.asarray(lower, float), np.asarray(upper, float))
    out = np.full(lower.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        right = (lower >= 0) & (upper > lower)  # both in the upper half: difference of Q's
        log_q_lo, log_q_hi = special.log_ndtr(-lower[right]), special.log_ndtr(-upper[right])
        out[right] = log_q_lo + np.log(-np.expm1(log_q_hi - log_q_lo))
        left = (upper <= 0) & (upper > lower)  # both in the lower half: difference of Phi's
        log_p_hi, log_p_lo = special.log_ndtr(upper[left]), special.log_ndtr(lower[left])
        out[left] = log_p_hi + np.log(-np.expm1(log_p_lo - log_p_hi))
        middle = (lower < 0) & (upper > 0)  # straddles 0: erf is accurate near the origin
        out[middle] = np.log(
            0.5
            * (
                special.erf(upper[middle] / math.sqrt(2))
                - special.erf(lower[middle] / math.sqrt(2))
            )
        )
    return out


@dataclass(frozen=True)
class PrivacyLossModel:
    """One DP-SGD step seen by the adversary, noise standardised: null N(0,1), alternative
    (1-p) N(0,1) + p N(mu,1) with mu = 1/sigma (Hayes et al. 2023).

    ``squared=False``: the adversary sees x (worst case); loss ln(1 - p + p e^{mu x - mu^2/2}),
    statistic t = x. ``squared=True``: only x^2 is seen (GLRT relaxation, Kaissis et al. 2023);
    loss ln(1 - p + p e^{-mu^2/2} cosh(mu x)), statistic t = |x|. The loss is increasing in t.
    """

    mu: float
    p: float
    squared: bool = False

    def exponent(self, statistic: np.ndarray) -> np.ndarray:
        """z = ln(sampled density / null density) at the statistic, accurate for tiny mu too."""
        t = np.asarray(statistic, float)
        if not self.squared:
            return self.mu * t - self.mu**2 / 2
        a = np.abs(self.mu * t)
        small = np.log1p(2 * np.sinh(np.minimum(a, 1.0) / 2) ** 2)  # ln cosh, no cancellation
        large = a + np.log1p(np.exp(-2 * a)) - math.log(2)
        return np.where(a < 1, small, large) - self.mu**2 / 2

    def loss(self, statistic: np.ndarray) -> np.ndarray:
        """Privacy loss ln(1 - p + p e^z) = ln(1 + p (e^z - 1)) at the statistic."""
        z = self.exponent(statistic)
        if self.p == 1:
            return z
        with np.errstate(over="ignore", invalid="ignore"):
            near = np.log1p(self.p * np.expm1(np.minimum(z, 30.0)))
            far = np.logaddexp(math.log1p(-self.p), math.log(self.p) + z)
        return np.where(z < 30, near, far)

    def threshold(self, eps: np.ndarray) -> np.ndarray:
        """The statistic where the loss equals eps (-inf / 0 below the lowest loss)."""
        eps = np.asarray(eps, float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.p == 1:
                z = eps
            else:  # z = ln(1 + (e^eps - 1) / p), -inf where e^eps <= 1 - p
                near = np.log1p(np.expm1(np.minimum(eps, 30.0)) / self.p)
                far = eps + np.log1p(-(1 - self.p) * np.exp(-eps)) - math.log(self.p)
                z = np.where(eps < 30, near, far)
                z = np.where(np.isnan(z), -np.inf, z)
            if not self.squared:
                return (z + self.mu**2 / 2) / self.mu
            w = z + self.mu**2 / 2  # ln cosh(mu t)
            y = np.expm1(np.minimum(w, 30.0))
            near_w = np.log1p(y + np.sqrt(np.maximum(y * (y + 2), 0.0)))  # arccosh(1 + y)
            far_w = w + np.log1p(np.sqrt(-np.expm1(-2 * np.maximum(w, 30.0))))
            return np.where(w > 0, np.where(w < 30, near_w, far_w) / self.mu, 0.0)

    def log_interval_masses(
        self, lower: np.ndarray, upper: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """log null-mass and log (target sampled)-mass of lower <= statistic < upper."""
        if not self.squared:
            return _log_normal_interval(lower, upper), _log_normal_interval(
                lower - self.mu, upper - self.mu
            )
        log_null = math.log(2) + _log_normal_interval(lower, upper)
        log_sampled = np.logaddexp(
            _log_normal_interval(lower - self.mu, upper - self.mu),
            _log_normal_interval(lower + self.mu, upper + self.mu),
        )
        return log_null, log_sampled

    @property
    def lowest_statistic(self) -> float:
        """The smallest statistic: 0 for |x| (squared), -inf for x."""
        return 0.0 if self.squared else -np.inf

    def statistic_range(self, tail_mass: float) -> tuple[float, float]:
        """Statistics outside of which the alternative has mass <= tail_mass on each side."""
        sides = 4 if self.squared else 2
        null_high = -special.ndtri(tail_mass / sides)
        sampled_high = self.mu - special.ndtri(min(tail_mass / (sides * self.p), 0.5))
        null_low = special.ndtri(tail_mass / sides) if not self.squared else tail_mass / sides
        sampled_low = self.mu + special.ndtri(min(tail_mass / (sides * self.p), 0.5))
        low = max(min(null_low, sampled_low), self.lowest_statistic)
        return float(low), float(max(null_high, sampled_high))

    @property
    def kink(self) -> float:
        """Statistic where the two terms of the loss are equal (the loss bends there)."""
        return float(self.threshold(math.log(2 * (1 - self.p)))) if self.p < 1 else np.nan
