"""Reconstruction-robustness (ReRo) bounds for DP-SGD, per privacy plan.

Threat model (Balle, Cherubin, Hayes 2022, "Reconstructing training data with informed
adversaries", IEEE S&P): an informed adversary knows every training record but the target,
which is drawn from a prior whose baseline success is kappa (uniform over n candidates:
kappa = 1/n; the paper of Ziller et al. 2024 uses kappa = 1/N_train). If training is f-DP,
reconstruction succeeds with probability gamma <= 1 - f(kappa) (Hayes, Mahloujifar, Balle 2023,
"Bounding training data reconstruction in DP-SGD", NeurIPS; Kaissis, Hayes, Ziller, Rueckert
2023, arXiv 2307.03928).

DP-SGD's worst case reduces to one dimension (clip norm C normalised to 1; Hayes et al. 2023):
null mu = N(0, sigma^2)^T (target absent), alternative
nu = ((1-p) N(0, sigma^2) + p N(1, sigma^2))^T (target present, p = sampling rate).
By Neyman-Pearson,

    gamma = 1 - T(mu, nu)(kappa) = inf over real eps of [kappa e^eps + delta_{nu||mu}(eps)],

where delta_{nu||mu} is the privacy profile of the *remove* direction (loss ln nu/mu under nu).

Methods (each returns gamma in [kappa, 1]):
- ``rigorous``: an upper bound from a pessimistic discretisation of that privacy-loss
  distribution (connect-the-dots, Doroshenko et al. 2022), composed by FFT with pessimistic
  truncation only; exact closed forms where they exist.
- ``gdp_clt``: mu-GDP central-limit approximation (Bu, Dong, Long, Su 2020).
- ``edgeworth``: the paper's worst-case approximation, an Edgeworth expansion of the composed
  privacy loss (Zheng, Dong, Long, Su 2020, "Sharp composition bounds for Gaussian DP via
  Edgeworth expansion", ICML).
- ``glrt``: the paper's relaxed-adversary approximation: the adversary only sees the squared
  statistic X^2 (Kaissis, Ziller, Kolek, Riess, Rueckert 2023, "Optimal privacy guarantees for a
  relaxed threat model", NeurIPS), with the same Edgeworth machinery.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial import hermite_e
from scipy import fft, integrate, optimize, signal, special

UPPER_BOUND = "upper bound"
APPROXIMATION = "approximation"

DISCRETISATION = 1e-4  # loss grid spacing: gamma within ~4e-5 (relative) of the d -> 0 limit
TAIL_MASS = 1e-15  # nu-mass moved pessimistically per truncation (upwards or to +infinity)
WINDOW_MARGIN = 40.0  # losses above ln(1/kappa) + margin go to +infinity (gamma += <= 2T e^-40)
MAX_BINS = 2**18  # grid size cap; beyond it the grid is coarsened pessimistically (2x)
REFINED_BINS = 2**16  # a refined single-step grid is never finer than its range / this
BINS_PER_STD = 64  # discretisation may add at most (1/64)^2 of one step's loss variance


@dataclass(frozen=True)
class Bound:
    """A reconstruction-success value gamma with what it is (``kind``) and how it was computed."""

    value: float
    kind: str
    method: str
    note: str = ""


def _validate(sigma: float, sample_rate: float, steps: int, kappa: float) -> None:
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


# --------------------------------------------------------------------------------------------
# Closed forms (Kaissis et al. 2023; notes: single step = Dong-Roth-Su f_p = p f + (1-p) Id)


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


# --------------------------------------------------------------------------------------------
# One step of the privacy-loss pair, in units of the noise standard deviation


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


# --------------------------------------------------------------------------------------------
# Discrete privacy-loss distributions: nu-masses on the grid offset + i * step, plus +infinity


@dataclass(frozen=True)
class LossDistribution:
    """Privacy-loss distribution under the alternative nu, on a uniform grid with mass at +inf.

    The null's mass at loss L is e^-L times nu's; null mass missing from the grid sits at -inf.
    """

    offset: float
    step: float
    masses: np.ndarray
    infinity_mass: float

    @property
    def losses(self) -> np.ndarray:
        return self.offset + self.step * np.arange(self.masses.size)


def _split_upwards(
    log_sampled: np.ndarray, log_null: np.ndarray, edges: np.ndarray, p: float, step: float
) -> np.ndarray:
    """Connect-the-dots split of the mass in [eps_j, eps_j + step) (Doroshenko et al. 2022).

    An atom at L goes to eps_j + step with weight (1 - e^{eps_j - L}) / (1 - e^-step) and to eps_j
    with the rest: nu- and null-masses are kept and delta(eps) becomes the chord in e^eps, which
    lies above the convex true profile (pessimistic for every real eps). Over an interval the
    upper weight integrates to (nu(I) - e^eps_j null(I)) / (1 - e^-step)
    = (p sampled(I) - (e^eps_j - 1 + p) null(I)) / (1 - e^-step), computed in log space.
    ``log_sampled`` is log(p sampled(I)).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_shifted = (
            np.log(-np.expm1(np.minimum(math.log1p(-p) - edges, 0))) + edges if p < 1 else edges
        )
        log_shifted = np.where(np.isnan(log_shifted), -np.inf, log_shifted)
        log_null_weighted = log_shifted + log_null  # (e^eps_j - 1 + p) * null mass
        gap = np.where(
            log_sampled > log_null_weighted,
            np.exp(log_sampled) * -np.expm1(log_null_weighted - log_sampled),
            0.0,
        )
    return gap / -math.expm1(-step)


