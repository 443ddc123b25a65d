"""Locating where an attack starts to work, on synthetic attacks with a known threshold, by the
paper's success or another of the attack's criteria."""

from __future__ import annotations

import math

import pytest

from rero.attacks.job import CalibrationPolicy, ImprintSettings
from rero.attacks.success import SuccessCriterion
from rero.attacks.transition import (
    budget_keyed,
    criterion_rate,
    locate_transition,
    transition_job,
)
from rero.privacy.plan import write_plan
from rero.reporting.columns import describe_column
from rero.reporting.summary import transition_columns
from rero.runtime.io import read_json, write_json
from tests.helpers import toy_plan
from tests.helpers.attacks import prepared_fields


def step_attack(threshold: float, calls: list[float]):
    """Success 0 below ``threshold``, 1 from it on; records the budgets attacked."""

    def attack_at(epsilon: float) -> float:
        calls.append(epsilon)
        return 1.0 if epsilon >= threshold else 0.0

    return attack_at


@pytest.mark.parametrize("threshold", [3.0, 70.0, 999.0])
def test_the_bracket_holds_the_known_threshold_and_shrinks_by_bisection(threshold):
    grid = [1.0, 10.0, 100.0, 1000.0, math.inf]
    calls: list[float] = []
    attack = step_attack(threshold, calls)
    measured = {eps: (1.0 if eps >= threshold else 0.0) for eps in grid}
    found = locate_transition(measured, attack, 0.5, bisections=6)
    assert found.low < threshold <= found.high
    assert math.log(found.high / found.low) == pytest.approx(math.log(10) / 2**6)
    assert len(calls) == 6 and all(1 < eps < 1000 for eps in calls)


def test_a_level_never_reached_or_reached_at_once_is_said_so():
    never = locate_transition({1.0: 0.0, 8.0: 0.1}, lambda eps: 0.0, 0.5)
    assert (never.low, never.high) == (8.0, math.inf) and "not reached" in never.note
    first = locate_transition({1.0: 0.6, 8.0: 0.9}, lambda eps: 1.0, 0.5)
    assert (first.low, first.high) == (0.0, 1.0) and "smallest budget" in first.note


def test_first_success_is_strictly_above_zero():
    measured = {1.0: 0.0, 10.0: 0.0, 100.0: 0.25}
    found = locate_transition(
        measured, lambda eps: 0.25 if eps > 30 else 0.0, 0.0, strict=True, bisections=3
    )
    assert 10.0 <= found.low < 30 < found.high <= 100.0


def test_the_first_crossing_is_taken_when_noise_makes_success_dip():
    measured = {1.0: 0.0, 10.0: 0.6, 100.0: 0.4, 1000.0: 0.9}
    found = locate_transition(measured, lambda eps: 0.6, 0.5, bisections=0)
    assert (found.low, found.high) == (1.0, 10.0)
    with pytest.raises(ValueError, match=r"level=1\.5"):
        locate_transition(measured, lambda eps: 0.0, 1.5)


# ------------------------------------------------------------ success by another criterion

IMPRINT = {
    "clip_norm": 0.5,
    "batch_size": 8,
    "num_batches": 2,
    "num_bins": 16,
    "ssim_threshold": 0.95,
    "noise_calibration": "full",
    "reference_split": "val",
}
PSNR = SuccessCriterion("raw_psnr", 30.0)


def _imprint_record(target: float, paper: float, by_psnr: float) -> dict:
    plan = toy_plan(target, n=120, batch=30, epochs=10, dataset="tiny")
    rates = ((SuccessCriterion("ssim", 0.95), paper), (PSNR, by_psnr))
    criteria = [{"label": c.label, "criterion": c.text, "success_rate": r} for c, r in rates]
    return {"dataset": "tiny", "plan": plan.to_dict(), "success_rate": paper, "criteria": criteria}


