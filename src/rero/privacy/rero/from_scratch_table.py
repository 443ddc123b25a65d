"""The from-scratch bound of a study's privacy plans (Riess et al. 2024, arXiv:2402.12861): one
row per plan x success criterion x norm (``results/bounds/{dataset}_from_scratch.csv``).

The law (``rero.privacy.rero.from_scratch``) depends on an image through ||X|| only; the rows
read it at the smallest, 5 %-quantile and median norm of the training split and average it over
every training image (``mean_over_images``). ``clipping_active`` says whether ||X|| >= C, the
clip norm: then even a one-row trap's gradient (norm ||X||) is clipped, as the law assumes. Where
it is false, a trap needs at least (C / ||X||)^2 rows for the law to be attained; a smaller one
sees more noise (sigma C / sqrt(M) > sigma ||X||), so the curve is still an upper bound for that
class of attacks but overstates such a trap. The non-private plan (sigma = 0: no noise, no
clipping) reconstructs exactly: probability 1, one release and the whole run (its shuffled
epochs include every image).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rero.data.base import rows_per_chunk
from rero.data.store import unit_float
from rero.privacy.plan import PrivacyPlan
from rero.privacy.rero.from_scratch import THREAT_MODEL, ncc_bound, psnr_to_mse
from rero.privacy.rero.from_scratch_images import (
    curves_over_images,
    image_dimension,
    image_norms,
    summarise_norms,
)

COLUMNS = (
    "dataset", "target_epsilon", "sigma", "sample_rate", "steps", "dimension", "metric",
    "threshold", "criterion", "norm", "data_norm", "single_release", "whole_run", "ncc_bound",
    "clipping_active", "threat_model",
)  # fmt: skip
#: the norms of the rows: three of the split's image norms, and the average over its images
NORMS = ("smallest", "quantile_5", "median", "mean_over_images")
METRICS = {"psnr": ("≥", "ge", "PSNR", " dB"), "mse": ("≤", "le", "MSE", "")}


@dataclass(frozen=True)
class ScratchCriterion:
    """Success of a from-scratch reconstruction: PSNR >= ``threshold`` dB (data range 1) or
    MSE <= ``threshold``, on the image in [0, 1]."""

    metric: str
    threshold: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r}: expected one of {', '.join(METRICS)}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(
                f"{self.metric} threshold {self.threshold!r}: expected a finite number > 0"
            )

    @classmethod
    def parse(cls, text: str) -> ScratchCriterion:
        """``METRIC:THRESHOLD`` (``psnr:30``, ``mse:0.001``); ValueError otherwise."""
        metric, separator, threshold = text.partition(":")
        try:
            value = float(threshold) if separator else math.nan
        except ValueError:
            value = math.nan
        if math.isnan(value):
            raise ValueError(f"criterion {text!r}: expected METRIC:THRESHOLD, e.g. psnr:30")
        return cls(metric, value)

    @property
    def mse_threshold(self) -> float:
        """eta: success is MSE <= eta (PSNR >= tau dB iff MSE <= 10^(-tau/10))."""
        return float(psnr_to_mse(self.threshold)) if self.metric == "psnr" else self.threshold

    @property
    def label(self) -> str:
        """Name for summary columns, e.g. ``psnr_ge_30``."""
        return f"{self.metric}_{METRICS[self.metric][1]}_{self.threshold:.12g}"

    @property
    def text(self) -> str:
        """Readable form, e.g. ``PSNR ≥ 30 dB``."""
        sign, _, name, unit = METRICS[self.metric]
        return f"{name} {sign} {self.threshold:g}{unit}"


def unique_criteria(criteria: Iterable[ScratchCriterion]) -> list[ScratchCriterion]:
    """``criteria``, or a ValueError when two give one MSE threshold (psnr:30, mse:0.001)."""
    seen: dict[float, ScratchCriterion] = {}
    for criterion in criteria:
        other = seen.setdefault(criterion.mse_threshold, criterion)
        if other is not criterion:
            raise ValueError(
                f"criteria {other.text} and {criterion.text} are one MSE threshold "
                f"{criterion.mse_threshold:g}; expected each once"
            )
    return list(seen.values())


def split_norms(images: np.ndarray) -> tuple[np.ndarray, int]:
    """(||X|| of each image in [0, 1], values per image N) of a prepared split (N, C, ...),
    possibly memory-mapped: read a chunk at a time (``rero.data.store.unit_float``)."""
    window = rows_per_chunk(tuple(images.shape[1:]), images.dtype)
    norms = [
        image_norms(unit_float(np.asarray(images[start : start + window])))
        for start in range(0, len(images), window)
    ]
    return np.concatenate(norms), image_dimension(images)


def from_scratch_table(
    plans: Sequence[PrivacyPlan],
    norms: np.ndarray,
    dimension: int,
    criteria: Sequence[ScratchCriterion],
    clip_norm: float,
) -> pd.DataFrame:
    """One row per plan x criterion x norm (``NORMS``), in the plans' order (COLUMNS).

    Raises:
        ValueError: no plan or criterion, plans of more than one dataset, a clip norm that is
            not finite and > 0, or a bad norm (``summarise_norms``).
    """
    if not plans or not criteria:
        raise ValueError("expected at least one privacy plan and one criterion")
    if len({plan.dataset for plan in plans}) != 1:
        raise ValueError(f"plans of more than one dataset: {sorted({p.dataset for p in plans})}")
    if not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm={clip_norm!r}: expected a finite C > 0")
    summary = summarise_norms(norms)
    named = {"smallest": summary.smallest, "quantile_5": summary.quantile_5}
    named["median"] = summary.median
    curves = {}  # (criterion, plan index) -> {norm name: (single, whole)}
    for (rate, steps), indices in _schedules(plans).items():
        private = [index for index in indices if plans[index].private]
        if not private:
            continue
        sigmas = np.array([plans[index].sigma for index in private])
        for criterion in criteria:
            law = {"dimension": dimension, "sample_rate": rate, "steps": steps}
            everyone = curves_over_images(
                criterion.mse_threshold, sigmas=sigmas, norms=norms, **law
            )
            named_curves = curves_over_images(
                criterion.mse_threshold, sigmas=sigmas, norms=list(named.values()), **law
            )
            means = everyone.mean_over_images()
            for row, index in enumerate(private):
                values = {
                    name: (named_curves.single_release[row, i], named_curves.whole_run[row, i])
                    for i, name in enumerate(named)
                }
                values["mean_over_images"] = (means[0][row], means[1][row])
                curves[criterion, index] = values
    rows = []
    for index, plan in enumerate(plans):
        for criterion in criteria:
            for norm in NORMS:
                data_norm = named.get(norm, math.nan)
                single, whole = curves.get((criterion, index), {}).get(norm, (1.0, 1.0))
                rows.append(
                    {
                        "dataset": plan.dataset,
                        "target_epsilon": plan.target_epsilon,
                        "sigma": plan.sigma,
                        "sample_rate": plan.sample_rate,
                        "steps": plan.steps,
                        "dimension": dimension,
                        "metric": criterion.metric,
                        "threshold": criterion.threshold,
                        "criterion": criterion.text,
                        "norm": norm,
                        "data_norm": data_norm,
                        "single_release": float(single),
                        "whole_run": float(whole),
                        "ncc_bound": float(ncc_bound(plan.sigma, dimension)),
                        "clipping_active": _clipping_active(plan, norm, named, norms, clip_norm),
                        "threat_model": THREAT_MODEL,
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _schedules(plans: Sequence[PrivacyPlan]) -> dict[tuple[float, int], list[int]]:
    """The indices of ``plans`` by their (q, T): the curves are vectorised over sigma per one."""
    groups: dict[tuple[float, int], list[int]] = {}
    for index, plan in enumerate(plans):
        groups.setdefault((plan.sample_rate, plan.steps), []).append(index)
    return groups


def _clipping_active(
    plan: PrivacyPlan, norm: str, named: dict[str, float], norms: np.ndarray, clip_norm: float
) -> bool:
    """||X|| >= C for the row's norm (every image's, for the mean over images); False for the
    non-private plan, which clips nothing."""
    if not plan.private:
        return False
    if norm == "mean_over_images":
        return bool(np.min(norms) >= clip_norm)
    return bool(named[norm] >= clip_norm)
