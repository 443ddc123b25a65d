"""Privacy accounting for DP-SGD: ε(σ, q, T, δ) and the σ that spends a target ε.

DP-SGD with Poisson sampling (rate q = B/N), T steps and Gaussian noise of standard deviation σ·C
on the clipped sum is the T-fold composition of the Poisson-subsampled Gaussian mechanism,
under the add/remove-one neighbouring relation. Three accountants bound its ε at a given δ:

- ``prv``: the PRV accountant (Gopi, Lee & Wutschitz, NeurIPS 2021; prv-accountant 0.2.0). It
  returns (lower, estimate, upper); the upper value is the rigorous bound reported here (Thm 5.5).
- ``pld``: dp_accounting's privacy-loss distribution with pessimistic connect-the-dots
  discretisation (Doroshenko et al., PETS 2022); the value is an upper bound.
- ``rdp``: Rényi DP of the subsampled Gaussian (Mironov, Talwar & Zhang 2019) converted with
  Prop. 12 of Canonne, Kamath & Steinke 2020; always computable, loose at large ε.

``auto`` uses the tightest one that can compute the number safely: PRV, then PLD, then RDP.
Each PRV/PLD evaluation is sized before it runs (bins times measured bytes per bin) and refused
when it would exceed ``MEMORY_BUDGET_BYTES``; PRV is also refused where its long-double arithmetic
overflows or where its mean-shift correction is inaccurate (that error is multiplied by T and
would silently shift ε). Every returned ε names the accountant that produced it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import privacy_loss_distribution, privacy_loss_mechanism
from prv_accountant import PRVAccountant
from prv_accountant.accountant import compute_safe_domain_size
from prv_accountant.domain import Domain
from prv_accountant.privacy_random_variables import (
    PoissonSubsampledGaussianMechanism,
    PrivacyRandomVariableTruncated,
)
from scipy import fft, integrate, special, stats

ACCOUNTANTS = ("auto", "prv", "pld", "rdp")

MEMORY_BUDGET_BYTES = 1 << 30
"""Largest working set one PRV or PLD evaluation may need (the process stays under 2 GiB)."""
PRV_BYTES_PER_BIN = 400
"""Peak bytes per PRV domain bin (measured 340: long-double grid, pmf, FFT, cumulative sums)."""
PLD_BYTES_PER_BIN = 96
"""Peak bytes per PLD bin during FFT self-composition (measured 70)."""
PLD_MAX_BINS = 4_000_000
"""Largest PLD composition run (~400 MB and ~6 s on one core)."""
PLD_MAX_SINGLE_BINS = 1_000_000
"""Largest one-step PLD (~2.5 s to build); the composed one is longer except for very few steps."""
PLD_SIZING_BINS = 20_000
"""Bins of the coarse one-step PLD used to predict the composed size."""
PRV_DELTA_ERROR = 1e-3
"""PRV delta_error as a fraction of δ (the value prv-accountant and Opacus use)."""
PRV_MAX_HALF_WIDTH = 0.9 * float(np.log(np.finfo(np.longdouble).max))
"""PRV domain half-width above which exp(t) overflows in its long-double arithmetic."""
PRV_MEAN_TOLERANCE = 0.1
"""Largest T·|mean error| of the truncated PRV, as a fraction of eps_error (``_prv_epsilon``)."""
PLD_MAX_INTERVAL = 500.0
"""Largest PLD discretisation interval: dp_accounting evaluates expm1(interval) (overflow > 709).
Above it the interval stops growing with ε, so the bin count grows with ε."""
PLD_TAIL_MASS_TRUNCATION = 1e-15
"""dp_accounting's default tail truncation in self-composition (used to size it beforehand)."""
DEFAULT_RELATIVE_ERROR = 2e-3
"""Default discretisation error of ``epsilon_for``, relative to ε."""
MIN_EPSILON_SCALE = 1e-3
"""Smallest ε used to scale a discretisation (absolute error floor for tiny ε)."""


class AccountantUnavailableError(ValueError):
    """An accountant cannot compute ε safely for these parameters (the message says why)."""


@dataclass(frozen=True)
class EpsilonResult:
    """ε at δ: ``epsilon`` is an upper bound, ``lower`` a lower bound if the accountant has one."""

    epsilon: float
    lower: float | None
    accountant: str
    note: str