def _discretise(
    model: PrivacyLossModel, *, step: float, top_loss: float, tail_mass: float
) -> tuple[LossDistribution, float]:
    """Pessimistic discretisation of one step's privacy loss, from exact Gaussian interval masses.

    The grid starts at the loss of the lowest statistic kept (the not-sampled atom ln(1-p) is
    thus a grid point, which keeps small p exact); lower-tail mass (<= tail_mass) moves up to the
    first point, and mass with loss >= min(top_loss, upper tail) goes to +infinity. Also returns
    an upper bound on the variance the split adds, step^2 sum_j U_j (1 - U_j / V_j) (Jensen).
    """
    stat_low, stat_high = model.statistic_range(tail_mass)
    first = float(model.loss(stat_low))
    last = max(min(top_loss, float(model.loss(stat_high))), first + step)
    step = max(step, (last - first) / MAX_BINS)
    count = max(1, math.ceil((last - first) / step))
    edges = first + step * np.arange(count + 1)
    stats = model.threshold(edges)
    stats[0] = min(stats[0], stat_low) if np.isfinite(stats[0]) else stat_low
    log_null, log_sampled = model.log_interval_masses(stats[:-1], stats[1:])
    with np.errstate(divide="ignore"):
        log_p, log_q = math.log(model.p), math.log1p(-model.p) if model.p < 1 else -np.inf
    nu = np.exp(np.logaddexp(log_q + log_null, log_p + log_sampled))
    upper = np.minimum(_split_upwards(log_p + log_sampled, log_null, edges[:-1], model.p, step), nu)
    masses = np.zeros(count + 1)
    masses[:-1] += nu - upper
    masses[1:] += upper
    below_null, below_sampled = model.log_interval_masses(
        np.array([model.lowest_statistic]), stats[:1]
    )
    masses[0] += float(np.exp(np.logaddexp(log_q + below_null, log_p + below_sampled))[0])
    top_null, top_sampled = model.log_interval_masses(stats[-1:], np.array([np.inf]))
    infinity = float(np.exp(np.logaddexp(log_q + top_null, log_p + top_sampled))[0])
    occupied = nu > 0
    added = step**2 * float(np.sum(upper[occupied] * (1 - upper[occupied] / nu[occupied])))
    dist = LossDistribution(first, step, masses, infinity)
    return _truncate(dist, top_loss=top_loss, tail_mass=tail_mass), added


def single_step_distribution(
    model: PrivacyLossModel,
    *,
    max_loss: float,
    step: float = DISCRETISATION,
    tail_mass: float = TAIL_MASS,
) -> LossDistribution:
    """One step's pessimistic privacy-loss distribution on a grid of spacing <= ``step``.

    The grid is refined while the discretisation adds more than 1/BINS_PER_STD^2 of the loss
    variance (large sigma or tiny p: the loss fits in a few bins of the default grid, and a bin
    would distort likelihood ratios by up to e^step).
    """
    for _ in range(8):
        dist, added = _discretise(model, step=step, top_loss=max_loss, tail_mass=tail_mass)
        finite = float(dist.masses.sum())
        if finite <= 0:
            return dist
        mean = float(dist.losses @ dist.masses) / finite
        variance = float((dist.losses - mean) ** 2 @ dist.masses) / finite
        added /= finite
        smallest = 1e-12 * max(1.0, abs(dist.offset))
        if added <= max(variance / BINS_PER_STD**2, 1e-30) or dist.step <= smallest:
            return dist
        true_variance = variance - added
        finer = math.sqrt(true_variance) / BINS_PER_STD if true_variance > 0 else 0.0
        finer = max(finer, dist.step * dist.masses.size / REFINED_BINS)
        step = max(smallest, min(dist.step / 8, finer) if finer > 0 else dist.step / 64)
    return dist


