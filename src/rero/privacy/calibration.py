"""σ calibration: the noise multiplier whose ε at δ (an accountant's upper bound) lies in
[(1 - rel_tol)·target, target], as a :class:`~rero.privacy.plan.PrivacyPlan`.

log ε is decreasing and close to linear in log σ, so secant steps in (log σ, log ε) find σ in a
few evaluations. RDP is solved first (cheap; its σ is at least that of the tighter accountants),
then each refinable accountant of :mod:`rero.privacy.accounting.registry` in turn: the search
asks for upper values alone (:func:`~rero.privacy.accounting.registry.upper`), the σ found gets
the full, cross-checked result (:func:`~rero.privacy.accounting.registry.evaluate`). Each plan
also records the PRV accountant's own estimate beside that result
(:func:`~rero.privacy.accounting.prv.prv_estimate`), or why there is none; the estimate never
decides σ and never stops a calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from rero.privacy.accounting import registry
from rero.privacy.accounting.base import (
    AccountantUnavailableError,
    EpsilonResult,
    join_notes,
    require_positive_int,
    validate_mechanism,
)
from rero.privacy.accounting.prv import prv_estimate
from rero.privacy.accounting.rdp import RDP_NOTE, rdp_epsilon
from rero.privacy.accounting.rdp_conversion import rdp_epsilon_floor
from rero.privacy.plan import (
    NON_PRIVATE_ACCOUNTANT,
    PRV_NOT_ESTIMATED,
    PrivacyPlan,
    check_schedule,
)


def calibrate(
    target_epsilon: float,
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    accountant: str = "auto",
    rel_tol: float = 0.01,
    dataset: str | None = None,
    dataset_size: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    estimate_prv: bool = True,
) -> PrivacyPlan:
    """Noise multiplier σ whose achieved ε (an upper bound) is in [(1 - rel_tol)·target, target].

    ``target_epsilon = inf`` gives the non-private plan (σ = 0, accountant "none").
    ``dataset`` (its name) and N, B, epochs are recorded in the plan; ``estimate_prv`` False
    leaves out the PRV estimate (for a caller that wants σ alone); see :func:`calibrate_grid`
    for what is refused.
    """
    return calibrate_grid(
        [target_epsilon],
        sample_rate,
        steps,
        delta,
        accountant=accountant,
        rel_tol=rel_tol,
        dataset=dataset,
        dataset_size=dataset_size,
        batch_size=batch_size,
        epochs=epochs,
        estimate_prv=estimate_prv,
    )[0]


def _require_above_rdp_floor(targets: list[float], delta: float) -> None:
    """ValueError for a target no σ reaches: the σ search starts from RDP, whose ε never falls
    below its (ε, δ) conversion term however large σ is."""
    floor = rdp_epsilon_floor(delta)
    for target in targets:
        if target <= floor:
            raise ValueError(
                f"target_epsilon={target:g}: below {floor:.3g}, the smallest ε the RDP accountant "
                f"certifies at delta={delta:g} however large σ is (its conversion term); the σ "
                f"search starts from RDP, so it needs target_epsilon > {floor:.3g} here (a larger "
                "δ lowers this floor)"
            )


def calibrate_grid(
    targets: Iterable[float],
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    accountant: str = "auto",
    rel_tol: float = 0.01,
    dataset: str | None = None,
    dataset_size: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    estimate_prv: bool = True,
) -> list[PrivacyPlan]:
    """:func:`calibrate` for many targets, in input order.

    Targets are solved in increasing order and each search starts from the previous solution
    (log ε is close to linear in log σ), so a grid costs a few evaluations per target.
    ValueError, before any search, for a target that is not > 0, q outside (0, 1], T < 1,
    δ outside (0, 1), an unknown accountant, rel_tol outside (0, 1), an empty or
    non-string dataset name, N, B or epochs not positive integers, δ ≥ 1/N, or (q, T) not the
    schedule of (N, B, epochs) (:func:`~rero.privacy.plan.check_schedule`); ValueError after the
    RDP search when no σ reaches the window, or when an explicit ``prv``/``pld`` cannot.
    """
    targets = [float(target) for target in targets]
    for target in targets:
        if math.isnan(target) or target <= 0:
            raise ValueError(f"target_epsilon={target}: expected a positive number or inf")
    validate_mechanism(sample_rate, steps, delta)
    _require_above_rdp_floor(targets, delta)
    registry.require_accountant(accountant)
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol={rel_tol}: expected a value in (0, 1)")
    if dataset is not None and not (isinstance(dataset, str) and dataset):
        raise ValueError(f"dataset={dataset!r}: expected a dataset name or None")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if value is not None:
            require_positive_int(name, value)
    check_schedule(sample_rate, steps, delta, dataset_size, batch_size, epochs)
    common = {
        "sample_rate": sample_rate,
        "steps": steps,
        "delta": delta,
        "dataset": dataset,
        "dataset_size": dataset_size,
        "batch_size": batch_size,
        "epochs": epochs,
    }
    plans: dict[int, PrivacyPlan] = {}
    hint = _SearchPoint(math.log(1.0), math.nan, -1.5)
    for index in sorted(range(len(targets)), key=lambda i: targets[i]):
        target = targets[index]
        if math.isinf(target):
            plans[index] = PrivacyPlan(
                target_epsilon=math.inf,
                epsilon=math.inf,
                epsilon_lower=None,
                sigma=0.0,
                accountant=NON_PRIVATE_ACCOUNTANT,
                note="non-private run: no clipping, no noise",
                prv_note="non-private run: no ε to estimate",
                **common,
            )
            continue
        sigma, result, hint = _calibrate_one(
            target, sample_rate, steps, delta, accountant, rel_tol, hint
        )
        check = result.check
        if estimate_prv:
            # eps_error the window's width: the estimate barely moves with it, its cost halves
            error = rel_tol * target
            estimate = prv_estimate(sigma, sample_rate, steps, delta, error, result)
            prv = {"prv_epsilon_estimate": estimate.estimate, "prv_note": estimate.note}
        else:
            prv = {"prv_epsilon_estimate": None, "prv_note": PRV_NOT_ESTIMATED}
        plans[index] = PrivacyPlan(
            target_epsilon=target,
            epsilon=result.epsilon,
            epsilon_lower=result.lower,
            sigma=sigma,
            accountant=result.accountant,
            note=result.note,
            check_accountant=None if check is None else check.accountant,
            check_epsilon=None if check is None else check.epsilon,
            check_epsilon_lower=None if check is None else check.lower,
            **prv,
            **common,
        )
    return [plans[index] for index in range(len(targets))]


# --- the σ search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SearchPoint:
    """A solved point of log ε(log σ) and the local slope d log ε / d log σ (negative)."""

    log_sigma: float
    log_epsilon: float
    slope: float


class _NoSolutionError(Exception):
    """The search did not reach the ε window within its evaluation budget."""


_MAX_LOG_STEP = 5.0


def _solve_log_sigma(
    log_epsilon_at: Callable[[float], float],
    start: _SearchPoint,
    window: tuple[float, float],
    max_evaluations: int,
) -> _SearchPoint:
    """Find log σ with window[0] ≤ log ε(σ) ≤ window[1], log ε decreasing in log σ.

    Secant steps in (log σ, log ε) aimed at the window centre (the first one with the start's
    slope); once the root is bracketed, a step that leaves the bracket or fails to land is
    followed by a bisection, so the bracket at least halves every two evaluations.
    log ε = +inf means "not computable here", which happens only below some σ: when it happens
    at the start, or the secant puts the root where it happened, the search stops at once.
    """
    low, high = window
    aim = 0.5 * (low + high)
    too_small = -math.inf  # largest log σ seen with ε above the window or not computable
    too_large = math.inf  # smallest log σ seen with ε below the window
    unavailable = -math.inf  # largest log σ where ε was not computable
    slope = start.slope
    previous: tuple[float, float] | None = None
    x = start.log_sigma
    bisect = False
    for evaluation in range(max_evaluations):
        y = log_epsilon_at(x)
        if low <= y <= high:
            return _SearchPoint(x, y, slope)
        if y == math.inf and evaluation == 0:
            raise _NoSolutionError("not computable at the starting sigma")
        if y > high:
            too_small = max(too_small, x)
            if math.isinf(y):
                unavailable = max(unavailable, x)
        else:
            too_large = min(too_large, x)
        if math.isfinite(y):
            if previous is not None and x != previous[0]:
                secant = (y - previous[1]) / (x - previous[0])
                if secant < 0:
                    slope = secant
            previous = (x, y)
        if previous is None:
            candidate = x + (_MAX_LOG_STEP if y > high else -_MAX_LOG_STEP)
        else:
            step = (aim - previous[1]) / slope
            candidate = previous[0] + max(-_MAX_LOG_STEP, min(_MAX_LOG_STEP, step))
        if candidate <= unavailable:
            raise _NoSolutionError("the epsilon window lies where this accountant cannot compute")
        if math.isfinite(too_small) and math.isfinite(too_large):
            if too_large - too_small < 1e-12:
                break
            if bisect or not too_small < candidate < too_large:
                candidate = 0.5 * (too_small + too_large)
                bisect = False
            else:
                bisect = True
        x = candidate
    raise _NoSolutionError(
        f"no sigma reached the epsilon window within {max_evaluations} evaluations"
    )


def _log_or_inf(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf


def _calibrate_one(
    target: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str,
    rel_tol: float,
    hint: _SearchPoint,
) -> tuple[float, EpsilonResult, _SearchPoint]:
    """σ, its EpsilonResult and the RDP search point (the next target's starting point).

    1. RDP (cheap) in the window [(1-rel_tol)·target, target]; RDP's σ is at least the PRV/PLD σ.
    2. Each refinable accountant from there, with fine evaluations (eps_error = rel_tol/2·target)
       that put its upper bound in the window, then the full result at that σ (its lower bound,
       and for PRV the cross-check against PLD); PRV first locates σ with coarse ones
       (:attr:`~rero.privacy.accounting.registry.RefinableAccountant.coarse_search`).
    3. ``auto`` falls through small-σ → PLD → RDP when an accountant is unavailable; an
       explicit accountant that cannot reach the window is a ValueError.
    """
    # 1e-12 below log(target): ε ≤ target also after rounding.
    window = (math.log((1 - rel_tol) * target), math.log(target) - 1e-12)
    start = _SearchPoint(
        hint.log_sigma + (math.log(target) - hint.log_epsilon) / hint.slope
        if math.isfinite(hint.log_epsilon)
        else hint.log_sigma,
        math.nan,
        hint.slope,
    )
    try:
        rdp_point = _solve_log_sigma(
            lambda x: _log_or_inf(rdp_epsilon(math.exp(x), sample_rate, steps, delta)),
            start,
            window,
            max_evaluations=80,
        )
    except _NoSolutionError as error:
        raise ValueError(
            f"target_epsilon={target}: no noise multiplier found with the RDP accountant ({error})"
        ) from error
    rdp_sigma = math.exp(rdp_point.log_sigma)
    rdp_result = EpsilonResult(
        rdp_epsilon(rdp_sigma, sample_rate, steps, delta), None, "rdp", RDP_NOTE
    )
    if accountant == "rdp":
        return rdp_sigma, rdp_result, rdp_point
    fine_error = 0.5 * rel_tol * target
    refused: list[str] = []
    for name in registry.refinable_order(accountant):
        start = registry.REFINABLE[name].start
        point = rdp_point
        if start is not None:
            log_sigma = math.log(start(target, sample_rate, steps, delta))
            point = _SearchPoint(log_sigma, math.nan, -2.0)  # ε ∝ σ^-2 at small σ
        try:
            sigma, result = _calibrate_with(
                name, sample_rate, steps, delta, window, fine_error, point
            )
        except AccountantUnavailableError as reason:
            refused.append(f"{name} not used: {reason}")
            continue
        return sigma, replace(result, note=join_notes(result.note, *refused)), rdp_point
    if accountant != "auto":
        raise ValueError(
            f"target_epsilon={target}: the {accountant} accountant cannot calibrate sigma here "
            f"({refused[0]}); use accountant='auto'"
        )
    note = join_notes(rdp_result.note, *refused)
    return rdp_sigma, EpsilonResult(rdp_result.epsilon, None, "rdp", note), rdp_point


def _calibrate_with(
    name: str,
    sample_rate: float,
    steps: int,
    delta: float,
    window: tuple[float, float],
    fine_error: float,
    start: _SearchPoint,
) -> tuple[float, EpsilonResult]:
    """σ with the upper bound of accountant ``name`` (error ``fine_error``) inside ``window``,
    and its full result there; AccountantUnavailableError (with the accountant's last refusal)
    when the search fails or the full result (a cross-check) refuses."""
    refusals: list[str] = []

    def log_epsilon(x: float, error: float, offset: float = 0.0) -> float:
        try:
            value = registry.upper(name, math.exp(x), sample_rate, steps, delta, error)
        except AccountantUnavailableError as reason:
            refusals.append(str(reason))
            return math.inf
        return _log_or_inf(value - offset)

    point = start
    try:
        if registry.REFINABLE[name].coarse_search:
            # A coarse upper bound is estimate + coarse error; shifting it by (coarse - fine)
            # error predicts the fine upper bound, aimed at the window centre ± rel_tol/10.
            coarse_error = 10 * fine_error
            centre = 0.5 * (window[0] + window[1])
            half = 0.1 * (window[1] - window[0])
            point = _solve_log_sigma(
                lambda x: log_epsilon(x, coarse_error, coarse_error - fine_error),
                point,
                (centre - half, centre + half),
                max_evaluations=12,
            )
        point = _solve_log_sigma(
            lambda x: log_epsilon(x, fine_error), point, window, max_evaluations=10
        )
    except _NoSolutionError as error:
        detail = f" ({refusals[-1]})" if refusals else ""
        raise AccountantUnavailableError(f"{error}{detail}") from error
    sigma = math.exp(point.log_sigma)
    return sigma, registry.evaluate(name, sigma, sample_rate, steps, delta, fine_error)
