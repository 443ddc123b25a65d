"""The privacy plan record: its schedule, strict parsing, validation, derived values and file."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from rero.privacy.accounting.base import sampling_schedule
from rero.privacy.calibration import calibrate, calibrate_grid
from rero.privacy.plan import PrivacyPlan, read_plan, write_plan
from rero.runtime.io import dumps_json, read_json, write_json
from tests.helpers import toy_plan

DELTA = 1e-5


def test_sampling_schedule():
    assert sampling_schedule(1000, 256, 10) == (0.256, 40)
    assert sampling_schedule(1000, 1000, 3) == (1.0, 3)
    plan = calibrate(
        8,
        0.256,
        40,
        1e-4,
        accountant="rdp",
        dataset="toy",
        dataset_size=1000,
        batch_size=256,
        epochs=10,
    )
    assert (plan.dataset, plan.dataset_size, plan.batch_size, plan.epochs) == (
        "toy",
        1000,
        256,
        10,
    )


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ((100, 200, 1), "batch_size"),
        ((100, 10, 0), "epochs"),
        ((100, 2.5, 1), "batch_size"),
        ((0, 1, 1), "num_examples"),
        ((100, True, 1), "batch_size"),
    ],
)
def test_sampling_schedule_rejects(arguments, match):
    with pytest.raises(ValueError, match=match):
        sampling_schedule(*arguments)


@pytest.mark.slow
def test_plan_round_trip_through_json():
    for plan in calibrate_grid([math.inf, 8], 0.01, 100, DELTA):
        data = json.loads(dumps_json(plan.to_dict()))
        assert PrivacyPlan.from_dict(data) == plan
    data = json.loads(dumps_json(calibrate(math.inf, 0.01, 100, DELTA).to_dict()))
    assert data["epsilon"] == data["target_epsilon"] == "inf"
    parsed = PrivacyPlan.from_dict(data)
    assert math.isinf(parsed.epsilon) and math.isinf(parsed.target_epsilon)


# --- strict from_dict ---------------------------------------------------------------------------


def _plan_data() -> dict:
    return toy_plan(8, 48, 16, 2).to_dict()


def test_from_dict_refuses_a_missing_key():
    data = _plan_data()
    del data["note"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['note'\], unknown key\(s\) \[\]"):
        PrivacyPlan.from_dict(data)


def test_from_dict_refuses_an_unknown_key():
    data = {**_plan_data(), "noise": 1.0}
    with pytest.raises(ValueError, match=r"missing key\(s\) \[\], unknown key\(s\) \['noise'\]"):
        PrivacyPlan.from_dict(data)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("sigma", "1.0", "sigma must be a number, got '1.0'"),
        ("sigma", "inf", "sigma must be a number, got 'inf'"),
        ("delta", True, "delta must be a number"),
        ("steps", True, "steps must be an integer, got True"),
        ("steps", 6.0, "steps must be an integer"),
        ("target_epsilon", "8", 'target_epsilon must be a number or "inf"'),
        ("dataset_size", "48", "dataset_size must be an integer"),
        ("accountant", None, "accountant must be a string"),
        ("dataset", 3, "dataset must be a string"),
    ],
)
def test_from_dict_refuses_a_wrong_type(key, value, match):
    with pytest.raises(ValueError, match=match):
        PrivacyPlan.from_dict({**_plan_data(), key: value})


def test_from_dict_refuses_a_non_object():
    with pytest.raises(ValueError, match="JSON object, got list"):
        PrivacyPlan.from_dict([_plan_data()])


def test_from_dict_accepts_inf_for_the_epsilons():
    data = {**_plan_data(), "target_epsilon": "inf", "epsilon": "inf"}
    data.update(sigma=0.0, accountant="none")
    plan = PrivacyPlan.from_dict(data)
    assert plan.target_epsilon == plan.epsilon == math.inf and not plan.private
    private = PrivacyPlan.from_dict({**_plan_data(), "epsilon": "inf"})
    assert private.private and private.epsilon == math.inf


# --- validation in __post_init__ -----------------------------------------------------------------


@pytest.mark.parametrize("change", [{"sigma": 1.0}, {"accountant": "rdp"}], ids=str)
def test_non_private_plan_needs_no_noise_and_no_accountant(change):
    plan = toy_plan(math.inf, 48, 16, 2)
    assert (plan.sigma, plan.accountant) == (0.0, "none")
    with pytest.raises(ValueError, match=r"target_epsilon=inf \(non-private\) needs sigma=0"):
        replace(plan, **change)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sigma": 0.0}, "sigma=0.0: a private plan needs a noise multiplier > 0"),
        ({"sigma": -1.0}, "sigma=-1.0"),
        ({"sigma": math.inf}, "sigma=inf"),
        ({"target_epsilon": 0.0}, "target_epsilon=0.0"),
        ({"epsilon": math.nan}, "epsilon=nan"),
        ({"epsilon_lower": 9.0}, "epsilon_lower=9.0"),
        ({"sample_rate": 0.0}, r"sample_rate=0.0: expected q = B/N in \(0, 1\]"),
        ({"sample_rate": 1.5}, "sample_rate=1.5"),
        ({"steps": 0}, "steps=0"),
        ({"delta": 1.0}, "delta=1.0: expected 0 < delta < 1"),
        ({"steps": 7}, "do not match N=48, batch_size=16, epochs=2"),
        ({"sample_rate": 0.5}, "expected q=0.3333333333333333, T=6"),
        ({"batch_size": 0}, "batch_size=0"),
    ],
)
def test_private_plan_validation(change, match):
    with pytest.raises(ValueError, match=match):
        replace(toy_plan(8, 48, 16, 2), **change)


def test_full_batch_rate_is_allowed():
    plan = toy_plan(8, 10, 10, 3)
    assert (plan.sample_rate, plan.steps) == (1.0, 3)


def test_delta_must_be_below_one_over_n():
    assert toy_plan(8, 1000, 100, 1, delta=9.9e-4).delta == 9.9e-4
    with pytest.raises(ValueError, match=r"delta=0.001 must be smaller than 1/N = 0.001"):
        toy_plan(8, 1000, 100, 1, delta=1e-3)


# --- derived values ------------------------------------------------------------------------------


def test_derived_values():
    plan = toy_plan(8, 48, 16, 2, sigma=1.5)
    assert plan.private
    assert plan.expected_batch_size(48) == pytest.approx(16.0, rel=1e-15)
    assert plan.logical_batch_size(48) == 16
    assert plan.steps_per_epoch(48) == 3
    plan.check_dataset(48)
    for method in (plan.check_dataset, plan.expected_batch_size, plan.logical_batch_size):
        with pytest.raises(ValueError, match="dataset_size 48 differs from the training set"):
            method(47)
    baseline = toy_plan(math.inf, 48, 16, 2)
    assert not baseline.private


def test_derived_values_without_a_batch_size():
    """A plan from q and T alone: B = round(qN) for any N (nothing to check it against)."""
    plan = calibrate(math.inf, 0.25, 10, DELTA)
    assert plan.batch_size is None and plan.dataset_size is None
    assert plan.logical_batch_size(100) == 25
    assert plan.steps_per_epoch(100) == 4
    assert plan.expected_batch_size(30) == 7.5
    assert plan.logical_batch_size(1) == 1


# --- the file -----------------------------------------------------------------------------------


def test_write_plan_read_plan_round_trip(tmp_path):
    private = calibrate(
        8,
        1 / 3,
        6,
        DELTA,
        accountant="rdp",
        dataset="toy",
        dataset_size=48,
        batch_size=16,
        epochs=2,
    )
    for name, plan in (("private", private), ("baseline", toy_plan(math.inf, 48, 16, 2))):
        path = tmp_path / f"{name}.json"
        write_plan(path, plan)
        assert read_plan(path) == plan
    assert read_json(tmp_path / "baseline.json")["epsilon"] == "inf"


def test_read_plan_errors_name_the_file(tmp_path):
    data = _plan_data()
    del data["sigma"]
    path = tmp_path / "plan.json"
    write_json(path, data)
    with pytest.raises(ValueError, match=r"plan\.json: not a valid privacy plan \(.*'sigma'"):
        read_plan(path)
    write_json(path, {**_plan_data(), "steps": 7})
    with pytest.raises(ValueError, match=r"plan\.json: not a valid privacy plan \(.*do not match"):
        read_plan(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        read_plan(tmp_path / "missing.json")


@pytest.mark.slow
def test_a_cross_checked_plan_records_its_check(tmp_path):
    plan = calibrate(8, 0.01, 100, DELTA, accountant="prv")
    assert plan.check_accountant == "pld"
    assert plan.check_epsilon_lower == plan.epsilon_lower <= plan.check_epsilon <= plan.epsilon
    write_plan(tmp_path / "plan.json", plan)
    assert read_plan(tmp_path / "plan.json") == plan


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"check_accountant": "pld"}, "give all three or none"),
        (
            {"check_accountant": "pld", "check_epsilon": 7.0, "check_epsilon_lower": 7.5},
            "check_epsilon_lower=7.5",
        ),
    ],
)
def test_check_fields_are_validated(change, match):
    with pytest.raises(ValueError, match=match):
        replace(toy_plan(8, 48, 16, 2), **change)
