"""From-scratch reconstruction: the law of the best unbiased analytic inversion of DP-SGD.

Source: Riess, Schwethelm, Kaiser, Mueller, Schnabel, Rueckert, Ziller, "From Mean to Extreme:
Formal differential privacy bounds on the success of real-world data reconstruction attacks"
(arXiv:2402.12861).

Threat model (exactly): a white-box, malicious-model adversary without a data prior plants a
linear trap y = W x with the loss sum(y), so the target's per-sample gradient is g x^T with
g = (1, ..., 1) and no other parameter has a gradient; the target's clipped gradient reaches the
trap isolated (a batch of one, or the other records' contributions known and removed), and the
adversary inverts the DP-SGD release with the unbiased linear estimator, knowing the clip factor.
Derivation: Opacus clips g x^T to C (factor c = min(1, C / (||g|| ||X||))) and adds N(0, sigma^2
C^2) per entry; the unbiased inversion X_hat = sum_i g_i G_i / (c ||g||^2) is X + s Z, Z ~ N(0,
I_N), with s = sigma max(||X||, C / ||g||). The smallest s, sigma ||X||, holds while clipping is
active (||g|| ||X|| >= C, i.e. M >= (C / ||X||)^2 trap rows); C then cancels. Otherwise the noise
is larger and the law below overstates this adversary's success. So, for an N-pixel image,
MSE = ||X_hat - X||^2 / N ~ Gamma(N/2, scale 2 sigma^2 ||X||^2 / N).

This is exact for the unbiased linear inversion and an upper bound on the success of that class
of attacks (the imprint attack is one). It is not a bound on every adversary: one with an image
prior, a denoiser or a biased (shrinkage) estimator can do better; the identification bounds of
``rero.privacy.rero.methods`` cover those.

Over a training run each inclusion of the target gives an independent copy X + sigma ||X|| Z (the
trap's gradient does not depend on the weights); an adversary who knows the k steps that included
it averages them, sigma_eff = sigma / sqrt(k), k ~ Binomial(T, q); k = 0 is a failure.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from rero.privacy.accounting.base import require_positive_int

THREAT_MODEL = (
    "no data prior, unbiased analytic inversion, white-box malicious model with clipping active: "
    "an upper bound on that class of attacks (Riess et al. 2024), not on every adversary"
)
NCC_NOTE = (
    "uncentred NCC (cosine similarity); ncc_bound = sqrt(1/(1 + N sigma^2)) is Riess et al.'s "
    "ratio-of-expectations value, an approximation of the expected NCC (below it where "
    "N sigma^2 < 2); expected_ncc is the exact expected NCC under the law"
)
DEFAULT_TRUNCATION = 1e-12
"""Default binomial mass left out of the whole-run sum (the result errs high by at most this)."""
EXACT_NCC_NOISE = 1e-9
"""Below this sigma sqrt(N) the expected NCC is 1 in float64 (1F1 would overflow)."""
NEGLIGIBLE_TAIL = 1e-15
"""A gamma-cdf term whose Chernoff bound is below this is replaced by that bound (or by 1)."""


def _checked(name: str, values: ArrayLike, allow_inf: bool = False) -> NDArray[np.float64]:
    """``values`` as a float64 array, or a ValueError naming ``name`` and its first bad value."""
    array = np.asarray(values, dtype=np.float64)
    bad = np.isnan(array) | (array < 0) | (np.isinf(array) & (not allow_inf))
    if bad.any():
        expected = ">= 0 (inf allowed)" if allow_inf else "finite and >= 0"
        raise ValueError(f"{name}: got {array[bad].flat[0]!r}, expected values {expected}")
    return array


def _check_rate(sample_rate: float) -> float:
    if not (isinstance(sample_rate, (int, float)) and 0 < sample_rate <= 1):
        raise ValueError(f"sample_rate={sample_rate!r}: expected q in (0, 1]")
    return float(sample_rate)


def psnr_to_mse(psnr_db: ArrayLike, data_range: float = 1.0) -> NDArray[np.float64]:
    """The MSE threshold of a PSNR threshold: PSNR >= tau dB iff MSE <= R^2 10^(-tau/10).

    Raises:
        ValueError: a NaN ``psnr_db`` or a ``data_range`` that is not finite and > 0.
    """
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range={data_range!r}: expected a finite number > 0")
    tau = np.asarray(psnr_db, dtype=np.float64)
    if np.isnan(tau).any():
        raise ValueError("psnr_db: got nan, expected a number in dB")
    return data_range**2 * np.power(10.0, -tau / 10)


def mse_law(sigma: float, dimension: int, data_norm: float) -> stats.rv_continuous:
    """The frozen law of one release's reconstruction MSE, Gamma(N/2, scale 2 sigma^2 ||X||^2 / N)
    (Riess et al. 2024), for sigma ||X|| > 0.

    Raises:
        ValueError: a non-positive ``dimension`` or sigma ||X|| not finite and > 0.
    """
    dimension = require_positive_int("dimension", dimension)
    noise = float(sigma) * float(data_norm)
    if not (math.isfinite(noise) and noise > 0):
        raise ValueError(f"sigma * data_norm = {noise!r}: expected a finite number > 0")
    return stats.gamma(dimension / 2, scale=2 * noise**2 / dimension)


def _gamma_argument(
    mse_threshold: ArrayLike, sigma: ArrayLike, dimension: int, data_norm: ArrayLike
) -> NDArray[np.float64]:
    """eta N / (2 sigma^2 ||X||^2), broadcast; inf where sigma ||X|| = 0 (exact reconstruction)."""
    eta = _checked("mse_threshold", mse_threshold, allow_inf=True)
    noise = _checked("sigma", sigma) * _checked("data_norm", data_norm)
    eta, noise = np.broadcast_arrays(eta, noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        argument = eta * dimension / (2 * noise**2)
    return np.where(noise == 0, np.inf, argument)


def single_release_success(
    mse_threshold: ArrayLike, *, sigma: ArrayLike, dimension: int, data_norm: ArrayLike
) -> NDArray[np.float64]:
    """P(MSE <= eta) for one DP-SGD release: the regularised lower incomplete gamma
    P(N/2, eta N / (2 sigma^2 ||X||^2)) (Riess et al. 2024); 1 where sigma ||X|| = 0.

    Arguments broadcast (e.g. sigma[:, None] and data_norm[None, :] give a (sigma, image) grid).
    An upper bound for the threat model of this module only.

    Raises:
        ValueError: a negative or NaN argument, an infinite sigma or data norm, or a
            non-positive ``dimension``.
    """
    dimension = require_positive_int("dimension", dimension)
    argument = _gamma_argument(mse_threshold, sigma, dimension, data_norm)
    return special.gammainc(dimension / 2, argument)


def inclusion_counts(
    sample_rate: float, steps: int, truncation: float = DEFAULT_TRUNCATION
) -> tuple[NDArray[np.int64], NDArray[np.float64], float]:
    """(k, Binomial(T, q) pmf at k, mass left out) over k >= 1 where the pmf is not negligible:
    the central range holding all but ``truncation`` of the mass; k = 0 (never included) is
    always left out of the range and out of the mass left out.

    Raises:
        ValueError: q outside (0, 1], T not a positive integer, or truncation outside (0, 1).
    """
    sample_rate = _check_rate(sample_rate)
    steps = require_positive_int("steps", steps)
    if not 0 < truncation < 1:
        raise ValueError(f"truncation={truncation!r}: expected a number in (0, 1)")
    law = stats.binom(steps, sample_rate)
    lowest = max(1, int(law.ppf(truncation / 2)))
    highest = max(lowest, int(law.isf(truncation / 2)))
    counts = np.arange(lowest, highest + 1)
    pmf = law.pmf(counts)
    left_out = float(law.sf(highest) + (law.cdf(lowest - 1) - law.pmf(0)))
    return counts, pmf, max(left_out, 0.0)


def _gamma_cdf_from_above(shape: float, argument: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(shape, x), or a value above it by at most NEGLIGIBLE_TAIL: where the Chernoff bound
    (x/s)^s e^(s-x) on the near tail is below NEGLIGIBLE_TAIL, that bound (x < s) or 1 (x > s)
    replaces the incomplete gamma function (which is evaluated only in between)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_tail = shape * np.log(argument / shape) + shape - argument
    log_tail = np.where(np.isinf(argument), -np.inf, log_tail)
    negligible = log_tail < math.log(NEGLIGIBLE_TAIL)
    below = argument < shape
    result = np.where(below, np.exp(log_tail), 1.0)
    needed = ~negligible
    result[needed] = special.gammainc(shape, argument[needed])
    return result


def whole_run_success(
    mse_threshold: ArrayLike,
    *,
    sigma: ArrayLike,
    sample_rate: float,
    steps: int,
    dimension: int,
    data_norm: ArrayLike,
    truncation: float = DEFAULT_TRUNCATION,
) -> NDArray[np.float64]:
    """P(MSE <= eta) for an adversary who averages every inclusion of the target over T steps:
    sum over k ~ Binomial(T, q) of P(k) P(N/2, k eta N / (2 sigma^2 ||X||^2)), k = 0 a failure
    (Riess et al. 2024's law at sigma / sqrt(k)).

    The sum runs over :func:`inclusion_counts`; the mass it leaves out counts as success and
    negligible gamma tails are replaced by their Chernoff bound, so the value errs high, by at
    most ``truncation`` + 1e-15. Arguments broadcast as in :func:`single_release_success`.

    Raises:
        ValueError: as :func:`single_release_success` and :func:`inclusion_counts`.
    """
    dimension = require_positive_int("dimension", dimension)
    counts, pmf, left_out = inclusion_counts(sample_rate, steps, truncation)
    argument = _gamma_argument(mse_threshold, sigma, dimension, data_norm)
    flat = argument.reshape(-1)
    success = np.empty_like(flat)
    block = max(1, (1 << 21) // len(counts))  # bounds the working set to ~16 MiB per array
    for start in range(0, len(flat), block):
        grid = flat[start : start + block, None] * counts[None, :]
        success[start : start + block] = _gamma_cdf_from_above(dimension / 2, grid) @ pmf
    return np.minimum(success + left_out, 1.0).reshape(argument.shape)


def ncc_bound(sigma: ArrayLike, dimension: int) -> NDArray[np.float64]:
    """Riess et al. (2024)'s NCC value sqrt(1 / (1 + N sigma^2)) of one release.

    It is E<X_hat, X> / sqrt(||X||^2 E||X_hat||^2), a ratio of expectations: an approximation of
    the expected (uncentred) NCC, not an upper bound on it for every N and sigma. Measured here
    against :func:`expected_ncc`: it lies above it once N sigma^2 >= 2 and below it for smaller
    N sigma^2, by at most 0.0044 (N = 16), 9e-5 (N = 784) and 5e-7 (N = 150,528).

    Raises:
        ValueError: a negative, NaN or infinite sigma, or a non-positive ``dimension``.
    """
    dimension = require_positive_int("dimension", dimension)
    return 1 / np.hypot(1.0, math.sqrt(dimension) * _checked("sigma", sigma))


def expected_ncc(sigma: ArrayLike, dimension: int) -> NDArray[np.float64]:
    """E[<X_hat, X> / (||X_hat|| ||X||)] of one release under the law X_hat = X + sigma ||X|| Z.

    Derived here, not in Riess et al.: Y = X_hat / (sigma ||X||) ~ N(m e_1, I_N), m = 1/sigma,
    and the projected normal's mean E[Y_1 / ||Y||] = Gamma((N+1)/2) / Gamma(N/2 + 1) (m / sqrt 2)
    1F1(1/2; N/2 + 1; -m^2/2) (checked against Monte Carlo in the tests). Where sigma sqrt(N) <
    EXACT_NCC_NOISE it is 1 (1 - E is below (N - 1) sigma^2 / 2 < 5e-19 there).

    Raises:
        ValueError: a negative, NaN or infinite sigma, or a non-positive ``dimension``.
    """
    dimension = require_positive_int("dimension", dimension)
    sigma = _checked("sigma", sigma)
    value = np.ones_like(sigma)
    noisy = sigma * math.sqrt(dimension) >= EXACT_NCC_NOISE
    mean = 1 / sigma[noisy]
    ratio = math.exp(special.gammaln((dimension + 1) / 2) - special.gammaln(dimension / 2 + 1))
    value[noisy] = (
        ratio * mean / math.sqrt(2) * special.hyp1f1(0.5, dimension / 2 + 1, -(mean**2) / 2)
    )
    return value
