"""Locating where an attack starts to work, on synthetic attacks with a known threshold."""

from __future__ import annotations

import math

import pytest

from rero.attacks.transition import locate_transition


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
