"""The membership game of a one-run audit (Steinke, Nasr and Jagielski 2023): every canary is
included with probability 1/2, the auditor scores each one, guesses "in" for the top-scored and
abstains on the rest. The count of right guesses is judged twice: against (ε, δ)-DP
(:mod:`rero.audit.statistics`, a lower bound on ε that assumes nothing of the mechanism) and
against the trade-off curves of the claimed mechanism's family (:mod:`rero.audit.fdp`, a lower
bound on ε within that family).

Several guess counts r may be tried: each is tested at level α / (number of counts), so the
largest of their ε bounds holds at confidence 1 − α (Bonferroni).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rero.audit.fdp import empirical_epsilon
from rero.audit.statistics import clopper_pearson, epsilon_lower_bound, top_guesses


def draw_membership(count: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``count`` canaries are in the training set: independent fair coins."""
    return rng.random(count) < 0.5


def subsampled_gaussian_scores(
    observations: np.ndarray, sample_rate: float, signal: float
) -> np.ndarray:
    """Per canary (column), the log-likelihood ratio of its observed steps (rows) between "in"
    and "out", for noise-unit observations x_t ~ N(0, 1) (out) or the mixture
    (1 − q)·N(0, 1) + q·N(μ, 1) (in, sampled with probability q): Σ_t ln(1 − q + q·e^{μx_t − μ²/2}),
    the Neyman–Pearson statistic of the Poisson-subsampled Gaussian mechanism."""
    exponent = signal * np.asarray(observations, dtype=np.float64) - signal**2 / 2
    if sample_rate == 1:
        return exponent.sum(axis=0)
    return np.logaddexp(np.log1p(-sample_rate), np.log(sample_rate) + exponent).sum(axis=0)


def judge(
    scores: np.ndarray,
    included: np.ndarray,
    guess_counts: Sequence[int],
    delta: float,
    confidence: float,
    mechanism: tuple[float, float, int],
) -> dict[str, Any]:
    """The ε lower bound of guessing "in" for the top-scored canaries, the best of
    ``guess_counts`` (each at level (1 − confidence) / len(guess_counts)), and the f-DP lower
    bound of the same counts within the family of ``mechanism`` = (σ, q, T)."""
    scores = np.asarray(scores, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    if scores.shape != included.shape:
        raise ValueError(f"{len(scores)} scores for {len(included)} canaries")
    alpha = (1 - confidence) / len(guess_counts)
    trials = []
    for count in guess_counts:
        correct = int(included[top_guesses(scores, count)].sum())
        bound = epsilon_lower_bound(len(scores), count, correct, delta, alpha)
        trials.append({"guesses": int(count), "correct": correct, "epsilon_lower": bound})
    best = max(trials, key=lambda trial: (trial["epsilon_lower"], -trial["guesses"]))
    low, high = clopper_pearson(best["correct"], best["guesses"], confidence)
    counts = [(trial["guesses"], trial["correct"]) for trial in trials]
    fdp = empirical_epsilon(counts, len(scores), mechanism, delta, alpha)
    return {
        **best,
        "epsilon_fdp_lower": fdp["epsilon_lower"],
        "fdp_noise_multiplier": fdp["noise_multiplier"],
        "accuracy": best["correct"] / best["guesses"],
        "accuracy_ci": [low, high],
        "canaries": len(scores),
        "included": int(included.sum()),
        "guess_counts": trials,
        "level_per_count": alpha,
    }
