"""The per-step white-box audit, composed over the run (Nasr et al. 2023, "Tight auditing of
differentially private machine learning", USENIX Security; pure functions, no I/O).

The white-box auditor sees every step's noisy gradient in each gradient canary's coordinate. At a
fixed threshold τ (in units of the claimed noise std σC) every (canary, step) pair is one test of
"in" against "out" at that step: the pairs of excluded canaries estimate its false-positive rate,
those of included canaries its true-positive rate, each from T × m/2 samples, with exact
one-sided Clopper–Pearson limits. A step whose test has FPR ≤ a and TPR ≥ b is at least as
revealing as the binary mechanism with those rates (any test's outcome is a post-processing of
the step), and T such steps at least as revealing as its T-fold composition; so:

* ``epsilon_composed``: the ε at δ of the T-fold composition of the binary mechanism with the
  limits' rates, exact (binomial counts). It assumes the steps are independent uses of one
  per-step mechanism, identical for every canary, and nothing of that mechanism.
* ``epsilon_composed_fdp``: also assuming the step is a Poisson-subsampled Gaussian at the plan's
  q with unknown noise multiplier s (the claimed family), the test rejects every s whose
  trade-off curve f(α) = (1 − q)(1 − α) + q·G_{1/s}(α) (Dong, Roth and Su 2022, the direction of
  this test) lies above the observed (a, 1 − b): every s above the closed-form limit; ε at δ of
  T steps at that s, from below (the accountant's certified lower end).

Thresholds and the two limits per threshold share the level 1 − confidence (Bonferroni); the
largest bound over the thresholds is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from rero.audit.fdp import NOISE_RANGE, certified_lower_epsilon
from rero.audit.statistics import clopper_pearson

#: the per-step tests' thresholds on the noisy gradient, in units of the claimed noise std σC;
#: the midpoint 1/(2σ) between a step without and with the canary is tried too
STEP_THRESHOLDS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
_BISECTIONS = 100


def step_rates(
    observations: np.ndarray, included: np.ndarray, threshold: float, level: float
) -> tuple[float, float]:
    """Upper limit on the per-step FPR (excluded canaries' steps above ``threshold``) and lower
    limit on the TPR (included canaries'), each one-sided exact Clopper–Pearson at ``level``.
    ``observations`` is steps × canaries."""
    observations = np.asarray(observations, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    if observations.ndim != 2 or observations.shape[1] != len(included):
        raise ValueError(
            f"observations: expected steps x {len(included)} canaries, got {observations.shape}"
        )
    if included.all() or not included.any():
        raise ValueError("included: the per-step test needs included and excluded canaries")
    above = observations > threshold
    positives, negatives = above[:, included], above[:, ~included]
    _, fpr_upper = clopper_pearson(int(negatives.sum()), negatives.size, 1 - 2 * level)
    tpr_lower, _ = clopper_pearson(int(positives.sum()), positives.size, 1 - 2 * level)
    return fpr_upper, tpr_lower


def binary_composition_epsilon(fpr: float, tpr: float, steps: int, delta: float) -> float:
    """ε at δ of T independent binary outcomes, each 1 with probability ``fpr`` (out) or
    ``tpr`` (in): the larger of both directions, δ(ε) = Σ_{L_k > ε} P(k) − e^ε Q(k) over the
    counts k with privacy loss L_k = ln P(k)/Q(k); 0 when ``tpr`` ≤ ``fpr``."""
    if not (0 <= fpr <= 1 and 0 <= tpr <= 1) or steps < 1 or not 0 < delta < 1:
        raise ValueError(
            f"expected rates in [0, 1], steps >= 1, δ in (0, 1); got FPR {fpr}, TPR {tpr}, "
            f"T {steps}, δ {delta}"
        )
    if tpr <= fpr:
        return 0.0
    counts = np.arange(steps + 1)
    log_in = stats.binom.logpmf(counts, steps, tpr)
    log_out = stats.binom.logpmf(counts, steps, fpr)
    return max(_epsilon_at_delta(log_in, log_out, delta), _epsilon_at_delta(log_out, log_in, delta))


def _epsilon_at_delta(log_p: np.ndarray, log_q: np.ndarray, delta: float) -> float:
    """The least ε ≥ 0 with Σ_k (P(k) − e^ε Q(k))_+ ≤ δ (inf if P has mass where Q has none)."""
    with np.errstate(invalid="ignore"):
        loss = log_p - log_q
    loss = np.where(np.isneginf(log_p), -np.inf, loss)

    def excess(epsilon: float) -> float:
        over = loss > epsilon
        return float(np.sum(np.exp(log_p[over]) - np.exp(epsilon + log_q[over])))

    if excess(0.0) <= delta:
        return 0.0
    if np.exp(log_p[np.isposinf(loss)]).sum() > delta:
        return math.inf
    low, high = 0.0, float(loss[np.isfinite(loss)].max())
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) > delta else (low, middle)
    return low


def subsampled_gaussian_signal_bound(fpr: float, tpr: float, sample_rate: float) -> float:
    """The least μ = 1/s of a Poisson-subsampled Gaussian step (rate q) whose test direction
    "out" against "in" allows TPR ``tpr`` at FPR ``fpr``: TPR ≤ (1 − q)·α + q·Φ(Φ⁻¹(α) + μ)
    (Dong, Roth and Su 2022) solved for μ; 0 if no μ is needed, inf if none suffices."""
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate: expected q in (0, 1], got {sample_rate}")
    if fpr >= 1 or tpr <= fpr:
        return 0.0
    sampled = (tpr - (1 - sample_rate) * fpr) / sample_rate
    if sampled >= 1 or fpr <= 0:
        return math.inf
    return max(0.0, float(special.ndtri(sampled) - special.ndtri(fpr)))


def composed_audit(
    observations: np.ndarray,
    included: np.ndarray,
    mechanism: tuple[float, float, int],
    delta: float,
    confidence: float,
) -> dict[str, Any]:
    """The per-step white-box audit of ``observations`` (steps × canaries, noise-std units) for
    the claimed ``mechanism`` = (σ, q, T): both composed bounds, the best over the thresholds
    (1/(2σ) and :data:`STEP_THRESHOLDS`), and the per-threshold limits."""
    sigma, sample_rate, steps = mechanism
    if len(observations) != steps:
        raise ValueError(f"observations: expected {steps} steps, got {len(observations)}")
    thresholds = (1 / (2 * sigma), *STEP_THRESHOLDS)
    level = (1 - confidence) / (2 * len(thresholds))
    tests = []
    for threshold in thresholds:
        fpr, tpr = step_rates(observations, included, threshold, level)
        signal = subsampled_gaussian_signal_bound(fpr, tpr, sample_rate)
        tests.append(
            {
                "threshold": threshold,
                "fpr_upper": fpr,
                "tpr_lower": tpr,
                "epsilon_composed": binary_composition_epsilon(fpr, tpr, steps, delta),
                "signal_lower": signal,
            }
        )
    best = max(tests, key=lambda test: test["epsilon_composed"])
    strongest = max(tests, key=lambda test: test["signal_lower"])
    noise, family_lower = _family_epsilon(strongest["signal_lower"], mechanism, delta)
    return {
        "epsilon_composed": best["epsilon_composed"],
        "epsilon_composed_fdp": family_lower,
        "composed_noise_multiplier": noise,
        "step_tests": tests,
        "level_per_limit": level,
    }


def _family_epsilon(
    signal: float, mechanism: tuple[float, float, int], delta: float
) -> tuple[float | None, float]:
    """The noise multiplier 1/μ (floored at σ · NOISE_RANGE[0], whose ε is then reported) and
    the certified lower end of its ε at δ over T steps; (None, 0) when μ = 0."""
    sigma, sample_rate, steps = mechanism
    if signal == 0:
        return None, 0.0
    noise = max(1 / signal, sigma * NOISE_RANGE[0])
    return noise, certified_lower_epsilon(noise, sample_rate, steps, delta)
