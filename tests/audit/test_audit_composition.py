"""The per-step white-box audit (Nasr et al. 2023): its composition against a closed form and
dp_accounting, its family bound against the closed-form one-step curve, its limits against
scipy's beta quantiles, and its bounds on the idealised DP-SGD mechanism, where the answer is
known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_accounting.pld import privacy_loss_distribution
from scipy import stats

from rero.audit.composition import (
    binary_composition_epsilon,
    composed_audit,
    step_rates,
    subsampled_gaussian_signal_bound,
)
from rero.privacy.calibration import calibrate
from rero.privacy.rero.closed_forms import single_step_rero
from tests.helpers import IDEAL_DELTA, IDEAL_SAMPLE_RATE, IDEAL_STEPS, ideal_white_box


@pytest.mark.parametrize(("fpr", "tpr", "delta"), [(0.01, 0.05, 1e-5), (0.2, 0.9, 1e-3)])
def test_one_binary_step_by_hand(fpr, tpr, delta):
    # T = 1: δ(ε) = (tpr − e^ε fpr)+ in one direction and ((1 − fpr) − e^ε (1 − tpr))+ in the
    # other, so ε = max(ln((tpr − δ)/fpr), ln((1 − fpr − δ)/(1 − tpr)))
    expected = max(math.log((tpr - delta) / fpr), math.log((1 - fpr - delta) / (1 - tpr)))
    assert binary_composition_epsilon(fpr, tpr, 1, delta) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("fpr", "tpr", "steps"), [(0.0013, 0.0032, 256), (0.02, 0.031, 300), (0.1, 0.3, 20)]
)
def test_the_binary_composition_matches_dp_accountings_pld(fpr, tpr, steps):
    delta = 1e-5
    pld = privacy_loss_distribution.from_two_probability_mass_functions(
        {1: math.log(tpr), 0: math.log1p(-tpr)},
        {1: math.log(fpr), 0: math.log1p(-fpr)},
        value_discretization_interval=1e-5,
        symmetric=False,
    ).self_compose(steps)
    pessimistic = pld.get_epsilon_for_delta(delta)
    exact = binary_composition_epsilon(fpr, tpr, steps, delta)
    # the pessimistic PLD rounds each step's loss up by at most the interval: T · 1e-5 in all
    assert pessimistic - steps * 1e-5 <= exact <= pessimistic + 1e-9


def test_no_evidence_gives_zero_and_a_certain_outcome_gives_infinity():
    assert binary_composition_epsilon(0.1, 0.1, 50, 1e-5) == 0.0
    assert binary_composition_epsilon(0.0, 0.5, 4, 1e-5) == math.inf
    assert subsampled_gaussian_signal_bound(0.1, 0.05, 0.25) == 0.0
    assert subsampled_gaussian_signal_bound(1e-4, 0.3, 0.25) == math.inf  # more than q sampled


@pytest.mark.parametrize(("fpr", "tpr", "rate"), [(1e-3, 3e-3, 0.032), (0.02, 0.1, 0.25)])
def test_the_signal_bound_lies_on_the_one_step_curve(fpr, tpr, rate):
    signal = subsampled_gaussian_signal_bound(fpr, tpr, rate)
    assert signal > 0
    # at that μ, the subsampled Gaussian's best test reaches TPR exactly at the FPR
    assert single_step_rero(fpr, 1 / signal, rate) == pytest.approx(tpr, rel=1e-9)
    assert single_step_rero(fpr, 1 / (signal * 0.99), rate) < tpr


def test_step_rates_are_one_sided_clopper_pearson_limits():
    observations = np.array([[0.0, 3.0, 3.0, 0.0], [3.0, 0.0, 3.0, 3.0], [0.0, 0.0, 3.0, 0.0]])
    included = np.array([False, False, True, True])
    fpr, tpr = step_rates(observations, included, 2.0, 0.025)
    # excluded: 2 of 6 above; included: 4 of 6 above
    assert fpr == pytest.approx(stats.beta.ppf(0.975, 3, 4), abs=1e-12)
    assert tpr == pytest.approx(stats.beta.ppf(0.025, 4, 3), abs=1e-12)
    with pytest.raises(ValueError, match="included and excluded"):
        step_rates(observations, np.ones(4, dtype=bool), 2.0, 0.025)
    with pytest.raises(ValueError, match="steps x 3 canaries"):
        step_rates(observations, included[:3], 2.0, 0.025)


# -- the idealised mechanism: each canary's coordinate, N(0, 1) per step plus 1/σ when sampled --

SAMPLE_RATE, STEPS, DELTA = IDEAL_SAMPLE_RATE, IDEAL_STEPS, IDEAL_DELTA


@pytest.fixture(scope="module")
def claim():
    return calibrate(2.0, SAMPLE_RATE, STEPS, DELTA)


@pytest.mark.slow
def test_the_ideal_mechanism_stays_below_its_claim(claim):
    mechanism = (claim.sigma, SAMPLE_RATE, STEPS)
    composed = []
    for seed in range(8):
        result = composed_audit(*ideal_white_box(claim.sigma, seed), mechanism, DELTA, 0.95)
        assert 0 <= result["epsilon_composed"] <= claim.epsilon, (seed, result)
        assert 0 <= result["epsilon_composed_fdp"] <= claim.epsilon, (seed, result)
        composed.append((result["epsilon_composed"], result["epsilon_composed_fdp"]))
    # the family's assumption buys a tighter bound, and neither is trivial
    assert np.mean([fdp for _, fdp in composed]) > np.mean([bare for bare, _ in composed]) > 0


@pytest.mark.parametrize("noise", [0.2, 0.05])
def test_the_ideal_mechanism_with_less_noise_exceeds_its_claim(claim, noise):
    mechanism = (claim.sigma, SAMPLE_RATE, STEPS)
    for seed in range(3):
        result = composed_audit(*ideal_white_box(claim.sigma, seed, noise), mechanism, DELTA, 0.95)
        assert result["epsilon_composed"] > claim.epsilon, (seed, result)
        assert result["epsilon_composed_fdp"] > claim.epsilon, (seed, result)


def test_the_audit_refuses_observations_of_another_run_length(claim):
    observations, included = ideal_white_box(claim.sigma, 0)
    with pytest.raises(ValueError, match="expected 8 steps, got 7"):
        composed_audit(observations[:7], included, (claim.sigma, 0.25, 8), DELTA, 0.95)