def _coarsen(dist: LossDistribution) -> LossDistribution:
    """Halve the grid: odd points split onto their neighbours by connect-the-dots (pessimistic)."""
    masses = dist.masses if dist.masses.size % 2 else np.append(dist.masses, 0.0)
    even, odd = masses[0::2].copy(), masses[1::2]
    up = 1 / (1 + math.exp(-dist.step))  # (1 - e^-d) / (1 - e^-2d)
    even[:-1] += (1 - up) * odd
    even[1:] += up * odd
    return LossDistribution(dist.offset, 2 * dist.step, even, dist.infinity_mass)


def _truncate(dist: LossDistribution, *, top_loss: float, tail_mass: float) -> LossDistribution:
    """Pessimistic trimming: clip FFT round-off, send losses > top_loss and the upper tail
    (<= tail_mass) to +infinity, move the lower tail (<= tail_mass) up, and coarsen if too long."""
    masses = np.maximum(dist.masses, 0.0)
    infinity = dist.infinity_mass
    keep = int(np.clip(math.floor((top_loss - dist.offset) / dist.step) + 1, 1, masses.size))
    infinity += float(masses[keep:].sum())
    masses = masses[:keep]
    offset = dist.offset
    total = float(masses.sum())
    if total > 4 * tail_mass:
        cumulative = np.cumsum(masses)
        low = int(np.searchsorted(cumulative, tail_mass, side="right"))
        from_top = np.cumsum(masses[::-1])
        high = masses.size - int(np.searchsorted(from_top, tail_mass, side="right"))
        infinity += float(masses[high:].sum())
        lifted = float(masses[:low].sum())
        masses = masses[low:high].copy()
        masses[0] += lifted
        offset += low * dist.step
    result = LossDistribution(offset, dist.step, masses, min(infinity, 1.0))
    while result.masses.size > MAX_BINS:
        result = _coarsen(result)
    return result


def _convolve(a: LossDistribution, b: LossDistribution) -> LossDistribution:
    """Distribution of the summed loss of two independent steps (FFT, linear not circular)."""
    while a.step < b.step * (1 - 1e-9):
        a = _coarsen(a)
    while b.step < a.step * (1 - 1e-9):
        b = _coarsen(b)
    size = a.masses.size + b.masses.size - 1
    length = fft.next_fast_len(size, real=True)
    spectrum = fft.rfft(a.masses, length)
    spectrum *= spectrum if b is a else fft.rfft(b.masses, length)
    masses = fft.irfft(spectrum, length)[:size]
    infinity = a.infinity_mass + b.infinity_mass - a.infinity_mass * b.infinity_mass
    return LossDistribution(a.offset + b.offset, a.step, masses, infinity)


def compose(
    single: LossDistribution, steps: int, *, max_loss: float, tail_mass: float = TAIL_MASS
) -> LossDistribution:
    """T-fold composition by repeated squaring, with pessimistic truncation after each product.

    Mass of a partial sum S above ``max_loss`` goes to +infinity. For the final loss S + R this
    raises delta(eps) by at most nu(S > max_loss) e^{eps - max_loss} E_nu[e^-R], and
    E_nu[e^-R] = null mass <= 1, so losses below max_loss are never needed beyond the window.
    Stops early, with all mass at +infinity, once the +infinity mass (which composition only
    increases) reaches 1 - 1e-13.
    """
    result: LossDistribution | None = None
    power, remaining = single, steps
    while True:
        if remaining & 1:
            result = power if result is None else _convolve(result, power)
            result = _truncate(result, top_loss=max_loss, tail_mass=tail_mass)
            if result.infinity_mass >= 1 - 1e-13:  # the rest can only add to it: gamma = 1
                return LossDistribution(result.offset, result.step, np.zeros(1), 1.0)
        remaining >>= 1
        if not remaining:
            assert result is not None
            return result
        power = _truncate(_convolve(power, power), top_loss=max_loss, tail_mass=tail_mass)


