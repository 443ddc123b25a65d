"""The success metrics an attacked image is judged by, as the config names them: how each one
succeeds (at least or at most its threshold), its range and unit, and how a criterion reads.

Pure and free of numpy: the report and the config checks name criteria without the attack code
(:mod:`rero.attacks.success` judges images by them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SuccessMetric:
    """How a metric succeeds: ``>=`` or ``<=`` its threshold, which lies in (0, ``maximum``]."""

    comparison: str
    maximum: float
    unit: str


CRITERION_METRICS = {
    "ssim": SuccessMetric(">=", 1.0, ""),
    "raw_ssim": SuccessMetric(">=", 1.0, ""),
    "raw_ncc": SuccessMetric(">=", 1.0, ""),
    "raw_psnr": SuccessMetric(">=", math.inf, " dB"),
    "raw_mse": SuccessMetric("<=", math.inf, ""),
}
COMPARISON_NAMES = {">=": "ge", "<=": "le"}


def criterion_text(metric: str, threshold: float) -> str:
    """A criterion in readable form, e.g. ``raw_psnr ≥ 30 dB``."""
    success = CRITERION_METRICS[metric]
    sign = "≥" if success.comparison == ">=" else "≤"
    return f"{metric} {sign} {threshold:g}{success.unit}"
