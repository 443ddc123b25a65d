"""Rigorous ReRo upper bound from a pessimistic privacy-loss distribution (PLD), composed by FFT.

One step's loss under the alternative nu is discretised by connect-the-dots (Doroshenko, Ghazi,
Kamath, Kumar, Manurangsi 2022, "Connect the dots: tighter discrete approximations of privacy
loss distributions", PETS), composed T times with pessimistic truncation only, and gamma is read
off the profile: gamma = inf over eps of [kappa e^eps + delta_{nu||mu}(eps)] (Neyman-Pearson;
Hayes, Mahloujifar, Balle 2023). Distributions are nu-masses on the grid offset + i * step, plus
a mass at +infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, signal

from rero.privacy.rero.loss_model import PrivacyLossModel

DISCRETISATION = 1e-4  # loss grid spacing: gamma within ~4e-5 (relative) of the d -> 0 limit
TAIL_MASS = 1e-15  # nu-mass moved pessimistically per truncation (upwards or to +infinity)
WINDOW_MARGIN = 40.0  # losses above ln(1/kappa) + margin go to +infinity (gamma += <= 2T e^-40)
MAX_BINS = 2**18  # grid size cap; beyond it the grid is coarsened pessimistically (2x)
REFINED_BINS = 2**16  # a refined single-step grid is never finer than its range / this
BINS_PER_STD = 64  # discretisation may add at most (1/64)^2 of one step's loss variance


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
        """The grid points offset + i * step carrying ``masses``."""
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


def _loss_grid(
    model: PrivacyLossModel, *, step: float, top_loss: float, tail_mass: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(first loss, spacing, loss edges, their statistics) of one step's discretisation grid.

    The grid starts at the loss of the lowest statistic kept and ends at min(top_loss, the loss
    of the upper tail), at most MAX_BINS points (the spacing grows if needed).
    """
    stat_low, stat_high = model.statistic_range(tail_mass)
    first = float(model.loss(stat_low))
    last = max(min(top_loss, float(model.loss(stat_high))), first + step)
    step = max(step, (last - first) / MAX_BINS)
    count = max(1, math.ceil((last - first) / step))
    edges = first + step * np.arange(count + 1)
    stats = model.threshold(edges)
    stats[0] = min(stats[0], stat_low) if np.isfinite(stats[0]) else stat_low
    return first, step, edges, stats


def _interval_masses(
    model: PrivacyLossModel, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nu-mass, log null-mass and log (p * sampled-mass) of lower <= statistic < upper."""
    log_null, log_sampled = model.log_interval_masses(lower, upper)
    with np.errstate(divide="ignore"):
        log_p, log_q = math.log(model.p), math.log1p(-model.p) if model.p < 1 else -np.inf
    nu = np.exp(np.logaddexp(log_q + log_null, log_p + log_sampled))
    return nu, log_null, log_p + log_sampled


def _discretise(
    model: PrivacyLossModel, *, step: float, top_loss: float, tail_mass: float
) -> tuple[LossDistribution, float]:
    """Pessimistic discretisation of one step's privacy loss, from exact Gaussian interval masses.

    The grid starts at the loss of the lowest statistic kept (the not-sampled atom ln(1-p) is
    thus a grid point, which keeps small p exact); lower-tail mass (<= tail_mass) moves up to the
    first point, and mass with loss >= min(top_loss, upper tail) goes to +infinity. Also returns
    an upper bound on the variance the split adds, step^2 sum_j U_j (1 - U_j / V_j) (Jensen).
    """
    first, step, edges, stats = _loss_grid(model, step=step, top_loss=top_loss, tail_mass=tail_mass)
    nu, log_null, log_sampled = _interval_masses(model, stats[:-1], stats[1:])
    upper = np.minimum(_split_upwards(log_sampled, log_null, edges[:-1], model.p, step), nu)
    masses = np.zeros(edges.size)
    masses[:-1] += nu - upper
    masses[1:] += upper
    below = _interval_masses(model, np.array([model.lowest_statistic]), stats[:1])[0]
    masses[0] += float(below[0])
    infinity = float(_interval_masses(model, stats[-1:], np.array([np.inf]))[0][0])
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
