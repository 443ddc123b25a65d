"""The f-DP one-run audit (Mahloujifar, Melis and Chaudhuri 2025): its test against the exact
binomial test for the curve of pure ε-DP, its curves and its lower bound against the Gaussian
mechanism's closed forms, and its lower bound on the idealised DP-SGD mechanism, where the answer
is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from rero.audit.fdp import (
    certified_lower_epsilon,
    dp_sgd_curve,
    empirical_epsilon,
    pure_dp_curve,
    rejects,
)
from rero.audit.game import judge, subsampled_gaussian_scores
from rero.audit.statistics import guess_accuracy_bound, p_value, top_guesses
from rero.privacy.calibration import calibrate
from tests.helpers import (
    IDEAL_CANARIES,
    IDEAL_DELTA,
    IDEAL_SAMPLE_RATE,
    IDEAL_STEPS,
    ideal_white_box,
)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_two_right_of_two_under_pure_dp_is_rejected_where_the_binomial_tail_is_by_hand(epsilon):
    # the recursion for k = c = 2 and f(α) = e^(-ε)(1 - α) near α = 1 gives right + wrong =
    # 2α(1 + e^(-ε))² / m, above 2/m exactly when α > p_ε²: P[Binomial(2, p_ε) = 2]
    tail = guess_accuracy_bound(epsilon) ** 2
    curve = pure_dp_curve(epsilon)
    assert rejects(curve, 100, 2, 2, tail * 1.001)
    assert not rejects(curve, 100, 2, 2, tail * 0.999)


def test_under_pure_dp_it_rejects_only_what_the_exact_binomial_test_rejects():
    agree = total = 0
    for canaries in (50, 1000):
        for guesses in (1, 5, 25, 50):
            for correct in range(guesses + 1):
                for epsilon in (0.0, 0.3, 1.0, 2.0, 4.0):
                    exact = p_value(canaries, guesses, correct, epsilon, 0.0)
                    for alpha in (0.01, 0.05, 0.2):
                        fdp = rejects(pure_dp_curve(epsilon), canaries, guesses, correct, alpha)
                        assert exact < alpha * (1 + 1e-9) or not fdp, (guesses, correct, epsilon)
                        agree += fdp == (exact < alpha)
                        total += 1
    assert agree >= 0.99 * total  # it differs only where the p-value is within a hair of α


def gaussian_epsilon(mu: float, delta: float) -> float:
    """ε at δ of the μ-GDP Gaussian mechanism, exact (Balle and Wang 2018):
    δ(ε) = Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2)."""

    def excess(eps: float) -> float:
        high, low = stats.norm.cdf(-eps / mu + mu / 2), stats.norm.cdf(-eps / mu - mu / 2)
        return high - math.exp(eps) * low - delta

    return optimize.brentq(excess, 0.0, 50.0, xtol=1e-12)


def test_the_dp_sgd_curve_of_one_full_batch_step_is_the_gaussian_trade_off_from_below():
    # q = 1, T = 1: the Gaussian mechanism, whose curve is G_μ(α) = Φ(Φ⁻¹(1 - α) - μ), μ = 1/σ
    sigma = 0.8
    curve = dp_sgd_curve(sigma, 1.0, 1, 1e-5)
    for alpha in np.linspace(0.0, 1.0, 41):
        exact = stats.norm.cdf(stats.norm.ppf(1 - alpha) - 1 / sigma)
        assert exact - 0.01 <= curve(float(alpha)) <= exact + 1e-9, alpha


def test_the_full_batch_audit_reports_the_certified_lower_end_of_the_exact_gaussian_epsilon():
    # q = 1, T = 4 steps at noise s: the Gaussian mechanism with μ = √T/s, whose ε at δ is known
    # exactly; the audit's ε is at most that of the noise multiplier it rejects, and within the
    # accountant's bracket of it (the pessimistic PLD's ε, reported before, is above it)
    sigma, steps, delta = 2.0, 4, 1e-5
    result = empirical_epsilon([(100, 100), (200, 190)], 1000, (sigma, 1.0, steps), delta, 0.05)
    noise = result["noise_multiplier"]
    exact = gaussian_epsilon(math.sqrt(steps) / noise, delta)
    assert noise < sigma
    # brentq's xtol 1e-12 aside, never above the exact value (the pessimistic PLD's ε of this
    # noise, the value reported before, is 1e-5 above it)
    assert exact * (1 - 5e-3) <= result["epsilon_lower"] <= exact + 1e-9, (result, exact)
    assert certified_lower_epsilon(noise, 1.0, steps, delta) == result["epsilon_lower"]


# -- the idealised mechanism: each canary's coordinate, N(0, 1) per step plus 1/σ when sampled --

SAMPLE_RATE, STEPS, DELTA, CANARIES = IDEAL_SAMPLE_RATE, IDEAL_STEPS, IDEAL_DELTA, IDEAL_CANARIES
GUESSES = (25, 50, 100)


@pytest.fixture(scope="module")
def claim():
    return calibrate(2.0, SAMPLE_RATE, STEPS, DELTA)


def ideal_game(sigma: float, scored_sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    observed, included = ideal_white_box(sigma, seed)
    return subsampled_gaussian_scores(observed, SAMPLE_RATE, 1 / scored_sigma), included


@pytest.mark.slow
def test_the_ideal_mechanism_stays_below_its_claim_and_beats_the_epsilon_delta_bound(claim):
    mechanism = (claim.sigma, SAMPLE_RATE, STEPS)
    fdp, steinke = [], []
    for seed in range(8):
        result = judge(*ideal_game(claim.sigma, claim.sigma, seed), GUESSES, DELTA, 0.95, mechanism)
        assert result["epsilon_fdp_lower"] <= claim.epsilon, (seed, result)
        fdp.append(result["epsilon_fdp_lower"])
        steinke.append(result["epsilon_lower"])
    assert np.mean(fdp) > np.mean(steinke) > 0


@pytest.mark.slow
def test_the_ideal_mechanism_with_a_fifth_of_the_noise_exceeds_its_claim(claim):
    mechanism = (claim.sigma, SAMPLE_RATE, STEPS)
    for seed in range(3):
        scores, included = ideal_game(claim.sigma / 5, claim.sigma, seed)
        counts = [(k, int(included[top_guesses(scores, k)].sum())) for k in GUESSES]
        result = empirical_epsilon(counts, CANARIES, mechanism, DELTA, 0.05 / len(GUESSES))
        assert result["epsilon_lower"] > claim.epsilon, (seed, counts, result)
        assert result["noise_multiplier"] < claim.sigma


def test_chance_guesses_reject_nothing(claim):
    counts = [(100, 50), (200, 100)]
    result = empirical_epsilon(counts, 1000, (claim.sigma, SAMPLE_RATE, STEPS), DELTA, 0.025)
    assert result == {"epsilon_lower": 0.0, "noise_multiplier": None}


def test_where_the_pld_refuses_the_least_private_curves_the_search_starts_higher(
    claim, monkeypatch
):
    import rero.audit.fdp as fdp

    computable = fdp.dp_sgd_curve

    def refusing(noise: float, *mechanism: float) -> tuple:
        if noise < claim.sigma * 0.4:
            raise fdp.AccountantUnavailableError("too many bins")
        return computable(noise, *mechanism)

    monkeypatch.setattr(fdp, "dp_sgd_curve", refusing)
    counts = [(25, 25), (50, 50), (100, 100)]
    result = empirical_epsilon(counts, CANARIES, (claim.sigma, SAMPLE_RATE, STEPS), DELTA, 0.01)
    # σ/4 is refused, so the search runs from σ/2
    assert claim.sigma * 0.5 <= result["noise_multiplier"] < claim.sigma
    assert result["epsilon_lower"] > claim.epsilon
    with pytest.raises(fdp.AccountantUnavailableError, match="too many bins"):
        empirical_epsilon(counts, CANARIES, (claim.sigma / 3, SAMPLE_RATE, STEPS), DELTA, 0.01)
