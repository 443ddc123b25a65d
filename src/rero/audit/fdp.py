"""The f-DP one-run audit (Mahloujifar, Melis and Chaudhuri 2025, "Auditing f-differential
privacy in one run", ICML): the game of :mod:`rero.audit.game`, judged against a hypothesised
trade-off curve instead of one (ε, δ) pair (pure functions, no I/O).

A mechanism is f-DP when every test of "canary in" against "canary out" with false-positive rate
α has false-negative rate at least f(α) (Dong, Roth and Su 2022, "Gaussian differential
privacy"). Mahloujifar et al. bound, for an f-DP mechanism, the probability that an auditor who
guesses "in" for k of m canaries (each included with probability 1/2) gets at least c right; a
count whose bound is below α rejects the f-DP claim at level α. The hypotheses tried are the
trade-off curves of the claimed mechanism's own family (Poisson-subsampled Gaussian, the plan's
q and T, noise multiplier s). Rejecting s rejects every larger one (a more private curve), so
if the training is a mechanism of that family, its noise multiplier is below the smallest s
rejected and its ε at δ above that s's: the audit reports the certified lower end of the ε at δ of
s (:func:`certified_lower_epsilon`), a lower bound within the family, never an upper estimate of
it. Judged against the mechanism's curve rather than its (ε, δ) corner, the same guesses
reject far more (Steinke et al.'s bound, :mod:`rero.audit.statistics`, is this one for the curve
of (ε, δ)-DP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rero.privacy.accounting.base import AccountantUnavailableError
from rero.privacy.accounting.pld import composed_pld, pld_interval
from rero.privacy.accounting.registry import epsilon_for

#: the profile points of a hypothesised curve: ε from 0 to ε at PROFILE_SMALLEST_DELTA
PROFILE_POINTS = 1000
PROFILE_SMALLEST_DELTA = 1e-9
#: the PLDs' ε error behind a hypothesis of noise multiplier s, times max(1, 1/s²) (ε grows as
#: 1/s²); pessimistic PLDs, so the curve is never above the mechanism's
PROFILE_ERROR = 1e-2
#: the family searched: noise multipliers from claimed σ / 4 (ε about 16x the claim: a larger
#: lower bound is reported as that one's) to claimed σ · 64 (ε near 0)
NOISE_RANGE = (0.25, 64.0)
_BISECTIONS = 16


@dataclass(frozen=True)
class TradeoffCurve:
    """A lower bound on a trade-off function from points (ε_j, δ_j) of a privacy profile: each
    (ε, δ)-DP guarantee gives f(α) ≥ max(0, 1 − δ − e^ε·α, e^(−ε)·(1 − δ − α)) (Dong, Roth and
    Su 2022, Proposition 2.12), so the maximum over any of the profile's points is still one."""

    epsilons: np.ndarray
    deltas: np.ndarray

    def __call__(self, alpha: float) -> float:
        slack = 1.0 - self.deltas
        lines = np.maximum(
            slack - np.exp(self.epsilons) * alpha, (slack - alpha) / np.exp(self.epsilons)
        )
        return max(0.0, float(lines.max()))


def pure_dp_curve(epsilon: float) -> TradeoffCurve:
    """The trade-off curve of ε-DP (randomised response's)."""
    return TradeoffCurve(np.array([epsilon]), np.array([0.0]))


def rejects(curve: TradeoffCurve, canaries: int, guesses: int, correct: int, alpha: float) -> bool:
    """Whether ``correct`` right of ``guesses`` guesses among ``canaries`` rejects the claim
    "f-DP for ``curve``" at level ``alpha`` (Mahloujifar et al. 2025, the recursive bound with
    its cap at 1).

    Walks down from c right guesses: r and h are the (normalised) masses of right and wrong
    guesses an f-DP mechanism needs to produce the count with probability α; each step moves
    the least wrong mass f allows for the right mass so far, shared over the remaining guesses.
    The claim is rejected when the masses needed exceed the k/m the guesses have.
    """
    if not 0 <= correct <= guesses <= canaries or guesses < 1:
        raise ValueError(
            f"expected 0 ≤ correct ≤ guesses ≤ canaries, got {correct}/{guesses} of {canaries}"
        )
    right, wrong = alpha * correct / canaries, alpha * (guesses - correct) / canaries
    for remaining in range(correct - 1, -1, -1):
        needed = max(wrong, curve(1.0 - right))
        if needed == wrong:
            break
        right = min(right + remaining / (guesses - remaining) * (needed - wrong), 1.0)
        wrong = needed
    return right + wrong > guesses / canaries