def test_the_transition_of_a_psnr_criterion_reads_its_rates_and_names_it(tmp_path):
    data_dir = prepared_fields(tmp_path)
    plans, records = [], []
    for target, paper, by_psnr in ((1.0, 0.0, 0.0), (100.0, 0.0, 0.75)):
        plans.append(tmp_path / f"plan_{target:g}.json")
        records.append(tmp_path / f"imprint_{target:g}.json")
        write_plan(plans[-1], toy_plan(target, n=120, batch=30, epochs=10, dataset="tiny"))
        write_json(records[-1], _imprint_record(target, paper, by_psnr))
    job = {"bisections": 0, "seed": 0, "policy": CalibrationPolicy("rdp", 0.1), "device": "cpu"}
    settings = ImprintSettings(**IMPRINT, success=(PSNR,))
    by_psnr = transition_job(data_dir, plans, records, settings, [0.5], criterion=PSNR, **job)
    paper = transition_job(data_dir, plans, records, settings, [0.5], **job)
    assert by_psnr["success_criterion"]["label"] == "raw_psnr_ge_30"
    assert paper["success_criterion"]["label"] == "ssim_ge_0.95"  # the default, as before
    psnr_half, paper_half = by_psnr["transitions"][0], paper["transitions"][0]
    assert (psnr_half["epsilon_low"], psnr_half["epsilon_high"]) == (1.0, 100.0)
    assert paper_half["epsilon_high"] == math.inf  # never reached by SSIM
    write_json(tmp_path / "by_psnr.json", by_psnr)
    columns = transition_columns([tmp_path / "by_psnr.json"]).columns
    assert "imprint_transition_raw_psnr_ge_30_>=0.5_eps_low" in columns
    assert "PSNR ≥ 30 dB" in describe_column("imprint_transition_raw_psnr_ge_30_>=0.5_eps_low")


def test_a_transition_criterion_the_attack_does_not_report_is_refused(tmp_path):
    job = {"bisections": 0, "seed": 0, "policy": CalibrationPolicy("rdp", 0.1)}
    settings = ImprintSettings(**IMPRINT)
    with pytest.raises(ValueError, match=r"raw_psnr ≥ 30 dB: expected one of .*ssim ≥ 0\.95"):
        transition_job(tmp_path, [], [], settings, [0.5], criterion=PSNR, **job)
    record = _imprint_record(8.0, 0.0, 0.5)
    record["criteria"] = record["criteria"][:1]
    with pytest.raises(ValueError, match=r"old\.json: the imprint record reports no .*raw_psnr"):
        criterion_rate(record, PSNR, "old.json")
    assert criterion_rate(record, SuccessCriterion("ssim", 0.95), "old.json") == 0.0


def test_budgets_that_agree_to_six_digits_keep_their_own_keys(tmp_path):
    """transition.json keys every budget by its exact token: two budgets that agree to 6
    significant digits are two keys, each read back as its budget."""
    data_dir = prepared_fields(tmp_path)
    close = (1.0000001, 1.0000002)
    plans, records = [], []
    for index, (target, paper) in enumerate(((close[0], 0.0), (close[1], 1.0), (math.inf, 1.0))):
        plans.append(tmp_path / f"plan_{index}.json")
        records.append(tmp_path / f"imprint_{index}.json")
        write_plan(plans[-1], toy_plan(target, n=120, batch=30, epochs=10, dataset="tiny"))
        write_json(records[-1], _imprint_record(target, paper, paper))
    job = {"bisections": 0, "seed": 0, "policy": CalibrationPolicy("rdp", 0.1), "device": "cpu"}
    record = transition_job(data_dir, plans, records, ImprintSettings(**IMPRINT), [0.5], **job)
    write_json(tmp_path / "transition.json", record)
    read = read_json(tmp_path / "transition.json")
    assert list(read["measured"]) == ["1.0000001", "1.0000002", "inf"]
    assert {float(key) for key in read["measured"]} == {*close, math.inf}
    half = read["transitions"][0]
    assert (half["epsilon_low"], half["epsilon_high"]) == close
    midpoints = {math.sqrt(close[0] * close[1]): 0.5, 2.5e-05: 0.0, 8.0: 1.0, close[0]: 0.0}
    keyed = budget_keyed(midpoints)
    assert list(keyed)[:2] == ["2.5e-05", "1.0000001"] and keyed["8"] == 1.0
    assert {float(key): value for key, value in keyed.items()} == midpoints
