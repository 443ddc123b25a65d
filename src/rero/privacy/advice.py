"""Budget advice: the least noise that keeps a certified risk under a tolerated level, and back.

A tolerated reconstruction success r at prior κ asks for the smallest σ whose rigorous ReRo bound
γ(σ) ≤ r; a tolerated membership TPR t at FPR α is the same question at κ = α (the TPR bound is
the ReRo bound at κ = FPR, :mod:`rero.privacy.rero.membership`). γ falls from the noise-free
limit 1 − (1 − κ)(1 − q)^T at σ = 0 towards κ as σ grows, so r ≥ that limit needs no noise and
r ≤ κ is out of reach. Monotonicity is not assumed blindly: the σ search keeps a bracket whose
ends are evaluated (γ above r at the low end, at most r at the high end), bisects it in log σ,
and returns the high end, whose certified bound is at most r. The budget ε at δ of that σ comes
from the accountant policy of the calibration (``rero.privacy.accounting``). The search asks any
:class:`Risk`: the from-scratch threat model's is ``rero.privacy.from_scratch_advice``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scipy import stats

from rero.privacy.accounting.registry import epsilon_for
from rero.privacy.rero.closed_forms import noise_free_rero
from rero.privacy.rero.methods import rigorous_bound

SIGMA_RATIO_TOLERANCE = 1.005  # the bracket's ends within 0.5 % of each other
SEARCH_RANGE = (1e-6, 1e4)  # σ searched in this range
BRACKET_FACTOR = 1.5


class UnreachableRiskError(ValueError):
    """A tolerated risk that no σ meets: at or below the bound's floor, the prior κ."""