@dataclass(frozen=True)
class PrivacyPlan:
    """The privacy plan of one (dataset, ε): the noise, schedule and accounting of a DP-SGD run.

    ``epsilon`` is the achieved ε, an upper bound from ``accountant``; ``epsilon_lower`` its lower
    bound where the accountant gives one. Non-private plans have σ = 0, accountant "none".
    """

    target_epsilon: float
    epsilon: float
    epsilon_lower: float | None
    sigma: float
    sample_rate: float
    steps: int
    delta: float
    clip_norm: float | None
    accountant: str
    dataset_size: int | None
    batch_size: int | None
    epochs: int | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``rero.io.write_json`` writes inf as "inf")."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyPlan:
        """Inverse of :meth:`to_dict`; accepts "inf" strings from JSON."""
        names = [field.name for field in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"privacy plan: missing keys {missing}")

        def optional(kind: Callable[[Any], Any], value: Any) -> Any:
            return None if value is None else kind(value)

        return cls(
            target_epsilon=float(data["target_epsilon"]),
            epsilon=float(data["epsilon"]),
            epsilon_lower=optional(float, data["epsilon_lower"]),
            sigma=float(data["sigma"]),
            sample_rate=float(data["sample_rate"]),
            steps=int(data["steps"]),
            delta=float(data["delta"]),
            clip_norm=optional(float, data["clip_norm"]),
            accountant=str(data["accountant"]),
            dataset_size=optional(int, data["dataset_size"]),
            batch_size=optional(int, data["batch_size"]),
            epochs=optional(int, data["epochs"]),
            note=str(data["note"]),
        )


def sampling_schedule(num_examples: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """(q, T) of Poisson-sampled DP-SGD: q = B/N and T = epochs·⌈N/B⌉ (expected batch size B)."""
    for name, value in (("num_examples", num_examples), ("batch_size", batch_size)):
        _require_positive_int(name, value)
    _require_positive_int("epochs", epochs)
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size={batch_size} must be at most the number of examples N={num_examples}"
        )
    return batch_size / num_examples, epochs * math.ceil(num_examples / batch_size)


def epsilon_for(
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = "auto",
    *,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
) -> EpsilonResult:
    """ε at δ of T steps of the Poisson-subsampled Gaussian (noise multiplier σ, rate q).

    ``relative_error`` sets the PRV eps_error (and the PLD interval through the expected PLD
    excess) relative to ε itself.
    """
    _validate_mechanism(sample_rate, steps, delta)
    _require_accountant(accountant)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma={sigma}: expected a finite noise multiplier >= 0")
    if not 0 < relative_error < 1:
        raise ValueError(f"relative_error={relative_error}: expected a value in (0, 1)")
    if sigma == 0:
        return EpsilonResult(math.inf, None, "none", "no noise (sigma = 0): not private")
    rdp = _rdp_epsilon(sigma, sample_rate, steps, delta)
    if accountant == "rdp":
        return EpsilonResult(rdp, None, "rdp", _RDP_NOTE)
    refused: list[str] = []
    for name in ("prv", "pld") if accountant == "auto" else (accountant,):
        try:
            result = _refined_epsilon(name, sigma, sample_rate, steps, delta, relative_error, rdp)
        except AccountantUnavailableError as reason:
            if accountant != "auto":
                raise
            refused.append(f"{name} not used: {reason}")
            continue
        return replace(result, note=_join_notes(result.note, *refused))
    return EpsilonResult(rdp, None, "rdp", _join_notes(_RDP_NOTE, *refused))


def calibrate(
    target_epsilon: float,
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    clip_norm: float = 1.0,
    accountant: str = "auto",
    rel_tol: float = 0.01,
    dataset_size: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
) -> PrivacyPlan:
    """Noise multiplier σ whose achieved ε (an upper bound) is in [(1 - rel_tol)·target, target].

    ``target_epsilon = inf`` gives the non-private plan (σ = 0, accountant "none").
    """
    return calibrate_grid(
        [target_epsilon],
        sample_rate,
        steps,
        delta,
        clip_norm=clip_norm,
        accountant=accountant,
        rel_tol=rel_tol,
        dataset_size=dataset_size,
        batch_size=batch_size,
        epochs=epochs,
    )[0]


