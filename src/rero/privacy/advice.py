"""Budget advice: the least noise that keeps a certified risk under a tolerated level, and back.

A tolerated reconstruction success r at prior κ asks for the smallest σ whose rigorous ReRo bound
γ(σ) ≤ r; a tolerated membership TPR t at FPR α is the same question at κ = α (the TPR bound is
the ReRo bound at κ = FPR, :mod:`rero.privacy.rero.membership`). γ falls from the noise-free
limit 1 − (1 − κ)(1 − q)^T at σ = 0 towards κ as σ grows, so r ≥ that limit needs no noise and
r ≤ κ is out of reach. Monotonicity is not assumed blindly: the σ search keeps a bracket whose
ends are evaluated (γ above r at the low end, at most r at the high end), bisects it in log σ,
and returns the high end, whose certified bound is at most r. The budget ε at δ of that σ comes
from the accountant policy of the calibration (``rero.privacy.accounting``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from rero.privacy.accounting.registry import epsilon_for
from rero.privacy.rero.closed_forms import noise_free_rero
from rero.privacy.rero.methods import rigorous_bound

SIGMA_RATIO_TOLERANCE = 1.005  # the bracket's ends within 0.5 % of each other
SEARCH_RANGE = (1e-6, 1e4)  # σ searched in this range
BRACKET_FACTOR = 1.5


class UnreachableRiskError(ValueError):
    """A tolerated risk that no σ meets: at or below the bound's floor, the prior κ."""


@dataclass(frozen=True)
class Constraint:
    """A tolerated risk: reconstruction success ≤ ``max_risk`` at prior ``kappa``, or (``kind``
    "membership") TPR ≤ ``max_risk`` at FPR ``kappa``."""

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


@dataclass(frozen=True)
class SigmaAdvice:
    """The least σ (within the search tolerance) meeting one constraint, and its bound."""

    constraint: Constraint
    sigma: float
    bound: float
    evaluations: int
    note: str


def _start(constraint: Constraint, sample_rate: float, steps: int) -> float:
    """A first σ from the μ-GDP central-limit approximation (Bu et al. 2020), inverted."""
    mu = stats.norm.ppf(constraint.max_risk) - stats.norm.ppf(constraint.kappa)
    ratio = mu / (sample_rate * math.sqrt(steps))
    return 1.0 / math.sqrt(math.log1p(ratio**2)) if ratio > 0 else 1.0


def least_sigma(constraint: Constraint, sample_rate: float, steps: int) -> SigmaAdvice:
    """The smallest σ whose rigorous bound meets ``constraint`` for T steps at rate q."""
    kappa, target = constraint.kappa, constraint.max_risk
    ceiling = noise_free_rero(kappa, sample_rate, steps)
    if target >= ceiling:
        return SigmaAdvice(
            constraint, 0.0, ceiling, 0, f"no noise needed: even sigma = 0 gives {ceiling:.4g}"
        )
    if target <= kappa:
        raise UnreachableRiskError(
            f"{constraint.label} cannot be met: the bound never falls below its floor "
            f"{kappa:g} (the prior) however large sigma is; tolerate more than {kappa:g}"
        )
    count = 0

    def risk(sigma: float) -> float:
        nonlocal count
        count += 1
        return rigorous_bound(sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa).value

    sigma = min(max(_start(constraint, sample_rate, steps), SEARCH_RANGE[0]), SEARCH_RANGE[1])
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
    constraints: list[Constraint],
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
            {
                "kind": result.constraint.kind,
                "kappa": result.constraint.kappa,
                "max_risk": result.constraint.max_risk,
                "sigma": result.sigma,
                "bound": result.bound,
                "evaluations": result.evaluations,
                "note": result.note,
            }
            for result in results
        ],
        "accounting_note": budget.note,
    }
