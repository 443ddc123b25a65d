"""The paper's approximations of gamma: an Edgeworth expansion of the composed privacy loss.

Zheng, Dong, Long, Su 2020 ("Sharp composition bounds for Gaussian differential privacy via
Edgeworth expansion", ICML), as used by Ziller et al. 2024 for both the worst-case adversary and
the relaxed (GLRT) one of Kaissis, Ziller, Kolek, Riess, Rueckert 2023.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial import hermite_e
from scipy import integrate, optimize, special

from rero.privacy.rero.closed_forms import noise_free_rero
from rero.privacy.rero.loss_model import PrivacyLossModel


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
