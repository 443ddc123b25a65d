"""When an attacked image counts as reconstructed: success criteria and their rates.

The paper's criterion (Ziller et al. 2024) is ``ssim >= η``, on the SSIM the reconstructions are
matched by (both images clipped and min-max normalised, :mod:`rero.attacks.matching`). Criteria on
the raw metrics (:mod:`rero.attacks.fidelity`) read the same attack at the thresholds of the
from-scratch bound (Riess et al. 2024, arXiv:2402.12861): ``raw_mse <= η``, ``raw_psnr >= τ``
(dB, data range 1), ``raw_ncc >= ρ``, ``raw_ssim >= s``. Each rate comes with its 95 %
Clopper-Pearson interval (Clopper & Pearson 1934), the attacked images as independent trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rero.attacks.matching import clopper_pearson
from rero.study.criteria import COMPARISON_NAMES, CRITERION_METRICS, criterion_text


@dataclass(frozen=True)
class SuccessCriterion:
    """An image is reconstructed when its ``metric`` is at least (``raw_mse``: at most)
    ``threshold``."""

    metric: str
    threshold: float

    def __post_init__(self) -> None:
        if self.metric not in CRITERION_METRICS:
            raise ValueError(
                f"success metric {self.metric!r}: expected one of {', '.join(CRITERION_METRICS)}"
            )
        maximum = CRITERION_METRICS[self.metric].maximum
        if not (math.isfinite(self.threshold) and 0 < self.threshold <= maximum):
            expected = "a number in (0, 1]" if maximum == 1 else "a finite number > 0"
            raise ValueError(
                f"success threshold of {self.metric}: {self.threshold!r}; expected {expected}"
            )

    @classmethod
    def parse(cls, text: str) -> SuccessCriterion:
        """``METRIC:THRESHOLD`` (e.g. ``raw_psnr:30``) as a criterion; ValueError otherwise."""
        metric, separator, threshold = text.partition(":")
        try:
            value = float(threshold)
        except ValueError:
            value = math.nan
        if not separator or math.isnan(value):
            raise ValueError(f"success criterion {text!r}: expected METRIC:THRESHOLD")
        return cls(metric, value)

    @property
    def comparison(self) -> str:
        return CRITERION_METRICS[self.metric].comparison

    @property
    def label(self) -> str:
        """Name for record keys and summary columns, e.g. ``raw_psnr_ge_30``."""
        return f"{self.metric}_{COMPARISON_NAMES[self.comparison]}_{self.threshold:.12g}"

    @property
    def text(self) -> str:
        """Readable form, e.g. ``raw_psnr ≥ 30 dB``."""
        return criterion_text(self.metric, self.threshold)

    def succeeded(self, values: np.ndarray) -> np.ndarray:
        """Which of the per-image ``values`` of the metric meet the criterion."""
        values = np.asarray(values, dtype=np.float64)
        if self.comparison == ">=":
            return values >= self.threshold
        return values <= self.threshold

    def record(self, values: np.ndarray) -> dict[str, Any]:
        """The criterion, its successes among ``values``, its rate and 95 % Clopper-Pearson CI."""
        successes = int(np.sum(self.succeeded(values)))
        trials = int(np.size(values))
        ci_low, ci_high = clopper_pearson(successes, trials)
        return {
            "label": self.label,
            "criterion": self.text,
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "successes": successes,
            "success_rate": successes / trials,
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