def rero_from_distribution(dist: LossDistribution, kappa: float) -> float:
    """gamma = inf over eps of kappa e^eps + delta(eps), delta from the nu-masses (profile form).

    Between atoms both terms are linear in e^eps, so the infimum is at an atom or at -infinity.
    delta at the atom j, D_j = sum_{k>j} w_k (1 - e^{-(k-j) d}), follows the stable recursion
    D_{j-1} = e^-d D_j + (1 - e^-d) W_{j-1} with W the mass above; no e^{-L} weights appear,
    so FFT round-off at very negative losses cannot blow up.
    """
    masses = dist.masses
    above = np.concatenate([np.cumsum(masses[::-1])[::-1][1:], [0.0]])  # W_j = mass above j
    decay = math.exp(-dist.step)
    profile = signal.lfilter([1.0], [1.0, -decay], -math.expm1(-dist.step) * above[::-1])[::-1]
    cap = math.log(1 / kappa) + 1
    values = dist.infinity_mass + profile + kappa * np.exp(np.minimum(dist.losses, cap))
    return float(min(1.0, dist.infinity_mass + masses.sum(), values.min()))


def pld_rero_bound(
    *,
    sigma: float,
    sample_rate: float,
    steps: int,
    kappa: float,
    squared: bool = False,
    step: float = DISCRETISATION,
) -> float:
    """Upper bound on gamma from the pessimistic composed privacy-loss distribution (sigma > 0).

    ``squared=True`` bounds the relaxed (GLRT) adversary instead of the worst case.
    """
    model = PrivacyLossModel(mu=1 / sigma, p=sample_rate, squared=squared)
    max_loss = math.log(1 / kappa) + WINDOW_MARGIN
    single = single_step_distribution(model, max_loss=max_loss, step=step)
    return rero_from_distribution(compose(single, steps, max_loss=max_loss), kappa)


# --------------------------------------------------------------------------------------------
# Edgeworth approximation (Zheng, Dong, Long, Su 2020), as used by the paper for both adversaries


def _gaussian_expectations(
    func: Callable[[np.ndarray], np.ndarray], centre: float, kinks: list[float]
) -> np.ndarray:
    """E[func(Z + centre)] for standard normal Z, vector-valued func, split at the kinks."""
    lower, upper = centre - 40.0, centre + 40.0
    points = sorted(k for k in kinks if lower < k < upper)
    value, _ = integrate.quad_vec(
        lambda x: func(np.asarray(x)) * math.exp(-0.5 * (x - centre) ** 2) / math.sqrt(2 * math.pi),
        lower,
        upper,
        points=points or None,
        epsrel=1e-10,
        limit=200,
    )
    return np.asarray(value, float)


def loss_cumulants(model: PrivacyLossModel) -> tuple[np.ndarray, np.ndarray]:
    """Cumulants 1..5 of one step's privacy loss under the null and under the alternative.

    Computed from central moments by adaptive quadrature (more stable than raw moments).
    """
    kinks = [model.kink, -model.kink] if np.isfinite(model.kink) else []
    mean_null = float(_gaussian_expectations(lambda x: np.atleast_1d(model.loss(x)), 0.0, kinks)[0])
    mean_sampled = float(
        _gaussian_expectations(lambda x: np.atleast_1d(model.loss(x)), model.mu, kinks)[0]
    )
    mean_alt = (1 - model.p) * mean_null + model.p * mean_sampled
    orders = np.arange(2, 6)

    def central(reference: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: (model.loss(x) - reference) ** orders

    null_about_null = _gaussian_expectations(central(mean_null), 0.0, kinks)
    null_about_alt = _gaussian_expectations(central(mean_alt), 0.0, kinks)
    sampled_about_alt = _gaussian_expectations(central(mean_alt), model.mu, kinks)
    alt_moments = (1 - model.p) * null_about_alt + model.p * sampled_about_alt

    def cumulants(mean: float, m: np.ndarray) -> np.ndarray:
        m2, m3, m4, m5 = m
        return np.array([mean, m2, m3, m4 - 3 * m2**2, m5 - 10 * m3 * m2])

    return cumulants(mean_null, null_about_null), cumulants(mean_alt, alt_moments)


_HERMITE = {n: np.eye(9)[n] for n in (2, 3, 4, 5, 6, 8)}  # He_n as hermite_e coefficient vectors


def _edgeworth_tail(x: np.ndarray, standardised: np.ndarray) -> np.ndarray:
    """1 - F(x) for the Edgeworth CDF with standardised cumulants (l3, l4, l5):
    F = Phi - phi [l3/6 He2 + l4/24 He3 + l3^2/72 He5 + l5/120 He4 + l3 l4/144 He6 + l3^3/1296 He8].
    """
    l3, l4, l5 = standardised
    coefficients = (
        l3 / 6 * _HERMITE[2]
        + l4 / 24 * _HERMITE[3]
        + l3**2 / 72 * _HERMITE[5]
        + l5 / 120 * _HERMITE[4]
        + l3 * l4 / 144 * _HERMITE[6]
        + l3**3 / 1296 * _HERMITE[8]
    )
    x = np.asarray(x, float)
    return special.ndtr(-x) + np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi) * hermite_e.hermeval(
        x, coefficients
    )