def calibrate_grid(
    targets: Iterable[float],
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    clip_norm: float = 1.0,
    accountant: str = "auto",
    rel_tol: float = 0.01,
    dataset_size: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
) -> list[PrivacyPlan]:
    """:func:`calibrate` for many targets, in input order.

    Targets are solved in increasing order and each search starts from the previous solution
    (log ε is close to linear in log σ), so a grid costs a few evaluations per target.
    """
    targets = [float(target) for target in targets]
    for target in targets:
        if math.isnan(target) or target <= 0:
            raise ValueError(f"target_epsilon={target}: expected a positive number or inf")
    _validate_mechanism(sample_rate, steps, delta)
    _require_accountant(accountant)
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol={rel_tol}: expected a value in (0, 1)")
    if not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm={clip_norm}: expected a positive number")
    _check_dataset(sample_rate, steps, delta, dataset_size, batch_size, epochs)
    common = {
        "sample_rate": sample_rate,
        "steps": steps,
        "delta": delta,
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
                clip_norm=None,
                accountant="none",
                note="non-private run: no clipping, no noise",
                **common,
            )
            continue
        sigma, result, hint = _calibrate_one(
            target, sample_rate, steps, delta, accountant, rel_tol, hint
        )
        plans[index] = PrivacyPlan(
            target_epsilon=target,
            epsilon=result.epsilon,
            epsilon_lower=result.lower,
            sigma=sigma,
            clip_norm=clip_norm,
            accountant=result.accountant,
            note=result.note,
            **common,
        )
    return [plans[index] for index in range(len(targets))]


def clear_cache() -> None:
    """Forget cached accountant evaluations (they are pure; benchmarks start cold with this)."""
    for cached in (_rdp_epsilon, _prv_epsilon, _pld_epsilon):
        cached.cache_clear()


# --- validation -------------------------------------------------------------------------------


def _require_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")


def _require_accountant(accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant={accountant!r}: expected one of {', '.join(ACCOUNTANTS)}")


def _validate_mechanism(sample_rate: float, steps: int, delta: float) -> None:
    if not (math.isfinite(sample_rate) and 0 < sample_rate <= 1):
        raise ValueError(f"sample_rate={sample_rate}: expected q = B/N in (0, 1]")
    _require_positive_int("steps", steps)
    if not 0 < delta < 1:
        raise ValueError(f"delta={delta}: expected 0 < delta < 1")


def _check_dataset(
    sample_rate: float,
    steps: int,
    delta: float,
    dataset_size: int | None,
    batch_size: int | None,
    epochs: int | None,
) -> None:
    """δ < 1/N when N is known; q and T must match N, B and epochs when all three are given."""
    if dataset_size is None:
        return
    _require_positive_int("dataset_size", dataset_size)
    if delta >= 1 / dataset_size:
        raise ValueError(
            f"delta={delta} must be smaller than 1/N = {1 / dataset_size:.3g} "
            f"for dataset_size N={dataset_size}"
        )
    if batch_size is not None and epochs is not None:
        expected_rate, expected_steps = sampling_schedule(dataset_size, batch_size, epochs)
        if not math.isclose(sample_rate, expected_rate, rel_tol=1e-9) or steps != expected_steps:
            raise ValueError(
                f"sample_rate={sample_rate}, steps={steps} do not match N={dataset_size}, "
                f"batch_size={batch_size}, epochs={epochs} (expected q={expected_rate}, "
                f"T={expected_steps})"
            )


# --- accountants: one evaluation each, sized before it runs -------------------------------------

RDP_ORDERS = tuple(1 + x / 10 for x in range(1, 100)) + tuple(range(11, 64)) + (128, 256, 512, 1024)
"""Rényi orders: Opacus' defaults (1.1-10.9, 12-63, the paper's) plus 11 and 128-1024."""

_RDP_NOTE = (
    "RDP accountant (Mironov, Talwar & Zhang 2019; orders 1.1-1024): epsilon is an upper bound, "
    "loose at large epsilon"
)


def _log_moment_integer_order(sigma: float, sample_rate: float, order: int) -> float:
    """log A_α, integer α: A_α = Σ_k C(α,k) (1-q)^(α-k) q^k exp((k²-k)/(2σ²)) (MTZ 2019, §3.3)."""
    k = np.arange(order + 1, dtype=float)
    log_terms = (
        special.gammaln(order + 1)
        - special.gammaln(k + 1)
        - special.gammaln(order - k + 1)
        + k * math.log(sample_rate)
        + (order - k) * math.log1p(-sample_rate)
        + (k * k - k) / (2 * sigma**2)
    )
    return float(special.logsumexp(log_terms))


@lru_cache(maxsize=4096)
def _rdp_epsilon(sigma: float, sample_rate: float, steps: int, delta: float) -> float:
    """RDP upper bound on ε (add/remove relation) at :data:`RDP_ORDERS`.

    Rényi divergence of the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang 2019): integer
    orders by the binomial sum above, fractional ones by prv-accountant's series (the Opacus /
    TF-Privacy algorithm; dp_accounting 0.6.0's variant overestimates some fractional orders).
    Conversion to (ε, δ): Canonne, Kamath & Steinke 2020, Prop. 12 (also Opacus' formula).
    """
    mechanism = PoissonSubsampledGaussianMechanism(
        sampling_probability=sample_rate, noise_multiplier=sigma
    )
    orders = np.array(RDP_ORDERS, dtype=float)
    if sample_rate == 1:
        rdp = orders / (2 * sigma**2)
    else:
        rdp = np.array(
            [
                _log_moment_integer_order(sigma, sample_rate, int(order)) / (order - 1)
                if order.is_integer()
                else float(mechanism.rdp(order))
                for order in orders
            ]
        )
    epsilons = steps * rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1)
    return float(max(np.nanmin(epsilons), 0.0))


