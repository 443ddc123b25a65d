"""Vectorised forms of the parts of dp_accounting 0.6.0 that dominate the cost of a PLD
evaluation: ε for δ on a composed pmf, the one-step Gaussian hockey-stick divergences the
connect-the-dots pmf is built from (both per-bin Python loops there), and the FFT
self-composition with its Chernoff truncation bounds (40 ``logsumexp`` calls and a complex FFT
there). Same arithmetic, same results (the tests compare them with the library's own); they
read the pinned version's pmf internals (``_probs``, ``_lower_loss``, ``_discretization``,
``_infinity_mass``, ``_pessimistic_estimate``, ``_symmetric``)."""

from __future__ import annotations

import math

import numpy as np
from dp_accounting.pld import pld_pmf, privacy_loss_distribution, privacy_loss_mechanism
from scipy import fft, special

CHERNOFF_ORDERS = 20
"""The truncation bounds use the moment generating function at orders ±1 … ±20 over the pmf's
length (dp_accounting's default orders)."""
SMALLEST_VECTORISED_LOSS = -700.0
"""Losses below this are not vectorised (e^-loss would overflow); the library's loop takes over
in the rare case the search gets there."""


def epsilon_for_delta(pmf: pld_pmf.DensePLDPmf, delta: float) -> float:
    """The smallest ε ≥ 0 with δ(ε) ≤ δ for the pmf, as ``DensePLDPmf.get_epsilon_for_delta``:
    walk the losses from the top, accumulating P- and Q-mass above, and stop at the first loss at
    or below log((P-mass - δ)/Q-mass); here with cumulative sums instead of the loop."""
    infinity = pmf._infinity_mass
    if infinity > delta:
        return math.inf
    top = pmf._lower_loss + len(pmf._probs) - 1
    losses = (top - np.arange(len(pmf._probs))) * pmf._discretization
    probs = pmf._probs[::-1]
    kept = int(np.searchsorted(-losses, -SMALLEST_VECTORISED_LOSS, side="right"))
    losses, probs = losses[:kept], probs[:kept]
    upper_after = infinity + np.cumsum(probs)
    lower_after = np.cumsum(np.exp(-losses) * probs)
    upper_before = np.concatenate(([infinity], upper_after[:-1]))
    lower_before = np.concatenate(([0.0], lower_after[:-1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        stops = (
            (upper_before > delta)
            & (lower_before > 0)
            & (np.log((upper_before - delta) / lower_before) >= losses)
        )
    underflows = (upper_after >= delta) & (lower_after == 0)
    stop = int(np.argmax(stops)) if stops.any() else None
    underflow = int(np.argmax(underflows)) if underflows.any() else None
    if underflow is not None and (stop is None or underflow < stop):
        return max(0.0, float(losses[underflow]))
    if stop is None:
        if kept < len(pmf._probs):
            return pmf.get_epsilon_for_delta(delta)
        mass_upper, mass_lower = float(upper_after[-1]), float(lower_after[-1])
    else:
        mass_upper, mass_lower = float(upper_before[stop]), float(lower_before[stop])
    if mass_upper <= mass_lower + delta:
        return 0.0
    return math.log((mass_upper - delta) / mass_lower)


def self_convolve_bounds(probs: np.ndarray, steps: int, truncation: float) -> tuple[int, int]:
    """Indices [lower, upper] of the T-fold self-convolution of ``probs`` outside which at most
    ``truncation`` of its mass lies: Chernoff's bound P(S ≥ s) ≤ M(t)^T e^(-ts) at the orders
    t = k/n, k = ±1 … ±:data:`CHERNOFF_ORDERS` (n the length), with both tails at truncation/2,
    as dp_accounting's ``compute_self_convolve_bounds`` (Doroshenko et al., PETS 2022, App.).
    The exponents i·t stay within ±20, so M(t) = Σ p_i e^(it) needs no log-sum-exp."""
    length = len(probs)
    lower, upper = 0, (length - 1) * steps
    if truncation == 0:
        return lower, upper
    scaled_index = np.arange(length) / length
    log_tails = math.log(2 / truncation)
    for k in (*range(-CHERNOFF_ORDERS, 0), *range(1, CHERNOFF_ORDERS + 1)):
        mgf = float(probs @ np.exp(k * scaled_index))
        log_mgf = math.log(mgf) if mgf > 0 else -math.inf
        bound = (steps * log_mgf + log_tails) * length / k
        if not math.isfinite(bound):
            continue
        if k > 0:
            upper = min(upper, math.ceil(bound))
        else:
            lower = max(lower, math.floor(bound))
    return lower, upper


def _convolution_window(probs: np.ndarray, steps: int, truncation: float) -> tuple[int, int, int]:
    """The first index kept, how many are kept, and the FFT length (dp_accounting's
    ``self_convolve``: the next fast length of the bounds' span)."""
    lower, upper = self_convolve_bounds(probs, steps, truncation)
    return lower, upper - lower + 1, fft.next_fast_len(max(upper - lower + 1, len(probs)))


def self_convolution_length(probs: np.ndarray, steps: int, truncation: float) -> int:
    """FFT length :func:`self_compose` uses for ``probs``."""
    return _convolution_window(probs, steps, truncation)[2]


def self_compose(pmf: pld_pmf.DensePLDPmf, steps: int, truncation: float) -> pld_pmf.DensePLDPmf:
    """``pmf.self_compose(steps, truncation)``: the T-th power of its FFT, kept within
    :func:`self_convolve_bounds` (the truncated mass, at most ``truncation``, moves to infinity);
    here with a real FFT (half the length of the library's complex one)."""
    lower, kept, length = _convolution_window(pmf._probs, steps, truncation)
    cyclic = fft.irfft(fft.rfft(pmf._probs, length) ** steps, length)
    probs = np.roll(cyclic, -lower)[:kept]
    infinity = truncation - math.expm1(steps * math.log1p(-pmf._infinity_mass))
    return pld_pmf.DensePLDPmf(
        pmf._discretization,
        pmf._lower_loss * steps + lower,
        probs,
        infinity,
        pmf._pessimistic_estimate,
    )


def self_compose_pld(
    pld: privacy_loss_distribution.PrivacyLossDistribution, steps: int, truncation: float
) -> privacy_loss_distribution.PrivacyLossDistribution:
    """``pld.self_compose(steps, truncation)`` with :func:`self_compose` for each dense pmf."""
    composed = [self_compose(pmf, steps, truncation) for pmf in dense_pmfs(pld)]
    return privacy_loss_distribution.PrivacyLossDistribution(*composed)


def dense_pmfs(pld: privacy_loss_distribution.PrivacyLossDistribution) -> list[pld_pmf.DensePLDPmf]:
    """The remove and add pmfs of ``pld`` as dense pmfs, one when they are the same object
    (``_pmf_remove``/``_pmf_add``, internals of the pinned version)."""
    pmfs = {id(pmf): pmf for pmf in (pld._pmf_remove, pld._pmf_add)}
    return [pmf.to_dense_pmf() for pmf in pmfs.values()]


def pld_epsilon_for_delta(pld: privacy_loss_distribution.PrivacyLossDistribution, delta: float):
    """:func:`epsilon_for_delta` of a PLD: the larger over its remove and add pmfs."""
    return max(epsilon_for_delta(pmf, delta) for pmf in dense_pmfs(pld))


def log_subsampling_ratio(values: np.ndarray, sample_rate: float) -> np.ndarray:
    """log((e^v - 1 + q)/q) for v > log(1 - q), without overflow: the expm1 form for v ≤ 0,
    v - log q + log1p(-(1 - q)·e^-v) above (nan or -inf at or below log(1 - q))."""
    positive = values > 0
    out = np.empty_like(values)
    small = values[~positive]
    out[~positive] = np.log((np.expm1(small) + sample_rate) / sample_rate)
    large = values[positive]
    out[positive] = large - math.log(sample_rate) + np.log1p(-(1 - sample_rate) * np.exp(-large))
    return out


def _gaussian_deltas(
    loss: privacy_loss_mechanism.GaussianPrivacyLoss, epsilons: np.ndarray
) -> np.ndarray:
    """``loss.get_delta_for_epsilon(epsilons)`` of the subsampled Gaussian (sensitivity 1) with
    the inverse privacy loss in closed form, x = -1/2 - σ²·log((e^ε - 1 + q)/q) (remove) and
    x = 1/2 + σ²·log((e^-ε - 1 + q)/q) (add), where the divergence is neither 0 nor 1 - e^ε; at
    ε within 1e-9 (relative) of the edge ±log(1 - q) the library's limit x = ±inf."""
    sigma, q = loss.standard_deviation, loss.sampling_prob
    remove = loss.adjacency_type == privacy_loss_mechanism.AdjacencyType.REMOVE
    edge = math.log1p(-q) if q < 1 else -math.inf
    deltas = np.zeros_like(epsilons, dtype=float)
    inside = epsilons > edge if remove else epsilons < -edge
    at_edge = np.isclose(epsilons, edge if remove else -edge, rtol=1e-9, atol=0.0)
    if remove:
        deltas[~inside] = -np.expm1(epsilons[~inside])
    eps = epsilons[inside]
    with np.errstate(over="ignore", divide="ignore"):
        log_ratio = log_subsampling_ratio(eps if remove else -eps, q)
        x = np.where(at_edge[inside], math.inf, sigma**2 * log_ratio) + 0.5
        x = -x if remove else x
        if remove:
            upper_cdf = (1 - q) * special.ndtr(x / sigma) + q * special.ndtr((x + 1) / sigma)
            lower_log_cdf = special.log_ndtr(x / sigma)
        else:
            upper_cdf = special.ndtr(x / sigma)
            lower_log_cdf = np.logaddexp(
                math.log1p(-q) + special.log_ndtr(x / sigma) if q < 1 else -math.inf,
                math.log(q) + special.log_ndtr((x - 1) / sigma),
            )
        deltas[inside] = upper_cdf - np.exp(eps + lower_log_cdf)
    return np.clip(deltas, 0.0, 1.0)


def gaussian_pld(
    sigma: float, sample_rate: float, interval: float
) -> privacy_loss_distribution.PrivacyLossDistribution:
    """dp_accounting's pessimistic connect-the-dots PLD of one step of the Poisson-subsampled
    Gaussian (``from_gaussian_mechanism`` with its defaults), its divergences vectorised
    (:func:`_gaussian_deltas`); the grid and the pmf are the library's own."""
    adjacencies = [privacy_loss_mechanism.AdjacencyType.REMOVE]
    if sample_rate < 1:
        adjacencies.append(privacy_loss_mechanism.AdjacencyType.ADD)
    pmfs = []
    for adjacency in adjacencies:
        loss = privacy_loss_mechanism.GaussianPrivacyLoss(
            sigma, sampling_prob=sample_rate, adjacency_type=adjacency
        )
        bounds = loss.connect_dots_bounds()
        lowest = math.floor(bounds.epsilon_lower / interval)
        highest = math.ceil(bounds.epsilon_upper / interval)
        deltas = _gaussian_deltas(loss, np.arange(lowest, highest + 1) * interval)
        pmfs.append(
            pld_pmf.create_pmf_pessimistic_connect_dots_fixed_gap(interval, lowest, highest, deltas)
        )
    return privacy_loss_distribution.PrivacyLossDistribution(*pmfs)