def _edgeworth_quantile(kappa: float, standardised: np.ndarray) -> tuple[float, bool]:
    """Standardised threshold h with Edgeworth tail 1 - F(h) = kappa: the root nearest the
    Gaussian quantile (where the paper's fsolve starts). False if no root exists."""
    start = -float(special.ndtri(kappa))
    grid = start + np.linspace(-20.0, 20.0, 8001)
    gap = _edgeworth_tail(grid, standardised) - kappa
    crossings = np.flatnonzero(np.sign(gap[:-1]) * np.sign(gap[1:]) <= 0)
    if crossings.size == 0:
        return start, False
    nearest = crossings[np.argmin(np.abs(grid[crossings] - start))]
    if gap[nearest] == 0:
        return float(grid[nearest]), True
    root = optimize.brentq(
        lambda h: float(_edgeworth_tail(h, standardised)) - kappa, grid[nearest], grid[nearest + 1]
    )
    return float(root), True


def edgeworth_rero(model: PrivacyLossModel, steps: int, kappa: float) -> tuple[float, str]:
    """The paper's Edgeworth gamma, 1 - F_alt(h), h the level-kappa threshold under the null.

    One step's cumulants times T give the composed ones; the alternative's standardised
    threshold is (h - sqrt(T)(m_alt - m_null)/s_null) s_null/s_alt (as in the paper's code).
    Returns (value in [kappa, 1], note). Where the cumulants overflow or the null loss is an atom
    (sigma -> 0) the value is the noise-free limit; where the loss has no spread it is kappa;
    where the corrected CDF has no level-kappa quantile or leaves [kappa, 1], only its leading
    Gaussian term is kept.
    """
    with np.errstate(all="ignore"):
        null, alt = loss_cumulants(model)
    if not (np.all(np.isfinite(null)) and np.all(np.isfinite(alt))):
        limit = noise_free_rero(kappa, model.p, steps)
        return limit, "cumulants overflow (sigma -> 0): noise-free limit 1 - (1-kappa)(1-p)^T"
    if alt[1] <= 0:
        return kappa, "privacy loss has no spread at this precision: kappa"
    null_scale, alt_scale = math.sqrt(steps * max(null[1], 0.0)), math.sqrt(steps * alt[1])
    # Leading Gaussian term: 1 - Phi((z_{1-kappa} s_null - T(m_alt - m_null)) / s_alt).
    gaussian = float(
        special.ndtr((steps * (alt[0] - null[0]) + special.ndtri(kappa) * null_scale) / alt_scale)
    )
    if null[1] <= (1e-9 * abs(null[0])) ** 2:  # the null loss is the atom ln(1-p): sigma -> 0
        limit = noise_free_rero(kappa, model.p, steps)
        return limit, "null loss is an atom (sigma -> 0): noise-free limit 1 - (1-kappa)(1-p)^T"
    null_std = np.array([null[k] * steps / null_scale ** (k + 1) for k in (2, 3, 4)])
    alt_std = np.array([alt[k] * steps / alt_scale ** (k + 1) for k in (2, 3, 4)])
    shift = steps * (alt[0] - null[0]) / null_scale  # sqrt(T)(m_alt - m_null)/s_null
    with np.errstate(all="ignore"):
        threshold, found = _edgeworth_quantile(kappa, null_std)
        value = float(_edgeworth_tail((threshold - shift) * null_scale / alt_scale, alt_std))
    if found and kappa * (1 - 1e-9) <= value <= 1 + 1e-9:  # in range up to round-off
        return min(max(value, kappa), 1.0), ""
    # The corrections broke down (strong skew: tiny sigma or p T): keep the leading Gaussian term.
    why = (
        "no Edgeworth quantile" if not found else f"Edgeworth value {value:.3g} outside [kappa, 1]"
    )
    return min(max(gaussian, kappa), 1.0), f"{why}: leading Gaussian term used"


