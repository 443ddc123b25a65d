"""Risk figures: every bound method against ε, and the risk by threat model (certified
identification bound, from-scratch bound, the attacks' measured success) with the corridor
between them."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rero.privacy.rero.methods import APPROXIMATION, METHOD_NAMES, UPPER_BOUND
from rero.reporting.corridor import (
    EXPOSED_NORM,
    FIRST_SUCCESS,
    LEVEL,
    LINE_NORM,
    TRANSITION,
    corridors,
    drawn_criterion,
    norm_rows,
    read_eta,
    read_tables,
    same_metric,
)
from rero.reporting.figures.labels import EpsAxis, imprint_text, kappa_text, method_name
from rero.reporting.figures.style import (
    BAR_MARKER,
    KAPPA_CONCEPTS,
    SINGLE_COLUMN_IN,
    TRANSITION_CONCEPTS,
    area_of,
    fit_legend,
    line_of,
    panel_grid,
    points_of,
    save_figure,
    shared_legend,
    styled,
)
from rero.reporting.summary import attack_table, record_key
from rero.runtime.io import read_json

CI_FIELDS = ("success_rate", "ci_low", "ci_high")
LEGEND_CHARACTERS = 50  # a legend entry's line: one column wide at 7 pt, with its handle
ROW_HEIGHT_IN = 2.5
#: the certified bound is drawn over the approximations (which may hide it where they agree)
CERTIFIED_ZORDER = 3.0
CERTIFIED_WIDTH = 1.6
#: the line style of certified bounds and of approximations in ``bounds_vs_eps``, as its caption
#: states them
BOUND_LINESTYLES = {UPPER_BOUND: "-", APPROXIMATION: "--"}


def read_bounds(bound_files: Sequence[str | Path]) -> pd.DataFrame:
    """The bounds tables of every dataset, one frame."""
    return pd.concat([pd.read_csv(file) for file in bound_files], ignore_index=True)


def bound_line(
    axis: Axes, eps_axis: EpsAxis, budgets: pd.Series, values: pd.Series, **style: object
) -> None:
    """A bound over the finite budgets as a line, and its value at ε = ∞ (if any) as a bar of
    the line's colour at the axis's non-private place, unconnected."""
    budgets = budgets.astype(float)
    finite = np.isfinite(budgets).to_numpy()
    order = np.argsort(budgets.to_numpy()[finite], kind="stable")
    (line,) = axis.plot(
        budgets[finite].to_numpy()[order], values[finite].to_numpy()[order], **style
    )
    if not finite.all():
        axis.plot(
            eps_axis.x(budgets[~finite]),
            values[~finite],
            marker=BAR_MARKER,
            markersize=8,
            markeredgewidth=1.5,
            linestyle="none",
            color=line.get_color(),
            gid=line.get_gid(),
        )


def _panel_axes(axis: Axes, eps_axis: EpsAxis, ylabel: str, title: str) -> None:
    """The ε axis, a [0, 1] success axis and the panel's labels."""
    eps_axis.decorate(axis)
    axis.set_ylim(-0.02, 1.02)
    axis.set_ylabel(ylabel)
    axis.set_title(title)


@styled
def bounds_vs_eps(bound_files: Sequence[str | Path], path: str | Path) -> Figure:
    """Reconstruction-success bounds of each method against ε, one panel per dataset and κ:
    certified upper bounds solid, thicker and on top, approximations dashed
    (:data:`BOUND_LINESTYLES`); ε = ∞ at the right end."""
    bounds = read_bounds(bound_files)
    eps_axis = EpsAxis.of(bounds["target_epsilon"])
    panels = bounds[["dataset", "kappa_label"]].drop_duplicates()
    panels = panels.sort_values("dataset", kind="stable")
    figure, axes = panel_grid(len(panels), ROW_HEIGHT_IN, 0.5, max_columns=2)
    for axis, (dataset, label) in zip(axes.flat, panels.itertuples(index=False), strict=False):
        subset = bounds[(bounds["dataset"] == dataset) & (bounds["kappa_label"] == label)]
        present = set(subset["method"])
        methods = [name for name in METHOD_NAMES if name in present]
        for method in methods + sorted(present - set(methods)):
            lines = subset[subset["method"] == method]
            certified = (lines["kind"] == UPPER_BOUND).all()
            concept = "identification" if method == "rigorous" else f"approximation/{method}"
            style = line_of(concept) | {
                "linestyle": BOUND_LINESTYLES[UPPER_BOUND if certified else APPROXIMATION]
            }
            if certified:
                style |= {"zorder": CERTIFIED_ZORDER, "linewidth": CERTIFIED_WIDTH}
            bound_line(
                axis,
                eps_axis,
                lines["target_epsilon"],
                lines["bound"],
                markersize=3.5 if certified else 2.5,
                label=method_name(method),
                **style,
            )
        kappa = float(subset["kappa"].iloc[0])
        axis.axhline(kappa, linewidth=0.8, label="prior baseline κ", **line_of("prior baseline"))
        _panel_axes(
            axis, eps_axis, "reconstruction success γ", f"{dataset}, {kappa_text(kappa, label)}"
        )
    shared_legend(figure, axes.flat, columns=2 if figure.get_figwidth() == SINGLE_COLUMN_IN else 3)
    return save_figure(figure, path)


