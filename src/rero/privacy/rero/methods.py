"""The ReRo methods: one function per method, each giving gamma in [kappa, 1] as a :class:`Bound`.

``rigorous`` is an upper bound (closed forms where exact, else the pessimistic PLD); ``gdp_clt``
is the mu-GDP central-limit approximation (Bu, Dong, Long, Su 2020, "Deep learning with Gaussian
differential privacy", Harvard Data Science Review); ``edgeworth`` and ``glrt`` are the paper's
approximations (Ziller et al. 2024) for the worst-case and the relaxed adversary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from rero.privacy.rero.closed_forms import (
    gdp_rero,
    noise_free_rero,
    rero_ceiling,
    single_step_rero,
    validate_arguments,
)
from rero.privacy.rero.edgeworth import edgeworth_rero
from rero.privacy.rero.loss_model import PrivacyLossModel
from rero.privacy.rero.pld import pld_rero_bound

UPPER_BOUND = "upper bound"
APPROXIMATION = "approximation"
SMALLEST_SIGMA = 1e-100  # below: mu^2 near overflow; use gamma <= noise-free limit
LARGEST_MU_FOR_MOMENTS = 1e25  # 1/sigma above this: the fifth moments overflow float64


@dataclass(frozen=True)
class Bound:
    """A reconstruction-success value gamma with what it is (``kind``) and how it was computed."""

    value: float
    kind: str
    method: str
    note: str = ""


def _exact_rigorous(sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound | None:
    """The rigorous value where a closed form is exact (sigma = 0, p = 1 or T = 1), else None."""
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
    return None


def _grid_rigorous(
    sigma: float, sample_rate: float, steps: int, kappa: float, ceiling: float
) -> tuple[float, str]:
    """(value, note) of the composed PLD bound, replaced by the ceiling where that is tighter
    or the grid fails."""
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
    return value, note


def rigorous_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """Upper bound on gamma: closed forms where exact (sigma = 0, p = 1, T = 1), else the
    pessimistic composed privacy-loss distribution, clamped by the universal ceiling."""
    validate_arguments(sigma, sample_rate, steps, kappa)
    exact = _exact_rigorous(sigma, sample_rate, steps, kappa)
    if exact is not None:
        return exact
    method = "rigorous"
    ceiling = rero_ceiling(sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa)
    if sigma < SMALLEST_SIGMA:
        note = f"sigma < {SMALLEST_SIGMA:g}: noise-free limit (gamma is non-increasing in sigma)"
        return Bound(noise_free_rero(kappa, sample_rate, steps), UPPER_BOUND, method, note)
    value, note = _grid_rigorous(sigma, sample_rate, steps, kappa, ceiling)
    return Bound(min(max(value, kappa), 1.0), UPPER_BOUND, method, note)


def gdp_clt_bound(*, sigma: float, sample_rate: float, steps: int, kappa: float) -> Bound:
    """CLT approximation: mu = p sqrt(T (e^{1/sigma^2} - 1))-GDP (Bu, Dong, Long, Su 2020);
    anti-conservative in usual regimes. Overflow of e^{1/sigma^2} means mu = inf, gamma = 1."""
    validate_arguments(sigma, sample_rate, steps, kappa)
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
    validate_arguments(sigma, p, steps, kappa)
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

#: each method as tables and figures name it for a reader: what it is, and whether it is certified
METHOD_NAMES: dict[str, str] = {
    "rigorous": "certified bound (PLD)",
    "gdp_clt": "Gaussian DP (CLT approx.)",
    "edgeworth": "Edgeworth approx. (worst case)",
    "glrt": "GLRT approx. (relaxed adversary)",
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
