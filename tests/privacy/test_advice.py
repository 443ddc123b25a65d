"""Budget advice and membership-inference bounds: closed forms, round trips, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special, stats

from rero.cli import main
from rero.privacy.accounting.registry import epsilon_for
from rero.privacy.advice import SIGMA_RATIO_TOLERANCE, Constraint, advise, least_sigma
from rero.privacy.from_scratch_advice import THREATS, ScratchConstraint
from rero.privacy.plan import read_plan, write_plan
from rero.privacy.rero.from_scratch_table import ScratchCriterion, from_scratch_table
from rero.privacy.rero.membership import membership_bounds
from rero.privacy.rero.methods import rigorous_bound
from rero.runtime.io import write_json
from tests.helpers import toy_plan


@pytest.mark.parametrize(("kappa", "risk", "steps"), [(0.01, 0.05, 100), (1 / 8000, 0.02, 16)])
def test_full_batch_sigma_is_the_inverted_gaussian_closed_form(kappa, risk, steps):
    """p = 1: γ = Φ(Φ⁻¹(κ) + √T/σ), so γ = r at σ* = √T / (Φ⁻¹(r) − Φ⁻¹(κ))."""
    exact = math.sqrt(steps) / (stats.norm.ppf(risk) - stats.norm.ppf(kappa))
    found = least_sigma(Constraint("reconstruction", kappa, risk), 1.0, steps)
    assert exact <= found.sigma <= exact * SIGMA_RATIO_TOLERANCE * (1 + 1e-9)
    assert found.bound <= risk


@pytest.mark.parametrize(("sample_rate", "steps"), [(0.032, 256), (1 / 106, 2000)])
def test_advice_round_trips_through_the_bound(sample_rate, steps):
    constraint = Constraint("reconstruction", 0.01, 0.05)
    found = least_sigma(constraint, sample_rate, steps)
    at = rigorous_bound(sigma=found.sigma, sample_rate=sample_rate, steps=steps, kappa=0.01)
    assert at.value == found.bound <= 0.05
    below = found.sigma / SIGMA_RATIO_TOLERANCE
    assert (
        rigorous_bound(sigma=below, sample_rate=sample_rate, steps=steps, kappa=0.01).value > 0.05
    )
    assert found.bound > 0.05 * 0.97  # the least σ, not any σ


def test_impossible_and_free_risks_are_said_so():
    with pytest.raises(ValueError, match=r"never falls below its floor 0.01 .*more than 0.01"):
        least_sigma(Constraint("reconstruction", 0.01, 0.01), 0.01, 100)
    free = least_sigma(Constraint("reconstruction", 0.01, 0.5), 0.001, 10)
    assert free.sigma == 0 and "no noise needed" in free.note
    assert free.bound == pytest.approx(1 - 0.99 * 0.999**10)
    with pytest.raises(ValueError, match="max risk 0"):
        Constraint("reconstruction", 0.01, 0.0)


@pytest.mark.slow
def test_the_binding_constraint_is_the_noisiest_and_the_budget_is_accounted():
    answer = advise(
        [Constraint("reconstruction", 1 / 8000, 0.05), Constraint("membership", 0.01, 0.1)],
        sample_rate=0.032,
        steps=256,
        delta=1e-5,
    )
    sigmas = [entry["sigma"] for entry in answer["constraints"]]
    assert answer["sigma"] == max(sigmas)
    assert answer["binding"].startswith("membership TPR <= 0.1")
    assert 0 < answer["epsilon"] < math.inf and answer["accountant"] in ("prv", "pld", "rdp")


def test_membership_bounds_are_the_gaussian_trade_off_at_full_batch():
    mu = math.sqrt(10) / 2.0
    bounds = membership_bounds(sigma=2.0, sample_rate=1.0, steps=10, fprs=[1e-3, 0.1])
    for fpr, tpr in bounds.tpr_at_fpr.items():
        assert tpr == pytest.approx(stats.norm.cdf(stats.norm.ppf(fpr) + mu), rel=1e-9)
    assert bounds.auc == pytest.approx(stats.norm.cdf(mu / math.sqrt(2)))
    assert bounds.balanced_accuracy == pytest.approx(stats.norm.cdf(mu / 2))


@pytest.mark.slow
def test_the_pld_membership_bounds_sit_just_above_the_exact_ones():
    exact = membership_bounds(sigma=2.0, sample_rate=1.0, steps=10)
    pld = membership_bounds(sigma=2.0, sample_rate=1 - 1e-6, steps=10)
    assert exact.auc <= pld.auc <= exact.auc + 0.01  # an upper Riemann sum
    assert pld.balanced_accuracy == pytest.approx(exact.balanced_accuracy, abs=1e-3)
    for fpr in exact.tpr_at_fpr:
        assert pld.tpr_at_fpr[fpr] == pytest.approx(exact.tpr_at_fpr[fpr], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize(("sigma", "sample_rate", "steps"), [(0.7, 0.032, 256), (0.0, 0.01, 50)])
def test_membership_tpr_is_never_below_the_fpr(sigma, sample_rate, steps):
    bounds = membership_bounds(sigma=sigma, sample_rate=sample_rate, steps=steps)
    assert all(tpr >= fpr for fpr, tpr in bounds.tpr_at_fpr.items())
    assert 0.5 <= bounds.balanced_accuracy <= 1 and 0.5 <= bounds.auc <= 1


@pytest.mark.slow
def test_cli_forward_inverse_and_errors(capsys):
    base = ["advise", "--sample-rate", "0.005", "--steps", "1000", "--delta", "1e-5"]
    assert main([*base, "--kappa", "0.01", "--max-risk", "0.05"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {"sigma", "epsilon", "bound", "risks"} <= set(answer)
    assert answer["risks"]["reconstruction"]["0.01"] == answer["bound"] <= 0.05
    assert main([*base, "--kappa", "0.01", "--sigma", str(answer["sigma"]), "--table"]) == 0
    table = capsys.readouterr().out
    assert f"reconstruction success at kappa = 0.01: <= {answer['bound']:.4g}" in table
    assert main([*base, "--kappa", "0.01", "--max-risk", "0.005"]) == 2
    assert "never falls below its floor 0.01" in capsys.readouterr().err
    assert main([*base, "--max-risk", "0.05"]) == 2
    assert "--max-risk needs --kappa" in capsys.readouterr().err
    assert main([*base, "--kappa", "1/N", "--sigma", "1"]) == 2
    assert "--kappa 1/N needs --data-dir" in capsys.readouterr().err


def runs_table(points: dict[float, list[float]]):
    import pandas as pd

    return pd.DataFrame(
        [
            {"target_epsilon": eps, "main_metric_value": value}
            for eps, values in points.items()
            for value in values
        ]
    )


def test_utility_is_interpolated_monotonically_and_never_extrapolated():
    from rero.reporting.advice_table import utility_at

    runs = runs_table({1.0: [0.5, 0.7], 10.0: [0.55, 0.55], 100.0: [0.9, 0.9], math.inf: [1.0]})
    mean, sd, how = utility_at(10.0**0.5, runs)
    # the means 0.6, 0.55, 0.9 pool to 0.575, 0.575, 0.9 (isotonic); half way in log ε
    assert mean == pytest.approx(0.575) and how == "interpolated between ε = 1 and 10"
    assert sd == pytest.approx((math.sqrt(0.02) + 0.0) / 2)
    assert utility_at(100.5, runs)[2] == "trained at ε = 100"
    assert math.isnan(utility_at(1e3, runs)[0])
    assert utility_at(0.5, runs)[2] == "outside the trained range [1, 100]: not extrapolated"
    assert utility_at(math.inf, runs)[:2] == (1.0, 0.0)


PSNR_30 = ScratchCriterion("psnr", 30.0)
THREAT_CONSTRAINTS = {
    "identification": lambda risk: Constraint("reconstruction", 0.01, risk),
    "from-scratch": lambda risk: ScratchConstraint(PSNR_30, 784, 12.0, risk),
    "from-scratch-run": lambda risk: ScratchConstraint(PSNR_30, 784, 12.0, risk, whole_run=True),
}


@pytest.mark.parametrize("threat", THREATS)
def test_advice_round_trips_for_each_threat_model(threat):
    """The advised ε's bound is at most the tolerated risk; slightly more ε (σ one search
    tolerance lower) exceeds it."""
    sample_rate, steps, delta = 0.032, 256, 1e-5
    constraint = THREAT_CONSTRAINTS[threat](0.05)
    answer = advise([constraint], sample_rate, steps, delta)
    assert constraint.at(answer["sigma"], sample_rate, steps) == answer["bound"] <= 0.05
    more = answer["sigma"] / SIGMA_RATIO_TOLERANCE
    assert epsilon_for(more, sample_rate, steps, delta).epsilon > answer["epsilon"]
    assert constraint.at(more, sample_rate, steps) > 0.05
    assert answer["constraints"][0]["kind"] == (
        "reconstruction" if threat == THREATS[0] else threat
    )


def test_one_release_from_scratch_sigma_is_the_inverted_incomplete_gamma():
    """P(N/2, eta N / (2 sigma^2 ||X||^2)) = r at sigma = sqrt(eta N / (2 P^-1(N/2, r))) / ||X||."""
    exact = math.sqrt(1e-3 * 784 / (2 * special.gammaincinv(392, 0.1))) / 12.0
    found = least_sigma(ScratchConstraint(PSNR_30, 784, 12.0, 0.1), 0.032, 256)
    assert exact * (1 - 1e-9) <= found.sigma <= exact * SIGMA_RATIO_TOLERANCE
    free = least_sigma(ScratchConstraint(PSNR_30, 784, 12.0, 0.5, whole_run=True), 0.001, 10)
    assert free.sigma == 0 and free.bound == pytest.approx(1 - 0.999**10)  # k = 0 fails
    with pytest.raises(ValueError, match="max risk 0"):
        ScratchConstraint(PSNR_30, 784, 12.0, 0.0)


def test_the_advice_table_gives_the_from_scratch_rows_at_the_median_norm(tmp_path):
    from rero.reporting.advice_table import advice_table

    plans, metrics = [], []
    for target, sigma in ((8.0, 0.5), (1e9, 1e-4)):
        plan = toy_plan(target, n=1000, batch=32, epochs=1, sigma=sigma)
        plans.append(tmp_path / f"plan_{target:g}.json")
        write_plan(plans[-1], plan)
        metrics.append(tmp_path / f"metrics_{target:g}.json")
        scores = {"accuracy": 0.5, "balanced_accuracy": 0.5, "auroc": 0.5, "mcc": 0.5}
        record = {"dataset": "toy", "plan": plan.to_dict(), "task": "classification"}
        write_json(metrics[-1], record | {"seed": 0, "test": scores})
    norms = np.array([6.0, 10.0, 12.0, 14.0])
    table = from_scratch_table([read_plan(plans[0])], norms, 784, [PSNR_30], clip_norm=1.0)
    table.to_csv(tmp_path / "toy_from_scratch.csv", index=False)
    advice = advice_table(
        plans, metrics, [], [0.05, 0.5], [], "rdp", tmp_path / "toy_from_scratch.csv"
    )
    assert advice["threat"].tolist() == ["from-scratch"] * 2 + ["from-scratch-run"] * 2
    assert (advice["norm"] == "median").all() and (advice["data_norm"] == 11.0).all()
    assert (advice["at_label"] == "PSNR ≥ 30 dB").all() and (
        advice["bound"] <= advice["max_risk"]
    ).all()
    assert advice["bound_kind"].str.contains("not on every adversary").all()


def test_cli_advises_against_the_from_scratch_threat(capsys):
    base = ["advise", "--sample-rate", "0.032", "--steps", "256", "--delta", "1e-5"]
    image = ["--psnr", "30", "--dimension", "784", "--data-norm", "12"]
    assert main([*base, "--threat", "from-scratch-run", *image, "--max-risk", "0.05"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["threat"] == "from-scratch-run"
    assert answer["risks"]["from_scratch"]["whole_run"] == answer["bound"] <= 0.05
    assert main([*base, "--threat", "from-scratch", "--max-risk", "0.05"]) == 2
    assert "--threat from-scratch needs --psnr or --mse" in capsys.readouterr().err
    assert main([*base, "--threat", "from-scratch", "--psnr", "30", "--max-risk", "0.05"]) == 2
    assert "needs --dimension and --data-norm, or --data-dir" in capsys.readouterr().err