def _attack_points(
    axis: Axes, eps_axis: EpsAxis, rows: pd.DataFrame, prefix: str, **style: object
) -> None:
    """Measured success rates with their 95 % CIs (non-private at the axis's right end)."""
    rows = rows.dropna(subset=[f"{prefix}_success_rate"])
    success = rows[f"{prefix}_success_rate"]
    axis.errorbar(
        eps_axis.x(rows["target_epsilon"]),
        success,
        yerr=[success - rows[f"{prefix}_ci_low"], rows[f"{prefix}_ci_high"] - success],
        **style,
    )


def criterion_points(
    imprint_files: Sequence[str | Path], dataset: str, metric: str, threshold: float
) -> pd.DataFrame:
    """The imprint attack's success by one further criterion (``criteria`` of its records), at
    every budget of ``dataset`` that recorded it: columns ``criterion_success_rate``, ``_ci_low``
    and ``_ci_high`` (``raw_psnr`` and ``psnr`` are one metric)."""
    rows = []
    for file in imprint_files:
        record = read_json(file)
        name, target = record_key(record, file)
        for item in record.get("criteria", []) if name == dataset else []:
            if same_metric(item["metric"], float(item["threshold"]), metric, threshold):
                rows.append(
                    {"target_epsilon": target}
                    | {f"criterion_{key}": float(item[key]) for key in CI_FIELDS}
                )
    return pd.DataFrame(rows, columns=["target_epsilon", *(f"criterion_{k}" for k in CI_FIELDS)])


def _shade_transitions(axis: Axes, rows: pd.DataFrame) -> None:
    """Hatch each located ε interval of the imprint attack's transitions by the paper's SSIM
    criterion (finite ends only), first success first, then the levels upwards, one hatch each."""
    if rows.empty:
        return
    levels = []
    for column in rows.columns:
        match = TRANSITION.fullmatch(column)
        if match is not None and match["metric"] is None:
            levels.append((match["level"] != FIRST_SUCCESS, match["level"], column))
    for index, (_, level, column) in enumerate(sorted(levels)):
        criterion = re.sub(r"^([<>=≤≥]+)", r"\1 ", level)
        low, high = rows[column].iloc[0], rows[column.replace("_eps_low", "_eps_high")].iloc[0]
        if low > 0 and math.isfinite(high):
            concept = TRANSITION_CONCEPTS[index % len(TRANSITION_CONCEPTS)]
            axis.axvspan(
                low,
                high,
                alpha=0.6,
                label=f"imprint attack: ε where success first {criterion}",
                **area_of(concept),
            )


def _from_scratch(axis: Axes, eps_axis: EpsAxis, scratch: pd.DataFrame) -> tuple[str, float]:
    """The from-scratch bound by the table's first criterion: the median-norm image's success
    as lines (one release solid, whole run dashed), each with a band up to the smallest-norm
    image's (every image of norm in between lies in it); returns the criterion's metric and
    threshold."""
    scratch = drawn_criterion(scratch)
    criterion = str(scratch["criterion"].iloc[0])
    median, exposed = norm_rows(scratch, LINE_NORM), norm_rows(scratch, EXPOSED_NORM)
    for column, name in (("single_release", "one release"), ("whole_run", "whole run")):
        bound_line(
            axis,
            eps_axis,
            median["target_epsilon"],
            median[column],
            label=f"from scratch, {name} (no prior), median image, P({criterion})",
            **line_of(f"from scratch/{name}"),
        )
        band = median[["target_epsilon", column]].merge(
            exposed[["target_epsilon", column]], on="target_epsilon", suffixes=("", "_exposed")
        )
        band = band[np.isfinite(band["target_epsilon"])].sort_values("target_epsilon")
        axis.fill_between(
            band["target_epsilon"],
            band[column],
            band[f"{column}_exposed"],
            alpha=0.15,
            label="from scratch, images of norm between the smallest and the median",
            **area_of("from scratch/norm band"),
        )
    return str(scratch["metric"].iloc[0]), float(scratch["threshold"].iloc[0])


