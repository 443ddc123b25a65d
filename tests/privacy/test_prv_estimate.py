"""The PRV accountant's own estimate recorded in each privacy plan beside its certified bracket:
where it lies, why it is missing where PRV refuses, and that neither a refusal nor a failure of
prv-accountant changes or stops a calibration."""

from __future__ import annotations

import math

import pytest

import rero.privacy.accounting.prv as prv
from rero.privacy.accounting.base import AccountantUnavailableError, EpsilonResult
from rero.privacy.calibration import calibrate, calibrate_grid
from rero.privacy.plan import PRV_NOT_ESTIMATED, PrivacyPlan

# the default study's schedule (q = 256/8000, T = 256, δ = 1e-5)
Q, T, DELTA = 256 / 8000, 256, 1e-5


@pytest.fixture(scope="module")
def plans() -> dict[float, PrivacyPlan]:
    targets = [8.0, 1e9, math.inf]
    return dict(zip(targets, calibrate_grid(targets, Q, T, DELTA), strict=True))


def test_a_plan_records_the_prv_estimate_within_its_certified_bracket(plans):
    plan = plans[8.0]
    assert plan.accountant == "pld"  # the estimate is recorded, never reported as ε
    assert plan.epsilon_lower <= plan.prv_epsilon_estimate <= plan.epsilon
    assert f"estimate {plan.prv_epsilon_estimate:.6g}" in plan.prv_note
    assert f"lies within the certified bracket [{plan.epsilon_lower:.6g}, " in plan.prv_note
    assert "an estimate, not a bound: epsilon reports the certified upper end" in plan.prv_note


def test_where_prv_refuses_the_plan_says_why(plans):
    plan = plans[1e9]
    assert plan.accountant == "inclusions" and plan.prv_epsilon_estimate is None
    assert plan.prv_note.startswith("PRV estimate refused: PRV domain half-width")
    assert plans[math.inf].prv_epsilon_estimate is None
    assert plans[math.inf].prv_note == "non-private run: no ε to estimate"


@pytest.mark.parametrize(
    "failure",
    [AccountantUnavailableError("too many bins"), RuntimeError("boom"), MemoryError("no room")],
    ids=["refused", "RuntimeError", "MemoryError"],
)
def test_a_refusing_or_failing_prv_never_changes_or_stops_calibration(plans, monkeypatch, failure):
    def failing(*args: float) -> tuple[float, float, float]:
        raise failure

    monkeypatch.setattr(prv, "prv_epsilon", failing)
    plan = calibrate(8.0, Q, T, DELTA)
    expected = plans[8.0]
    assert (plan.sigma, plan.epsilon, plan.epsilon_lower) == (
        expected.sigma,
        expected.epsilon,
        expected.epsilon_lower,
    )
    assert plan.prv_epsilon_estimate is None
    if isinstance(failure, AccountantUnavailableError):
        assert plan.prv_note == "PRV estimate refused: too many bins"
    else:
        assert plan.prv_note == f"PRV estimate failed: {type(failure).__name__}: {failure}"


def test_a_sigma_lookup_leaves_the_estimate_out(monkeypatch):
    def unexpected(*args: float) -> tuple[float, float, float]:
        raise AssertionError("PRV asked for")

    monkeypatch.setattr(prv, "prv_epsilon", unexpected)
    plan = calibrate(8.0, Q, T, DELTA, estimate_prv=False)
    assert plan.prv_epsilon_estimate is None and plan.prv_note == PRV_NOT_ESTIMATED


def _prv_returns(monkeypatch, values: tuple[float, float, float]) -> None:
    monkeypatch.setattr(prv, "prv_epsilon", lambda *args: values)


def test_an_estimate_outside_the_bracket_is_recorded_as_off(monkeypatch):
    _prv_returns(monkeypatch, (976.6, 981.6, 986.6))
    certified = EpsilonResult(991.1, 989.4, "pld", "")
    estimate = prv.prv_estimate(0.3, 1 / 106, 53_000, 8e-7, 10.0, certified)
    assert estimate.estimate == 981.6
    assert (
        "lies 7.8 below the certified bracket [989.4, 991.1] of pld (the true ε is not below it)"
        in estimate.note
    )


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (5.0, "below the certified upper bound 6 of rdp"),
        (7.5, "1.5 above the certified upper bound 6 of rdp (the true ε is not above it)"),
    ],
)
def test_an_upper_bound_alone_is_compared_from_one_side(monkeypatch, value, where):
    _prv_returns(monkeypatch, (value - 0.1, value, value + 0.1))
    certified = EpsilonResult(6.0, None, "rdp", "")
    assert f"lies {where};" in prv.prv_estimate(1.0, 0.1, 100, 1e-5, 0.1, certified).note


def test_a_negative_estimate_is_refused(monkeypatch):
    _prv_returns(monkeypatch, (0.0, -1e-4, 1e-3))
    estimate = prv.prv_estimate(50.0, 0.01, 10, 1e-5, 1e-3, EpsilonResult(1e-3, 0.0, "pld", ""))
    assert estimate.estimate is None
    assert estimate.note == "PRV estimate refused: prv-accountant returned -0.0001"


def test_the_plan_refuses_a_negative_or_infinite_estimate(plans):
    data = plans[8.0].to_dict()
    for value in (-1.0, math.inf):
        with pytest.raises(ValueError, match="prv_epsilon_estimate="):
            PrivacyPlan.from_dict({**data, "prv_epsilon_estimate": value})
    assert PrivacyPlan.from_dict(data) == plans[8.0]