class Risk(Protocol):
    """A tolerated risk, ``at(sigma, q, T)`` at most ``max_risk``: the σ search's question.
    ``at`` falls as σ grows, from ``at(0)`` towards ``floor`` (tolerated risks at or below it
    are out of reach); ``start`` is a first σ to try; ``record`` its fields in an answer."""

    max_risk: float

    @property
    def label(self) -> str: ...

    def at(self, sigma: float, sample_rate: float, steps: int) -> float: ...

    def floor(self, sample_rate: float, steps: int) -> tuple[float, str]: ...

    def start(self, sample_rate: float, steps: int) -> float: ...

    def record(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class Constraint:
    """A tolerated risk of the identification threat model: reconstruction success ≤
    ``max_risk`` at prior ``kappa`` (the certified ReRo bound), or (``kind`` "membership") TPR
    ≤ ``max_risk`` at FPR ``kappa``."""

    kind: str
    kappa: float
    max_risk: float

    def __post_init__(self) -> None:
        if self.kind not in ("reconstruction", "membership"):
            raise ValueError(
                f"constraint kind: expected reconstruction or membership, got {self.kind!r}"
            )
        name = "kappa" if self.kind == "reconstruction" else "fpr"
        if not 0 < self.kappa < 1:
            raise ValueError(f"{name}={self.kappa}: expected a value in (0, 1)")
        if not 0 < self.max_risk <= 1:
            raise ValueError(f"max risk {self.max_risk}: expected a value in (0, 1]")

    @property
    def label(self) -> str:
        if self.kind == "reconstruction":
            return f"reconstruction success <= {self.max_risk:g} at kappa = {self.kappa:g}"
        return f"membership TPR <= {self.max_risk:g} at FPR = {self.kappa:g}"

    def at(self, sigma: float, sample_rate: float, steps: int) -> float:
        """The rigorous bound γ(σ); at σ = 0 its noise-free limit 1 − (1 − κ)(1 − q)^T."""
        if sigma == 0:
            return noise_free_rero(self.kappa, sample_rate, steps)
        return rigorous_bound(
            sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=self.kappa
        ).value

    def floor(self, sample_rate: float, steps: int) -> tuple[float, str]:
        """κ, which the bound approaches as σ grows."""
        return self.kappa, "the prior"

    def start(self, sample_rate: float, steps: int) -> float:
        """A first σ from the μ-GDP central-limit approximation (Bu et al. 2020), inverted."""
        mu = stats.norm.ppf(self.max_risk) - stats.norm.ppf(self.kappa)
        ratio = mu / (sample_rate * math.sqrt(steps))
        return 1.0 / math.sqrt(math.log1p(ratio**2)) if ratio > 0 else 1.0

    def record(self) -> dict[str, object]:
        return {"kind": self.kind, "kappa": self.kappa, "max_risk": self.max_risk}


@dataclass(frozen=True)
class SigmaAdvice:
    """The least σ (within the search tolerance) meeting one constraint, and its bound."""

    constraint: Risk
    sigma: float
    bound: float
    evaluations: int
    note: str


def least_sigma(constraint: Risk, sample_rate: float, steps: int) -> SigmaAdvice:
    """The smallest σ whose bound ``constraint.at`` meets ``constraint`` for T steps at rate q."""
    target = constraint.max_risk
    ceiling = constraint.at(0.0, sample_rate, steps)
    if target >= ceiling:
        return SigmaAdvice(
            constraint, 0.0, ceiling, 0, f"no noise needed: even sigma = 0 gives {ceiling:.4g}"
        )
    floor, floor_is = constraint.floor(sample_rate, steps)
    if target <= floor:
        raise UnreachableRiskError(
            f"{constraint.label} cannot be met: the bound never falls below its floor "
            f"{floor:g} ({floor_is}) however large sigma is; tolerate more than {floor:g}"
        )
    count = 0

    def risk(sigma: float) -> float:
        nonlocal count
        count += 1
        return constraint.at(sigma, sample_rate, steps)

    start = constraint.start(sample_rate, steps)
    sigma = min(max(start, SEARCH_RANGE[0]), SEARCH_RANGE[1])
    sigma_risk = risk(sigma)
    if sigma_risk > target:  # too little noise: widen upwards
        low, high = sigma, min(sigma * BRACKET_FACTOR, SEARCH_RANGE[1])
        high_risk = risk(high)
        while high_risk > target:
            if high >= SEARCH_RANGE[1]:
                raise ValueError(
                    f"{constraint.label} needs sigma > {SEARCH_RANGE[1]:g}: the bound there is "
                    f"{high_risk:.4g}"
                )
            low, high = high, min(high * BRACKET_FACTOR, SEARCH_RANGE[1])
            high_risk = risk(high)
    else:  # enough noise: widen downwards
        high, high_risk = sigma, sigma_risk
        low = max(sigma / BRACKET_FACTOR, SEARCH_RANGE[0])
        low_risk = risk(low)
        while low_risk <= target:
            if low <= SEARCH_RANGE[0]:
                return SigmaAdvice(constraint, low, low_risk, count, "the search's lowest sigma")
            high, high_risk = low, low_risk
            low = max(low / BRACKET_FACTOR, SEARCH_RANGE[0])
            low_risk = risk(low)
    while high / low > SIGMA_RATIO_TOLERANCE:
        middle = math.sqrt(low * high)
        middle_risk = risk(middle)
        if middle_risk <= target:
            high, high_risk = middle, middle_risk
        else:
            low = middle
    note = (
        f"bracket [{low:.6g}, {high:.6g}]: the bound is above {target:g} at the low end, "
        f"{high_risk:.6g} at the high end"
    )
    return SigmaAdvice(constraint, high, high_risk, count, note)


def advise(
    constraints: Sequence[Risk],
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = "auto",
) -> dict[str, object]:
    """The least σ meeting every constraint, its ε at δ and each constraint's result."""
    if not constraints:
        raise ValueError("give at least one tolerated risk (--max-risk with --kappa, or --max-tpr)")
    results = [least_sigma(constraint, sample_rate, steps) for constraint in constraints]
    binding = max(results, key=lambda result: result.sigma)
    budget = epsilon_for(binding.sigma, sample_rate, steps, delta, accountant)
    return {
        "sigma": binding.sigma,
        "epsilon": budget.epsilon,
        "epsilon_lower": budget.lower,
        "accountant": budget.accountant,
        "bound": binding.bound,
        "binding": binding.constraint.label,
        "constraints": [
            result.constraint.record()
            | {
                "sigma": result.sigma,
                "bound": result.bound,
                "evaluations": result.evaluations,
                "note": result.note,
            }
            for result in results
        ],
        "accounting_note": budget.note,
    }