def _remove_loss_mean(sigma: float, sample_rate: float) -> float:
    """E[L] of the one-step REMOVE privacy loss L = ln((1-q) + q·exp((2x-1)/(2σ²))) under the
    mixture x ~ (1-q)·N(0, σ²) + q·N(1, σ²), i.e. KL(mixture ‖ N(0, σ²)), by quadrature in x."""
    log_keep = math.log1p(-sample_rate) if sample_rate < 1 else -math.inf
    log_rate = math.log(sample_rate)
    scale = 1.0 / (sigma * math.sqrt(2 * math.pi))

    def weighted_loss(x: float, centre: float) -> float:
        loss = np.logaddexp(log_keep, log_rate + (2 * x - 1) / (2 * sigma**2))
        return scale * math.exp(-0.5 * ((x - centre) / sigma) ** 2) * float(loss)

    mean = 0.0
    for weight, centre in ((1 - sample_rate, 0.0), (sample_rate, 1.0)):
        if weight == 0:
            continue
        value, _ = integrate.quad(
            weighted_loss,
            centre - 40 * sigma,
            centre + 40 * sigma,
            args=(centre,),
            points=[centre],
            limit=200,
            epsabs=1e-14,
            epsrel=1e-12,
        )
        mean += weight * value
    return mean