@lru_cache(maxsize=128)
def dp_sgd_curve(sigma: float, sample_rate: float, steps: int, delta: float) -> TradeoffCurve:
    """The Poisson-subsampled Gaussian's T-fold trade-off curve, from below (points of the
    pessimistic PLD's profile, max over add and remove, from ε = 0 to its ε at δ or at
    PROFILE_SMALLEST_DELTA, whichever is larger)."""
    scale = max(1.0, sigma**-2)
    interval = pld_interval(sample_rate, steps, delta, PROFILE_ERROR * scale)
    composed = composed_pld(sigma, sample_rate, steps, interval)
    epsilon = float(composed.get_epsilon_for_delta(delta))
    largest = float(composed.get_epsilon_for_delta(PROFILE_SMALLEST_DELTA))
    if not (math.isfinite(epsilon) and math.isfinite(largest)):
        raise AccountantUnavailableError("PLD: no finite ε for the hypothesised curve")
    epsilons = np.linspace(0.0, max(largest, epsilon), PROFILE_POINTS)
    deltas = np.asarray(composed.get_delta_for_epsilon(epsilons), dtype=np.float64)
    return TradeoffCurve(epsilons, deltas)


def certified_lower_epsilon(noise: float, sample_rate: float, steps: int, delta: float) -> float:
    """The lower end of the certified ε bracket at δ of T steps of the Poisson-subsampled
    Gaussian at noise multiplier ``noise`` (``auto``: small-σ bracket or PLD); 0 where the
    accountant certifies no lower end (RDP), so the value never claims more than is proven."""
    lower = epsilon_for(noise, sample_rate, steps, delta).lower
    return 0.0 if lower is None else float(lower)


def empirical_epsilon(
    counts: Sequence[tuple[int, int]],
    canaries: int,
    mechanism: tuple[float, float, int],
    delta: float,
    alpha: float,
) -> dict[str, float | None]:
    """A lower bound on ε at δ from the guess counts (``(guesses, correct)`` pairs, each tested
    at ``alpha``): the certified lower end (:func:`certified_lower_epsilon`) of the ε of the
    least private curve of the mechanism's family that they reject, found by a bisection in
    log s over the noise multipliers σ · NOISE_RANGE of ``mechanism`` = (σ, q, T). 0 when even
    the largest is not rejected; that of the smallest when it already is (the value is then
    capped). The smallest noise multiplier is raised (×2, up to the claimed σ) while the PLD
    refuses its curve (AccountantUnavailableError, which the claimed σ's refusal raises). Also
    returns the noise multiplier of that curve."""
    sigma, sample_rate, steps = mechanism

    def rejected(noise: float) -> bool:
        curve = dp_sgd_curve(noise, sample_rate, steps, delta)
        return any(rejects(curve, canaries, k, c, alpha) for k, c in counts)

    low, high = (math.log(sigma * factor) for factor in NOISE_RANGE)
    while True:
        try:
            dp_sgd_curve(math.exp(low), sample_rate, steps, delta)
            break
        except AccountantUnavailableError:
            if low >= math.log(sigma):
                raise
            low = min(low + math.log(2.0), math.log(sigma))
    if not rejected(math.exp(high)):
        return {"epsilon_lower": 0.0, "noise_multiplier": None}
    if rejected(math.exp(low)):
        high = low
    else:
        for _ in range(_BISECTIONS):
            middle = (low + high) / 2
            if rejected(math.exp(middle)):
                high = middle
            else:
                low = middle
    noise = math.exp(high)
    return {
        "epsilon_lower": certified_lower_epsilon(noise, sample_rate, steps, delta),
        "noise_multiplier": noise,
    }
