"""The privacy audit: its statistics against hand-worked cases and scipy, its canaries, and the
audit of the real training code, which must flag a broken step and pass the real one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from rero.audit.canaries import GradientCanaries, mislabelled
from rero.audit.fdp import empirical_epsilon
from rero.audit.game import judge, subsampled_gaussian_scores
from rero.audit.record import audit_record
from rero.audit.runner import AuditBatches, AuditedRun, AuditSettings, run_audit
from rero.audit.statistics import (
    clopper_pearson,
    epsilon_lower_bound,
    guess_accuracy_bound,
    p_value,
    top_guesses,
)
from rero.data.prepare import read_meta
from rero.data.store import load_split
from rero.privacy.calibration import calibrate
from rero.reporting.summary import audit_columns
from rero.training.batches import ArrayBatches
from rero.training.config import TrainConfig
from tests.helpers import prepare_toy_dataset

# -- statistics ----------------------------------------------------------------------------------


def test_all_guesses_right_without_delta_is_the_clopper_pearson_limit_by_hand():
    # 10 of 10 right at level 0.05: p^10 = 0.05, so p = 0.05^(1/10) and ε = ln(p / (1 - p))
    accuracy = 0.05**0.1
    expected = math.log(accuracy / (1 - accuracy))  # 1.0518...
    assert epsilon_lower_bound(10, 10, 10, delta=0.0, alpha=0.05) == pytest.approx(expected, 1e-9)
    assert expected == pytest.approx(1.0518, abs=1e-4)


def test_p_value_with_delta_two_guesses_by_hand():
    # r = v = 2: P[B >= 2] = p^2, and the δ term's max over i of P[2 - i <= B < 2] / i is
    # max(P[B = 1], P[B <= 1] / 2) = max(2p(1 - p), (1 - p^2) / 2)
    epsilon, delta, canaries = 1.5, 1e-3, 40
    p = math.exp(epsilon) / (1 + math.exp(epsilon))
    expected = p**2 + 2 * canaries * delta * max(2 * p * (1 - p), (1 - p**2) / 2)
    assert p_value(canaries, 2, 2, epsilon, delta) == pytest.approx(expected, rel=1e-12)
    assert guess_accuracy_bound(epsilon) == pytest.approx(p)


def test_without_delta_the_p_value_is_the_binomial_tail():
    for correct in (0, 7, 30):
        expected = stats.binom.sf(correct - 1, 40, guess_accuracy_bound(0.7))
        assert p_value(100, 40, correct, 0.7, 0.0) == pytest.approx(expected, rel=1e-12)


def test_the_bound_is_where_the_p_value_crosses_the_level():
    bound = epsilon_lower_bound(1000, 100, 95, delta=1e-5, alpha=0.05)
    assert 0 < bound < 20
    assert (
        p_value(1000, 100, 95, bound - 1e-6, 1e-5)
        < 0.05
        <= p_value(1000, 100, 95, bound + 1e-6, 1e-5)
    )
    assert epsilon_lower_bound(1000, 100, 50, delta=1e-5) == 0.0  # chance level proves nothing
    # δ only weakens the bound
    assert bound < epsilon_lower_bound(1000, 100, 95, delta=0.0, alpha=0.05)


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (3, 10), (10, 10), (57, 200)])
def test_clopper_pearson_equals_scipy_exact_interval(successes, trials):
    interval = stats.binomtest(successes, trials).proportion_ci(0.95, method="exact")
    low, high = clopper_pearson(successes, trials, 0.95)
    assert (low, high) == pytest.approx((interval.low, interval.high), abs=1e-12)


def test_top_guesses_break_ties_by_index():
    assert top_guesses(np.array([1.0, 3.0, 3.0, 0.0]), 2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="guesses: expected 1 to 4"):
        top_guesses(np.zeros(4), 5)


def test_subsampled_gaussian_scores_closed_forms():
    observations = np.array([[0.3, -1.0], [2.0, 0.5]])  # 2 steps x 2 canaries
    mu, q = 1.2, 0.1
    expected = np.log(1 - q + q * np.exp(mu * observations - mu**2 / 2)).sum(axis=0)
    assert subsampled_gaussian_scores(observations, q, mu) == pytest.approx(expected, rel=1e-12)
    full = (mu * observations - mu**2 / 2).sum(axis=0)
    assert subsampled_gaussian_scores(observations, 1.0, mu) == pytest.approx(full, rel=1e-12)


def test_judge_tests_each_guess_count_at_a_bonferroni_level():
    scores = np.arange(100.0)
    included = np.arange(100) >= 60  # the 40 top-scored are in
    mechanism = (1.0, 0.5, 4)
    result = judge(scores, included, [10, 40, 80], 1e-5, 0.9, mechanism)
    assert result["level_per_count"] == pytest.approx(0.1 / 3)
    assert [trial["correct"] for trial in result["guess_counts"]] == [10, 40, 40]
    assert result["guesses"] == 40 and result["correct"] == 40
    assert result["epsilon_lower"] == pytest.approx(
        epsilon_lower_bound(100, 40, 40, 1e-5, 0.1 / 3), rel=1e-12
    )
    counts = [(10, 10), (40, 40), (80, 40)]
    assert (
        result["epsilon_fdp_lower"]
        == empirical_epsilon(counts, 100, mechanism, 1e-5, 0.1 / 3)["epsilon_lower"]
    )
    assert result["accuracy_ci"] == pytest.approx(list(clopper_pearson(40, 40, 0.9)))


# -- canaries ------------------------------------------------------------------------------------


def test_gradient_canary_rows_are_dirac_vectors_in_their_coordinates():
    parameters = [torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(4))]
    canaries = GradientCanaries(np.array([1, 5, 7]), norm=10.0)  # coordinate 7 is in the second
    rows = canaries.rows(parameters, [2, 0])
    assert [tuple(row.shape) for row in rows] == [(2, 2, 3), (2, 4)]
    flat = torch.cat([row.flatten(1) for row in rows], dim=1)
    assert flat.norm(dim=1).tolist() == [10.0, 10.0]
    assert flat[0, 7] == 10.0 and flat[1, 1] == 10.0


def test_audit_batches_gather_data_then_input_canaries_and_note_gradient_canaries():
    data = ArrayBatches(np.full((3, 1, 2, 2), 10, np.uint8), np.array([0, 1, 2]))
    batches = AuditBatches(
        data, np.full((2, 1, 2, 2), 255, np.uint8), np.array([1, 0]), np.array([4, 9])
    )
    assert len(batches) == 3 + 2 + 2
    images, labels = batches.__getitems__([6, 0, 4, 3, 5])
    assert labels.tolist() == [0, 0, 1] and images[0].max() < 1.0 == images[-1].max()
    assert batches.drawn == [9, 4]


def test_mislabelled_canaries_carry_a_wrong_label():
    labels = np.arange(30) % 3
    images = np.arange(30)[:, None]
    chosen, wrong = mislabelled(images, labels, 3, 12, np.random.default_rng(0))
    assert len(set(chosen[:, 0])) == 12
    assert np.all(wrong != labels[chosen[:, 0]]) and wrong.min() >= 0 and wrong.max() <= 2


# -- the audit of the real training code ---------------------------------------------------------

CLAIMED_EPSILON = 1.0
SETTINGS = AuditSettings(gradient_canaries=500, input_canaries=60, guesses=(25, 50))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy dataset (240 training images) and a plan calibrated by the real accountant to
    ε = 1 at δ = 1e-5 (q = 0.25, T = 8)."""
    folder = prepare_toy_dataset(tmp_path_factory.mktemp("audit") / "toy", n_train=240, n_eval=80)
    plan = calibrate(CLAIMED_EPSILON, 0.25, 8, 1e-5)
    return folder, plan