@lru_cache(maxsize=512)
def _prv_epsilon(
    sigma: float, sample_rate: float, steps: int, delta: float, eps_error: float
) -> tuple[float, float, float]:
    """(lower, estimate, upper) from prv-accountant, or AccountantUnavailableError.

    Before it runs, three checks: the domain half-width L (prv's own RDP-based choice) keeps
    exp(±t) finite in long double; the bin count 2L/mesh fits the memory budget; and the mean of
    the truncated PRV that prv-accountant integrates (its discretisation is shifted by that mean,
    T times) agrees with the KL divergence computed here, to 0.1·eps_error after ×T. The last one
    catches prv-accountant 0.2.0's quadrature missing the loss mass on a wide domain, which
    otherwise gives a finite, wrong ε (σ = 0.05, q = 0.005, T = 1000, eps_error 300: upper bound
    2659 where the optimistic PLD gives 3288).
    """
    delta_error = PRV_DELTA_ERROR * delta
    prv = PoissonSubsampledGaussianMechanism(
        sampling_probability=sample_rate, noise_multiplier=sigma
    )
    half_width = float(
        compute_safe_domain_size([prv], [steps], eps_error=eps_error, delta_error=delta_error)
    )
    if not half_width <= PRV_MAX_HALF_WIDTH:
        raise AccountantUnavailableError(
            f"PRV domain half-width {half_width:.3g} exceeds the long-double range "
            f"({PRV_MAX_HALF_WIDTH:.0f})"
        )
    mesh = eps_error / math.sqrt(steps / 2 * math.log(12 / delta_error))
    bins = 2 * half_width / mesh
    if bins * PRV_BYTES_PER_BIN > MEMORY_BUDGET_BYTES:
        raise AccountantUnavailableError(
            f"PRV needs {bins:.3g} bins (~{bins * PRV_BYTES_PER_BIN / 2**30:.1f} GiB, budget "
            f"{MEMORY_BUDGET_BYTES / 2**30:.1f} GiB) for eps_error={eps_error:.3g}"
        )
    domain = Domain.create_aligned(-half_width, half_width, mesh)
    # prv's cdf at float64 points overflows exp(t) above t ~ 709 and then returns its limit 1.
    with np.errstate(over="ignore"):
        truncated = PrivacyRandomVariableTruncated(prv, domain.t_min(), domain.t_max())
        truncated_mean = float(truncated.mean())
    mean_gap = steps * abs(truncated_mean - _remove_loss_mean(sigma, sample_rate))
    if mean_gap > PRV_MEAN_TOLERANCE * eps_error:
        raise AccountantUnavailableError(
            f"prv-accountant's mean of the privacy loss is off by {mean_gap:.3g} after {steps} "
            f"compositions (allowed {PRV_MEAN_TOLERANCE * eps_error:.3g})"
        )
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            # prv warns "Assuming that true epsilon < eps_max"; eps_max is its own domain choice.
            warnings.simplefilter("ignore")
            accountant = PRVAccountant(
                prvs=[prv],
                max_self_compositions=[steps],
                eps_error=eps_error,
                delta_error=delta_error,
                eps_max=half_width,
            )
            lower, estimate, upper = accountant.compute_epsilon(
                delta=delta, num_self_compositions=[steps]
            )
    except (RuntimeError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"prv-accountant failed: {error}") from error
    if not all(math.isfinite(value) for value in (lower, estimate, upper)):
        raise AccountantUnavailableError(f"prv-accountant returned {(lower, estimate, upper)}")
    return float(max(lower, 0.0)), float(estimate), float(upper)


def _pld_single_step_bins(sigma: float, sample_rate: float, interval: float) -> float:
    """Bins of the one-step PLD (add and remove), from the losses at dp_accounting's x cut-offs."""
    total = 0.0
    for adjacency in (
        privacy_loss_mechanism.AdjacencyType.REMOVE,
        privacy_loss_mechanism.AdjacencyType.ADD,
    ):
        loss = privacy_loss_mechanism.GaussianPrivacyLoss(
            sigma, sampling_prob=sample_rate, adjacency_type=adjacency
        )
        tail = loss.privacy_loss_tail()
        spread = loss.privacy_loss(tail.lower_x_truncation) - loss.privacy_loss(
            tail.upper_x_truncation
        )
        total += abs(spread) / interval + 1
    return total


def _gaussian_pld(
    sigma: float, sample_rate: float, interval: float
) -> privacy_loss_distribution.PrivacyLossDistribution:
    """One step of the Poisson-subsampled Gaussian as a pessimistic PLD (add and remove)."""
    return privacy_loss_distribution.from_gaussian_mechanism(
        standard_deviation=sigma,
        sampling_prob=sample_rate,
        value_discretization_interval=interval,
        pessimistic_estimate=True,
        use_connect_dots=True,
    )


def _pld_composed_bins(pld: privacy_loss_distribution.PrivacyLossDistribution, steps: int) -> int:
    """FFT length dp_accounting 0.6.0 will use to self-compose each one-step pmf T times.

    Reads the one-step pmfs (``_pmf_remove``/``_pmf_add``, internals of the pinned version) and
    applies dp_accounting's own Chernoff truncation bounds, without composing anything.
    """
    pmfs = {id(pmf): pmf for pmf in (pld._pmf_remove, pld._pmf_add)}
    total = 0
    for pmf in pmfs.values():
        probs = pmf.to_dense_pmf()._probs
        lower, upper = pld_common.compute_self_convolve_bounds(
            probs, steps, PLD_TAIL_MASS_TRUNCATION
        )
        total += fft.next_fast_len(max(upper - lower + 1, len(probs)))
    return total


