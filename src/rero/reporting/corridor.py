"""The risk corridor of a dataset: where each family of risk curves first reaches a level.

Three families, each with its own threat model: the certified identification bound (an informed
adversary with prior κ; the bounds tables), the from-scratch bound (no data prior, unbiased
analytic inversion; ``<dataset>_from_scratch.csv``) and the imprint attack as measured (the
summary's located transitions). Every crossing is read off the budgets computed, never
interpolated: it lies between the last budget below the level and the first at or above it. The
corridor is the ε range in which the certified bound has reached :data:`LEVEL` while the imprint
attack has not yet succeeded on any image. :func:`read_eta` reads the attack's SSIM threshold η.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rero.runtime.io import read_json

#: the risk level at which the bounds' crossings are read
LEVEL = 0.5
#: the norm of the from-scratch curve drawn and stated; the band reaches to :data:`EXPOSED_NORM`
LINE_NORM = "median"
EXPOSED_NORM = "smallest"
FIRST_SUCCESS = ">0"
#: a transition column of the summary: ``imprint_transition_[<label>_]<level>_eps_low``
TRANSITION = re.compile(
    r"imprint_transition_(?:(?P<metric>[a-z_]+?)_(?:ge|le)_(?P<threshold>[0-9.e+-]+)_)?"
    r"(?P<level>[<>=]+[0-9.e+-]+)_eps_low"
)


@dataclass(frozen=True)
class Crossing:
    """A curve first reaches a level in (``low``, ``high``]: ``low`` 0 when it is reached at the
    smallest budget, ``high`` inf when at no finite budget (``low`` the largest one)."""

    low: float
    high: float

    @property
    def reached(self) -> bool:
        return math.isfinite(self.high)


@dataclass(frozen=True)
class Corridor:
    """One dataset's crossings: the identification bound at prior ``kappa`` (label
    ``kappa_label``) reaching :data:`LEVEL`; the from-scratch bound of the median-norm image by
    ``criterion`` (one release, whole run; None without its table); the imprint attack's first
    success by the paper's SSIM criterion and by ``criterion`` (None where not located)."""

    dataset: str
    kappa_label: str
    kappa: float
    identification: Crossing
    criterion: str | None
    single_release: Crossing | None
    whole_run: Crossing | None
    attack: Crossing | None
    attack_at_criterion: Crossing | None

    @property
    def span(self) -> tuple[float, float] | None:
        """(the first budget whose certified bound is ≥ :data:`LEVEL`, the last budget at which
        the imprint attack had no success: by the paper's criterion, else by the from-scratch
        bound's where the transition search used that one), when the first lies below the second."""
        attack = self.attack or self.attack_at_criterion
        if attack is None or not self.identification.reached:
            return None
        if attack.low <= self.identification.high:
            return None
        return self.identification.high, attack.low


def first_crossing(budgets: pd.Series, values: pd.Series, level: float = LEVEL) -> Crossing:
    """Where ``values`` (one per budget) first reach ``level`` on the finite budgets."""
    points = pd.DataFrame({"eps": budgets.astype(float).to_numpy(), "value": values.to_numpy()})
    points = points[np.isfinite(points["eps"])].sort_values("eps", kind="stable")
    if points.empty:
        raise ValueError("no finite budget: a crossing cannot be read")
    above = np.flatnonzero(points["value"].to_numpy() >= level)
    eps = points["eps"].to_numpy()
    if above.size == 0:
        return Crossing(float(eps[-1]), math.inf)
    first = int(above[0])
    return Crossing(float(eps[first - 1]) if first else 0.0, float(eps[first]))