def audit(toy, settings: AuditSettings = SETTINGS) -> dict:
    folder, plan = toy
    config = TrainConfig(clip_norm=1.0, physical_batch_size=32, progress=False)
    return run_audit(
        plan,
        config,
        read_meta(folder),
        load_split(folder, "train"),
        load_split(folder, "val"),
        settings,
        torch.device("cpu"),
        deterministic=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("claimed_epsilon", [CLAIMED_EPSILON, 8.0])
def test_the_audit_of_the_real_training_code_stays_below_its_claim(toy, claimed_epsilon):
    folder, plan = toy
    if claimed_epsilon != CLAIMED_EPSILON:
        plan = calibrate(claimed_epsilon, plan.sample_rate, plan.steps, plan.delta)
    results = audit((folder, plan))["results"]
    assert plan.epsilon <= claimed_epsilon
    for access in ("white_box", "black_box"):
        assert 0 <= results[access]["epsilon_lower"] <= plan.epsilon, results[access]
        assert 0 <= results[access]["epsilon_fdp_lower"] <= plan.epsilon, results[access]
    assert results["white_box"]["canaries"] == 500 and results["black_box"]["canaries"] == 60
    for kind in ("epsilon_composed", "epsilon_composed_fdp"):
        assert 0 <= results["white_box"][kind] <= plan.epsilon, results["white_box"]
        assert kind not in results["black_box"]
    if claimed_epsilon == 8.0:  # the white-box auditor sees the canaries: its bounds are not 0
        white_box = results["white_box"]
        assert 0 < white_box["epsilon_lower"] < white_box["epsilon_fdp_lower"], white_box
        assert 0 < white_box["epsilon_composed"] < white_box["epsilon_composed_fdp"], white_box


def _less_noise(run: AuditedRun) -> None:
    run.dp_optimizer.noise_multiplier *= 0.1


def _no_clipping(run: AuditedRun) -> None:
    # the same noise std σC, but a clipping norm nothing reaches
    run.dp_optimizer.noise_multiplier /= 1e6
    run.dp_optimizer.max_grad_norm *= 1e6


@pytest.mark.slow
@pytest.mark.parametrize("bug", [_less_noise, _no_clipping], ids=["noise x 0.1", "no clipping"])
def test_the_audit_of_a_broken_step_exceeds_the_claim(toy, monkeypatch, bug):
    make_private = AuditedRun._make_private

    def broken(run: AuditedRun) -> None:
        make_private(run)
        bug(run)

    monkeypatch.setattr(AuditedRun, "_make_private", broken)
    result = audit(toy, AuditSettings(gradient_canaries=500, guesses=(25, 50)))["results"]
    assert result["white_box"]["epsilon_lower"] > toy[1].epsilon, result["white_box"]
    assert result["white_box"]["epsilon_fdp_lower"] > toy[1].epsilon, result["white_box"]
    assert result["white_box"]["epsilon_composed"] > toy[1].epsilon, result["white_box"]
    assert result["white_box"]["epsilon_composed_fdp"] > toy[1].epsilon, result["white_box"]


@pytest.mark.slow
def test_the_audit_is_deterministic_for_a_seed(toy):
    settings = AuditSettings(gradient_canaries=200, input_canaries=40, guesses=(20,), seed=3)
    first, second = audit(toy, settings)["results"], audit(toy, settings)["results"]
    assert first == second
    other = audit(toy, AuditSettings(gradient_canaries=200, input_canaries=40, guesses=(20,)))
    assert other["results"] != first


def test_the_record_and_the_summary_columns_name_the_access(toy, tmp_path):
    from rero.runtime.io import write_json

    record = audit_record(toy[1], SETTINGS, audit(toy))
    assert record["white_box"]["access"] == "white-box"
    assert record["claimed"]["epsilon"] == toy[1].epsilon and record["confidence"] == 0.95
    assert record["white_box"]["exceeds_claim"] is record["white_box"]["fdp_exceeds_claim"] is False
    path = tmp_path / "eps_1.json"
    write_json(path, {**record, "dataset": "toy"})
    columns = audit_columns([path])
    row = columns.iloc[0]
    assert row["audit_epsilon_lower_white_box"] == record["white_box"]["epsilon_lower"]
    assert row["audit_epsilon_lower_black_box"] == record["black_box"]["epsilon_lower"]
    assert row["audit_epsilon_fdp_lower_white_box"] == record["white_box"]["epsilon_fdp_lower"]
    assert row["audit_epsilon_composed_white_box"] == record["white_box"]["epsilon_composed"]
    assert record["white_box"]["composed_fdp_exceeds_claim"] is False
    assert "audit_epsilon_composed_black_box" not in columns


def test_the_audit_writes_progress_lines_for_its_trainings_and_each_auditor(toy, capsys):
    folder, plan = toy
    config = TrainConfig(clip_norm=1.0, physical_batch_size=32, progress=True)
    settings = AuditSettings(gradient_canaries=200, input_canaries=40, runs=2, guesses=(20,))
    meta = read_meta(folder)
    train, held_out = load_split(folder, "train"), load_split(folder, "val")
    device = torch.device("cpu")
    result = run_audit(plan, config, meta, train, held_out, settings, device, deterministic=True)
    lines = capsys.readouterr().err.splitlines()
    prefix = f"audit {meta['dataset']} eps={plan.target_epsilon}"
    total = settings.runs * plan.steps
    training = [line for line in lines if line.startswith(f"{prefix}, training: step ")]
    assert training[-1].startswith(f"{prefix}, training: step {total}/{total} (100%)")
    assert "run 2/2, loss " in training[-1] and "RDP upper bound on ε so far" in training[-1]
    judging = [line for line in lines if line.startswith(f"{prefix}, judging: step ")]
    white_box, black_box = result["results"]["white_box"], result["results"]["black_box"]
    assert len(judging) == 3, lines
    for done, line in enumerate(judging, 1):
        assert line.startswith(f"{prefix}, judging: step {done}/3 ("), line
    assert f"white-box: ε ≥ {white_box['epsilon_lower']:.3g}" in judging[0]
    assert f"family ε ≥ {black_box['epsilon_fdp_lower']:.3g}" in judging[1]
    assert f"composed: ε ≥ {white_box['epsilon_composed']:.3g}" in judging[2]


def test_settings_refuse_more_guesses_than_canaries():
    with pytest.raises(ValueError, match=r"guesses: \[25, 500\]; expected each in \[1, 100\]"):
        AuditSettings(gradient_canaries=100, guesses=(25, 500))


def test_the_audit_figure_draws_audited_and_unaudited_studies(tmp_path):
    import pandas as pd

    from rero.reporting.figures.audit import audit_vs_claim

    summary = pd.DataFrame(
        {
            "dataset": ["a", "a"],
            "target_epsilon": [1.0, 8.0],
            "epsilon": [0.99, 7.96],
            "delta": [1e-5, 1e-5],
            "audit_epsilon_lower_white_box": [np.nan, 2.6],
            "audit_epsilon_lower_black_box": [np.nan, 0.0],
            "audit_epsilon_fdp_lower_white_box": [np.nan, 4.0],
            "audit_epsilon_fdp_lower_black_box": [np.nan, 0.0],
            "audit_epsilon_composed_white_box": [np.nan, 3.9],
            "audit_epsilon_composed_fdp_white_box": [np.nan, 6.3],
        }
    )
    audit_vs_claim(summary, tmp_path / "audited.png")
    audit_vs_claim(summary.iloc[:1], tmp_path / "none.png")
    for name in ("audited", "none"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
