"""From an auditor's guesses to a statistical lower bound on ε (pure functions, no I/O).

The game of Steinke, Nasr and Jagielski 2023 ("Privacy auditing with one (1) training run",
NeurIPS, Theorem 3.1 and its δ > 0 extension, Appendix D): m canaries, each included in the
training set independently with probability 1/2; after training the auditor guesses "in" or
"out" for r of them and abstains on the rest. If the training is (ε, δ)-DP with respect to each
canary, the number V of correct guesses satisfies, for every v,

    P[V ≥ v] ≤ P[Binomial(r, p_ε) ≥ v] + 2mδ · max_{1 ≤ i ≤ v} P[v − i ≤ Binomial(r, p_ε) < v] / i,

with p_ε = e^ε / (1 + e^ε). The ε lower bound at confidence 1 − α is the largest ε whose right-hand
side, at the observed v, is still below α: the claim "(ε, δ)-DP" is then rejected at level α.
With δ = 0 it is the exact (Clopper–Pearson) one-sided lower limit of the guess accuracy put
through ε = ln(p / (1 − p)).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: the largest ε the search reports: p_ε is 1 − 2e-9 there, beyond what a few thousand
#: canaries can resolve
EPSILON_SEARCH_MAX = 20.0
_BISECTIONS = 60


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact two-sided binomial confidence interval (Clopper and Pearson 1934): the α/2 and
    1 − α/2 quantiles of Beta(k, n − k + 1) and Beta(k + 1, n − k)."""
    _check_counts(successes, trials)
    if not 0 < level < 1:
        raise ValueError(f"level: expected a confidence in (0, 1), got {level}")
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else stats.beta.ppf(tail, successes, trials - successes + 1)
    high = (
        1.0 if successes == trials else stats.beta.ppf(1 - tail, successes + 1, trials - successes)
    )
    return float(low), float(high)


def guess_accuracy_bound(epsilon: float) -> float:
    """p_ε = e^ε / (1 + e^ε): the best accuracy of a guess about one ε-DP canary (randomised
    response is the extreme case; Steinke et al. 2023)."""
    return 1.0 / (1.0 + math.exp(-epsilon))


def p_value(canaries: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """P[at least ``correct`` right among ``guesses``] if the training were (ε, δ)-DP per canary
    (Steinke et al. 2023, Theorem 3.1 and Appendix D), capped at 1."""
    _check_counts(correct, guesses)
    if guesses > canaries:
        raise ValueError(f"guesses: {guesses} exceed the {canaries} canaries")
    if epsilon < 0 or not 0 <= delta < 1:
        raise ValueError(f"expected ε ≥ 0 and 0 ≤ δ < 1, got ε = {epsilon}, δ = {delta}")
    accuracy = guess_accuracy_bound(epsilon)
    tail = float(stats.binom.sf(correct - 1, guesses, accuracy))
    if delta == 0 or correct == 0:
        return min(1.0, tail)
    shortfall = np.arange(1, correct + 1)
    below = np.cumsum(stats.binom.pmf(correct - shortfall, guesses, accuracy))
    return min(1.0, tail + 2 * canaries * delta * float(np.max(below / shortfall)))


def epsilon_lower_bound(
    canaries: int, guesses: int, correct: int, delta: float, alpha: float = 0.05
) -> float:
    """The largest ε whose (ε, δ)-DP claim the observed guesses reject at level ``alpha`` (0 if
    they reject none): a lower bound on the true ε with confidence 1 − α. Bisection on the p-value,
    which decreases in ε; capped at :data:`EPSILON_SEARCH_MAX`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha}")
    if p_value(canaries, guesses, correct, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, EPSILON_SEARCH_MAX
    if p_value(canaries, guesses, correct, high, delta) < alpha:
        return high
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if p_value(canaries, guesses, correct, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


def top_guesses(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores (guessed "in"), ties broken by index."""
    if not 0 < count <= len(scores):
        raise ValueError(f"guesses: expected 1 to {len(scores)} top-scored canaries, got {count}")
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))
    return order[:count]


def _check_counts(successes: int, trials: int) -> None:
    if not 0 <= successes <= trials or trials < 1:
        raise ValueError(
            f"expected 0 ≤ successes ≤ trials and trials ≥ 1, got {successes}/{trials}"
        )