@lru_cache(maxsize=512)
def _pld_epsilon(
    sigma: float, sample_rate: float, steps: int, delta: float, interval: float
) -> float:
    """Pessimistic PLD upper bound on ε (max over add and remove), or AccountantUnavailableError.

    Sized first: the one-step bin count in closed form, then the composed FFT length from a
    one-step PLD of at most ``PLD_SIZING_BINS`` bins (the composed loss range barely depends on
    the interval), so a refusal costs milliseconds.
    """
    budget_bins = min(PLD_MAX_BINS, MEMORY_BUDGET_BYTES / PLD_BYTES_PER_BIN)
    single_bins = _pld_single_step_bins(sigma, sample_rate, interval)
    if single_bins > PLD_MAX_SINGLE_BINS:
        raise AccountantUnavailableError(
            f"one-step PLD needs {single_bins:.3g} bins (limit {PLD_MAX_SINGLE_BINS:.3g})"
        )
    sizing_interval = min(interval * max(1.0, single_bins / PLD_SIZING_BINS), PLD_MAX_INTERVAL)
    sizing_pld = _gaussian_pld(sigma, sample_rate, sizing_interval)
    composed_bins = _pld_composed_bins(sizing_pld, steps) * sizing_interval / interval
    if composed_bins > budget_bins:
        raise AccountantUnavailableError(
            f"PLD composition needs {composed_bins:.3g} bins (budget {budget_bins:.3g}) "
            f"at interval {interval:.3g}"
        )
    pld = sizing_pld if sizing_interval == interval else _gaussian_pld(sigma, sample_rate, interval)
    try:
        composed = pld.self_compose(steps, PLD_TAIL_MASS_TRUNCATION)
        with np.errstate(over="ignore"):
            epsilon = composed.get_epsilon_for_delta(delta)
        if math.isinf(epsilon):
            epsilon = _pld_epsilon_by_bisection(composed, delta)
    except (OverflowError, ValueError, FloatingPointError) as error:
        raise AccountantUnavailableError(f"dp_accounting PLD failed: {error}") from error
    return float(epsilon)


def _pld_epsilon_by_bisection(
    composed: privacy_loss_distribution.PrivacyLossDistribution, delta: float
) -> float:
    """Smallest ε (to 1e-12 relative, rounded up) with δ(ε) ≤ δ, from the stable δ(ε) formula.

    dp_accounting's ε-for-δ search divides by Σ p·e^(-loss), which underflows when ε is near
    709-745 and then returns inf; its δ(ε) = Σ p·(1 - e^(ε - loss)) has no such problem.
    """
    if composed.get_delta_for_epsilon(math.inf) > delta:
        raise AccountantUnavailableError(
            "PLD: the probability of an infinite privacy loss exceeds delta"
        )
    low, high = 0.0, 1.0
    while composed.get_delta_for_epsilon(high) > delta:
        low, high = high, 2 * high
    while high - low > 1e-12 * high:
        middle = 0.5 * (low + high)
        if composed.get_delta_for_epsilon(middle) > delta:
            low = middle
        else:
            high = middle
    return high


def _prv_note(eps_error: float, delta: float) -> str:
    return (
        "PRV accountant (Gopi, Lee & Wutschitz 2021): epsilon is its upper bound, "
        f"epsilon_lower its lower bound (eps_error {eps_error:.3g}, "
        f"delta_error {PRV_DELTA_ERROR * delta:.3g})"
    )


def _pld_note(interval: float) -> str:
    return (
        "PLD accountant (dp_accounting, pessimistic connect-the-dots; Doroshenko et al. 2022): "
        f"epsilon is an upper bound (discretisation interval {interval:.3g})"
    )