@styled
def risk_vs_eps(
    summary: pd.DataFrame,
    bound_files: Sequence[str | Path],
    path: str | Path,
    imprint_files: Sequence[str | Path],
    from_scratch_files: Sequence[str | Path] = (),
) -> Figure:
    """Reconstruction risk against ε by threat model: the certified identification bound per κ
    (and of the prior-aware attack's own run), the from-scratch bound where its tables are given,
    and the attacks' measured success as points with 95 % CIs (the imprint attack at every budget
    attacked, also by the from-scratch criterion where recorded; the prior-aware attack at the
    trained ones); shaded, the corridor (:mod:`rero.reporting.corridor`) and the ε intervals
    where the imprint success first reaches each located level."""
    eta = read_eta(imprint_files)
    imprint = attack_table(imprint_files, "imprint")
    rigorous = read_bounds(bound_files).query("method == 'rigorous'")
    scratch = read_tables(from_scratch_files)
    spans = corridors(summary, bound_files, from_scratch_files)
    eps_axis = EpsAxis.of(
        pd.concat(
            [rigorous["target_epsilon"], summary["target_epsilon"], imprint["target_epsilon"]]
        )
    )
    datasets = sorted(summary["dataset"].unique())
    figure, axes = panel_grid(len(datasets), ROW_HEIGHT_IN, 1.3, max_columns=2)
    for axis, dataset in zip(axes.flat, datasets, strict=False):
        lines = rigorous[rigorous["dataset"] == dataset]
        first = spans[dataset].kappa_label
        labels = [first, *(label for label in lines["kappa_label"].unique() if label != first)]
        for concept, label in zip(KAPPA_CONCEPTS, labels, strict=False):
            line = lines[lines["kappa_label"] == label]
            text = kappa_text(float(line["kappa"].iloc[0]), str(label))
            bound_line(
                axis,
                eps_axis,
                line["target_epsilon"],
                line["bound"],
                label=f"identification, {text}, certified",
                markersize=2.5,
                **line_of(concept),
            )
        rows = summary[summary["dataset"] == dataset]
        prior_kappa = rows["prior_aware_run_kappa"].dropna()
        prior_text = kappa_text(float(prior_kappa.iloc[0])) if not prior_kappa.empty else "κ = 1/M"
        bound_line(
            axis,
            eps_axis,
            rows["target_epsilon"],
            rows["prior_aware_run_bound"],
            label=f"identification, {prior_text}, prior-aware attack's run, certified",
            **line_of("prior-aware/run bound"),
        )
        own = scratch[scratch["dataset"] == dataset] if not scratch.empty else scratch
        if not own.empty:
            metric, threshold = _from_scratch(axis, eps_axis, own)
        _attack_points(
            axis,
            eps_axis,
            rows,
            "prior_aware",
            label=f"prior-aware attack, measured ({prior_text}), 95 % CI",
            **points_of("prior-aware"),
        )
        _attack_points(
            axis,
            eps_axis,
            imprint[imprint["dataset"] == dataset],
            "imprint",
            label=f"{imprint_text(eta)}, 95 % CI",
            **points_of("imprint"),
        )
        if not own.empty:
            _attack_points(
                axis,
                eps_axis,
                criterion_points(imprint_files, dataset, metric, threshold),
                "criterion",
                label=f"imprint attack, measured ({spans[dataset].criterion}), 95 % CI",
                **points_of("imprint/other criterion"),
            )
        _shade_transitions(axis, rows)
        span = spans[dataset].span
        if span is not None:
            axis.axvspan(
                *span,
                zorder=0,
                **area_of("corridor"),
                label=f"corridor: certified bound ≥ {LEVEL:g}, no imprint success",
            )
        _panel_axes(axis, eps_axis, "reconstruction success", dataset)
    for axis in axes.flat:  # wrapped to fit a column of the legend
        for artist in [*axis.lines, *axis.collections, *axis.patches, *axis.containers]:
            artist.set_label(textwrap.fill(artist.get_label(), LEGEND_CHARACTERS))
    single = figure.get_figwidth() == SINGLE_COLUMN_IN
    legend = shared_legend(figure, axes.flat, columns=1 if single else 2)
    fit_legend(figure, legend, ROW_HEIGHT_IN * axes.shape[0])
    return save_figure(figure, path)