def read_tables(files: Sequence[str | Path]) -> pd.DataFrame:
    """The CSV tables of ``files``, one frame (empty without files)."""
    frames = [pd.read_csv(file) for file in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def identification_kappa(bounds: pd.DataFrame) -> tuple[str, float]:
    """The prior of a dataset's corridor: κ = 1/N (the paper's) where computed, else the smallest
    κ of its bounds table."""
    rigorous = bounds[bounds["method"] == "rigorous"]
    if rigorous.empty:
        raise ValueError("bounds table: no certified (rigorous) bound to read the corridor from")
    labelled = rigorous[rigorous["kappa_label"].astype(str) == "1/N"]
    row = (labelled if not labelled.empty else rigorous.sort_values("kappa")).iloc[0]
    return str(row["kappa_label"]), float(row["kappa"])


def drawn_criterion(scratch: pd.DataFrame) -> pd.DataFrame:
    """The rows of a dataset's from-scratch table by its first criterion (the config's first)."""
    return scratch[scratch["criterion"] == scratch["criterion"].iloc[0]]


def norm_rows(scratch: pd.DataFrame, norm: str) -> pd.DataFrame:
    """The rows of one image norm (``median``, ``smallest``, ...), refused when absent."""
    rows = scratch[scratch["norm"] == norm]
    if rows.empty:
        raise ValueError(
            f"from-scratch table of {scratch['dataset'].iloc[0]}: no rows of norm {norm!r} "
            f"(it has {', '.join(map(str, scratch['norm'].unique()))})"
        )
    return rows


def same_metric(metric: str, threshold: float, other_metric: str, other_threshold: float) -> bool:
    """Whether two success criteria are one (``raw_psnr`` and ``psnr`` name one metric)."""
    return metric.removeprefix("raw_") == other_metric.removeprefix("raw_") and math.isclose(
        threshold, other_threshold
    )


def attack_crossings(
    row: pd.Series, scratch: pd.DataFrame
) -> tuple[Crossing | None, Crossing | None]:
    """The imprint attack's located first success (summary columns) by the paper's SSIM
    criterion and by the from-scratch table's criterion (None where not located)."""
    paper = at_criterion = None
    for column, value in row.items():
        match = TRANSITION.fullmatch(str(column))
        if match is None or match["level"] != FIRST_SUCCESS or pd.isna(value):
            continue
        crossing = Crossing(float(value), float(row[str(column).replace("_eps_low", "_eps_high")]))
        if match["metric"] is None:
            paper = crossing
        elif not scratch.empty and same_metric(
            match["metric"],
            float(match["threshold"]),
            str(scratch["metric"].iloc[0]),
            float(scratch["threshold"].iloc[0]),
        ):
            at_criterion = crossing
    return paper, at_criterion


def corridor(
    dataset: str, summary: pd.DataFrame, bounds: pd.DataFrame, scratch: pd.DataFrame
) -> Corridor:
    """The corridor of ``dataset`` from its rows of the summary, bounds and from-scratch tables
    (``scratch`` empty: no from-scratch bound computed)."""
    label, kappa = identification_kappa(bounds)
    line = bounds[(bounds["method"] == "rigorous") & (bounds["kappa_label"].astype(str) == label)]
    identification = first_crossing(line["target_epsilon"], line["bound"])
    criterion = single = whole = None
    if not scratch.empty:
        scratch = drawn_criterion(scratch)
        criterion = str(scratch["criterion"].iloc[0])
        median = norm_rows(scratch, LINE_NORM)
        single = first_crossing(median["target_epsilon"], median["single_release"])
        whole = first_crossing(median["target_epsilon"], median["whole_run"])
    rows = summary[summary["dataset"] == dataset]
    paper, at_criterion = attack_crossings(rows.iloc[0], scratch) if not rows.empty else (None,) * 2
    return Corridor(
        dataset, label, kappa, identification, criterion, single, whole, paper, at_criterion
    )


def corridors(
    summary: pd.DataFrame,
    bound_files: Sequence[str | Path],
    from_scratch_files: Sequence[str | Path] = (),
) -> dict[str, Corridor]:
    """Every dataset's corridor, by dataset name (sorted)."""
    bounds = read_tables(bound_files)
    scratch = read_tables(from_scratch_files)
    result = {}
    for dataset in sorted(summary["dataset"].astype(str).unique()):
        own = scratch[scratch["dataset"] == dataset] if not scratch.empty else scratch
        result[dataset] = corridor(
            dataset, summary, bounds[bounds["dataset"] == dataset], own.reset_index(drop=True)
        )
    return result


def results_corridors(results: str | Path) -> dict[str, Corridor]:
    """The corridors of a results folder: its ``summary.csv``, ``bounds/<dataset>.csv`` and,
    where written, ``bounds/<dataset>_from_scratch.csv``."""
    root = Path(results)
    summary = pd.read_csv(root / "summary.csv")
    datasets = sorted(summary["dataset"].astype(str).unique())
    scratch = [root / "bounds" / f"{name}_from_scratch.csv" for name in datasets]
    return corridors(
        summary,
        [root / "bounds" / f"{name}.csv" for name in datasets],
        [file for file in scratch if file.exists()],
    )


def read_eta(imprint_files: Sequence[str | Path]) -> float:
    """The SSIM threshold η of imprint success, which every ``imprint.json`` states (one η)."""
    if not imprint_files:
        raise ValueError(
            "the figures and the corridor text need the imprint attack's imprint.json files (for η)"
        )
    etas = {float(read_json(file)["ssim_threshold"]) for file in imprint_files}
    if len(etas) != 1:
        raise ValueError(f"imprint.json files disagree on ssim_threshold η: {sorted(etas)}")
    return etas.pop()