# --------------------------------------------------------------------------------------------
# Methods and tables

SMALLEST_SIGMA = 1e-100  # below: mu^2 near overflow; use gamma <= noise-free limit
LARGEST_MU_FOR_MOMENTS = 1e25  # 1/sigma above this: the fifth moments overflow float64


def rigorous_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """Upper bound on gamma: closed forms where exact (sigma = 0, p = 1, T = 1), else the
    pessimistic composed privacy-loss distribution, clamped by the universal ceiling."""
    _validate(sigma, sample_rate, steps, kappa)
    method = "rigorous"
    if sigma == 0:
        return Bound(
            noise_free_rero(kappa, sample_rate, steps),
            UPPER_BOUND,
            method,
            "sigma = 0 (non-private): noise-free limit 1 - (1-kappa)(1-p)^T",
        )
    if sample_rate == 1:
        value = gdp_rero(kappa, math.sqrt(steps) / sigma)
        return Bound(
            max(value, kappa), UPPER_BOUND, method, "p = 1: exact mu-GDP, mu = sqrt(T)/sigma"
        )
    if steps == 1:
        value = single_step_rero(kappa, sigma, sample_rate)
        return Bound(max(value, kappa), UPPER_BOUND, method, "T = 1: exact single-step closed form")
    ceiling = rero_ceiling(sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa)
    if sigma < SMALLEST_SIGMA:
        note = f"sigma < {SMALLEST_SIGMA:g}: noise-free limit (gamma is non-increasing in sigma)"
        return Bound(noise_free_rero(kappa, sample_rate, steps), UPPER_BOUND, method, note)
    note = ""
    try:
        value = pld_rero_bound(sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa)
    except (ArithmeticError, MemoryError) as error:
        value, note = math.nan, f"discretisation failed ({type(error).__name__})"
    if not math.isfinite(value):
        value, note = ceiling, (note or "discretisation not finite") + ": closed-form ceiling used"
    elif ceiling < value:
        if value - ceiling > 1e-9 * ceiling:  # not mere round-off at the noise-free limit
            note = "closed-form ceiling min(noise-free, GDP) is tighter than the grid"
        value = ceiling
    return Bound(min(max(value, kappa), 1.0), UPPER_BOUND, method, note)


def gdp_clt_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """CLT approximation: mu = p sqrt(T (e^{1/sigma^2} - 1))-GDP (Bu, Dong, Long, Su 2020);
    anti-conservative in usual regimes. Overflow of e^{1/sigma^2} means mu = inf, gamma = 1."""
    _validate(sigma, sample_rate, steps, kappa)
    method, note = "gdp_clt", ""
    if sigma == 0:
        return Bound(1.0, APPROXIMATION, method, "sigma = 0: mu = inf")
    log_exponent = -2 * math.log(sigma)  # ln(1 / sigma^2)
    if log_exponent > math.log(1e4):  # mu ~ e^(1/(2 sigma^2)) > e^5000: beyond float64
        return Bound(1.0, APPROXIMATION, method, "e^(1/sigma^2) overflows: mu = inf")
    exponent = math.exp(log_exponent)
    log_growth = (  # ln(e^exponent - 1)
        exponent + math.log1p(-math.exp(-exponent))
        if exponent > 1
        else math.log(math.expm1(exponent))
    )
    log_mu = math.log(sample_rate) + 0.5 * math.log(steps) + 0.5 * log_growth
    if log_mu > 700:
        mu, note = math.inf, "e^(1/sigma^2) overflows: mu = inf"
    else:
        mu = math.exp(log_mu)
    return Bound(min(max(gdp_rero(kappa, mu), kappa), 1.0), APPROXIMATION, method, note)


