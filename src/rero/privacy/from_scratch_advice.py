"""Budget advice against the from-scratch threat model (Riess et al. 2024, arXiv:2402.12861): a
tolerated success of an analytic inversion without a data prior, for one image norm.

The risk is the law of ``rero.privacy.rero.from_scratch``: P(MSE <= eta) of one release
(``from-scratch``) or of the whole run, every inclusion averaged (``from-scratch-run``). It is 1
at sigma = 0 for one release, P(k >= 1) = 1 - (1 - q)^T for the whole run, and falls to 0 (the
whole run: the binomial mass its sum leaves out, at most 1e-12) as sigma grows. An upper bound on
that class of attacks only, not on every adversary (the identification bound covers those).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from rero.privacy.rero.from_scratch import (
    inclusion_counts,
    single_release_success,
    whole_run_success,
)
from rero.privacy.rero.from_scratch_table import ScratchCriterion

THREATS = ("identification", "from-scratch", "from-scratch-run")
"""The threat models of the advice: the certified identification bound at prior κ; the
from-scratch law of one release; the from-scratch law of the whole run."""


@dataclass(frozen=True)
class ScratchConstraint:
    """From-scratch success by ``criterion`` of an image of norm ``data_norm`` (``dimension``
    values) at most ``max_risk``: one release, or with ``whole_run`` every inclusion averaged."""

    criterion: ScratchCriterion
    dimension: int
    data_norm: float
    max_risk: float
    whole_run: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.max_risk <= 1:
            raise ValueError(f"max risk {self.max_risk}: expected a value in (0, 1]")
        if not (math.isfinite(self.data_norm) and self.data_norm > 0):
            raise ValueError(f"data norm {self.data_norm!r}: expected a finite ||X|| > 0")

    @property
    def threat(self) -> str:
        return THREATS[2] if self.whole_run else THREATS[1]

    @property
    def label(self) -> str:
        scope = "the whole run" if self.whole_run else "one release"
        return (
            f"from-scratch success ({self.criterion.text}, {scope}) <= {self.max_risk:g} at "
            f"||X|| = {self.data_norm:.4g}"
        )

    def at(self, sigma: float, sample_rate: float, steps: int) -> float:
        """P(success) of the law at σ (Riess et al. 2024)."""
        law = {"sigma": sigma, "dimension": self.dimension, "data_norm": self.data_norm}
        eta = self.criterion.mse_threshold
        if self.whole_run:
            return float(whole_run_success(eta, sample_rate=sample_rate, steps=steps, **law))
        return float(single_release_success(eta, **law))

    def floor(self, sample_rate: float, steps: int) -> tuple[float, str]:
        """0 for one release; the whole run's left-out binomial mass, counted as success."""
        if not self.whole_run:
            return 0.0, "no success as sigma grows"
        return inclusion_counts(sample_rate, steps)[2], "the inclusions the sum leaves out"

    def start(self, sample_rate: float, steps: int) -> float:
        """One release's σ exactly (the incomplete gamma inverted); for the whole run that σ
        times sqrt(qT), the expected inclusions' averaging."""
        argument = max(special.gammaincinv(self.dimension / 2, self.max_risk), 1e-300)
        eta = self.criterion.mse_threshold
        sigma = math.sqrt(eta * self.dimension / (2 * argument)) / self.data_norm
        return sigma * math.sqrt(max(1.0, sample_rate * steps)) if self.whole_run else sigma

    def record(self) -> dict[str, object]:
        return {
            "kind": self.threat,
            "criterion": self.criterion.text,
            "dimension": self.dimension,
            "data_norm": self.data_norm,
            "max_risk": self.max_risk,
        }