def _join_notes(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


@lru_cache(maxsize=256)
def _inclusions_at_delta(sample_rate: float, steps: int, delta: float) -> int:
    """The (1-δ) quantile k of Binomial(T, q): how often the example is used in the runs that
    decide ε at δ. Pessimistic PLD rounding adds up to one interval per use, so the PLD interval
    is the allowed ε error divided by k (measured excess: about k/2 intervals)."""
    return max(1, int(stats.binom.isf(delta, steps, sample_rate)))


def _evaluate(
    name: str, sigma: float, sample_rate: float, steps: int, delta: float, error: float
) -> EpsilonResult:
    """One PRV or PLD evaluation with absolute ε error about ``error``."""
    if name == "prv":
        lower, _, upper = _prv_epsilon(sigma, sample_rate, steps, delta, error)
        return EpsilonResult(upper, lower, "prv", _prv_note(error, delta))
    interval = min(error / _inclusions_at_delta(sample_rate, steps, delta), PLD_MAX_INTERVAL)
    return EpsilonResult(
        _pld_epsilon(sigma, sample_rate, steps, delta, interval), None, "pld", _pld_note(interval)
    )


def _refined_epsilon(
    name: str,
    sigma: float,
    sample_rate: float,
    steps: int,
    delta: float,
    relative_error: float,
    epsilon_scale: float,
) -> EpsilonResult:
    """Evaluate with error relative_error·ε: start from an upper bound on ε and rescale once the
    accountant's own value shows the scale was more than twice too large (at most 4 passes)."""
    for _ in range(4):
        scale = max(epsilon_scale, MIN_EPSILON_SCALE)
        result = _evaluate(name, sigma, sample_rate, steps, delta, relative_error * scale)
        if scale <= 2 * max(result.epsilon, MIN_EPSILON_SCALE):
            return result
        epsilon_scale = result.epsilon
    return result


# --- calibration ------------------------------------------------------------------------------


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
    2. PRV: coarse evaluations (eps_error ten times larger, estimates nearly as accurate) locate σ,
       then fine ones (eps_error = rel_tol/2·target) put the upper bound in the window.
       PLD: fine evaluations only (each is cheap: its interval grows with the target).
    3. ``auto`` falls through PRV → PLD → RDP when an accountant is unavailable.
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
            lambda x: _log_or_inf(_rdp_epsilon(math.exp(x), sample_rate, steps, delta)),
            start,
            window,
            max_evaluations=80,
        )
    except _NoSolutionError as error:
        raise ValueError(
            f"target_epsilon={target}: no noise multiplier found with the RDP accountant ({error})"
        ) from error
    rdp_sigma = math.exp(rdp_point.log_sigma)
    rdp_epsilon = _rdp_epsilon(rdp_sigma, sample_rate, steps, delta)
    rdp_result = EpsilonResult(rdp_epsilon, None, "rdp", _RDP_NOTE)
    if accountant == "rdp":
        return rdp_sigma, rdp_result, rdp_point
    fine_error = 0.5 * rel_tol * target
    refused: list[str] = []
    for name in ("prv", "pld") if accountant == "auto" else (accountant,):
        try:
            sigma, result = _calibrate_with(
                name, sample_rate, steps, delta, window, fine_error, rdp_point
            )
        except AccountantUnavailableError as reason:
            refused.append(f"{name} not used: {reason}")
            continue
        return sigma, replace(result, note=_join_notes(result.note, *refused)), rdp_point
    if accountant != "auto":
        raise ValueError(
            f"target_epsilon={target}: the {accountant} accountant cannot calibrate sigma here "
            f"({refused[0]}); use accountant='auto'"
        )
    note = _join_notes(rdp_result.note, *refused)
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
    """σ with the upper bound of accountant ``name`` (error ``fine_error``) inside ``window``."""
    fine_results: dict[float, EpsilonResult] = {}
    refusals: list[str] = []

    def log_epsilon(x: float, error: float, offset: float = 0.0) -> float:
        try:
            result = _evaluate(name, math.exp(x), sample_rate, steps, delta, error)
        except AccountantUnavailableError as reason:
            refusals.append(str(reason))
            return math.inf
        if error == fine_error:
            fine_results[x] = result
        return _log_or_inf(result.epsilon - offset)

    point = start
    try:
        if name == "prv":
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
    return math.exp(point.log_sigma), fine_results[point.log_sigma]