def _edgeworth_bound(
    method: str, squared: bool, sigma: float, p: float, steps: int, kappa: float
) -> Bound:
    _validate(sigma, p, steps, kappa)
    if sigma == 0:
        limit = noise_free_rero(kappa, p, steps)
        return Bound(limit, APPROXIMATION, method, "sigma = 0 (non-private): noise-free limit")
    if 1 / sigma > LARGEST_MU_FOR_MOMENTS:
        limit = noise_free_rero(kappa, p, steps)
        note = "cumulants overflow (sigma -> 0): noise-free limit 1 - (1-kappa)(1-p)^T"
        return Bound(limit, APPROXIMATION, method, note)
    value, note = edgeworth_rero(PrivacyLossModel(mu=1 / sigma, p=p, squared=squared), steps, kappa)
    return Bound(value, APPROXIMATION, method, note)


def edgeworth_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """The paper's worst-case approximation (Edgeworth expansion of the composed loss of the
    subsampled Gaussian; Zheng et al. 2020), for every T >= 1 and sigma >= 0."""
    return _edgeworth_bound("edgeworth", False, sigma, sample_rate, steps, kappa)


def glrt_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """The paper's relaxed-adversary approximation: the adversary sees only X^2 (GLRT; Kaissis
    et al., NeurIPS 2023), with the same Edgeworth expansion."""
    return _edgeworth_bound("glrt", True, sigma, sample_rate, steps, kappa)


METHODS: dict[str, Callable[..., Bound]] = {
    "rigorous": rigorous_bound,
    "gdp_clt": gdp_clt_bound,
    "edgeworth": edgeworth_bound,
    "glrt": glrt_bound,
}


def rero_bound(method: str, *, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """gamma for one method of METHODS."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method](sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa)


def all_bounds(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> dict[str, Bound]:
    """gamma for every method, keyed by method name."""
    return {
        name: method(sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa)
        for name, method in METHODS.items()
    }


BOUNDS_COLUMNS = (
    "dataset",
    "eps",
    "sigma",
    "q",
    "steps",
    "kappa",
    "kappa_label",
    "method",
    "kind",
    "bound",
)


def _plan_number(plan: dict, key: str, where: str) -> float:
    if key not in plan:
        raise ValueError(f"{where}: privacy plan lacks {key!r}")
    try:
        return float(plan[key])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a number, got {plan[key]!r}") from None


def bounds_table(
    plans: list[dict],
    kappas: list[tuple[str, float | None]],
    dataset: str,
    methods: list[str] | None = None,
) -> pd.DataFrame:
    """One row per plan x kappa x method (columns BOUNDS_COLUMNS), plans sorted by target eps.

    A kappa of None means 1/N with N = the plan's dataset_size (the paper's kappa = 1/N_train).
    """
    names = list(METHODS) if methods is None else list(methods)
    for name in names:
        if name not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}")
    rows = []
    for index, plan in enumerate(plans):
        where = f"plan {index} (target_epsilon {plan.get('target_epsilon')!r})"
        eps = _plan_number(plan, "target_epsilon", where)
        sigma = _plan_number(plan, "sigma", where)
        q = _plan_number(plan, "sample_rate", where)
        steps = _plan_number(plan, "steps", where)
        if not steps.is_integer():
            raise ValueError(f"{where}: steps must be an integer, got {plan['steps']!r}")
        for label, value in kappas:
            if value is None:
                size = plan.get("dataset_size")
                if not isinstance(size, int) or size < 2:
                    raise ValueError(
                        f"{where}: kappa {label} needs an integer dataset_size >= 2, got {size!r}"
                    )
                value = 1 / size
            for name in names:
                bound = rero_bound(name, sigma=sigma, sample_rate=q, steps=int(steps), kappa=value)
                rows.append(
                    {
                        "dataset": dataset,
                        "eps": eps,
                        "sigma": sigma,
                        "q": q,
                        "steps": int(steps),
                        "kappa": value,
                        "kappa_label": label,
                        "method": name,
                        "kind": bound.kind,
                        "bound": bound.value,
                    }
                )
    table = pd.DataFrame(rows, columns=list(BOUNDS_COLUMNS))
    return table.sort_values("eps", kind="stable", ignore_index=True)
