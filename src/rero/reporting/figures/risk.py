"""Risk figures: every bound method against ε, and the certified bound beside the attacks'
measured success."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rero.privacy.rero.methods import METHOD_NAMES, UPPER_BOUND
from rero.reporting.figures.labels import (
    EpsAxis,
    imprint_text,
    kappa_text,
    method_name,
    read_eta,
)
from rero.reporting.figures.style import (
    SINGLE_COLUMN_IN,
    panel_grid,
    save_figure,
    shared_legend,
    styled,
)
from rero.reporting.summary import attack_table

KAPPA_COLOURS = ("C0", "C4", "C5", "C7", "C8")  # one per κ of the bounds; C2, C3: the attacks
ROW_HEIGHT_IN = 2.5


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
            marker="_",
            markersize=8,
            markeredgewidth=1.5,
            linestyle="none",
            color=line.get_color(),
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
    certified upper bounds solid, approximations dashed; ε = ∞ at the right end."""
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
            upper = (lines["kind"] == UPPER_BOUND).all()
            bound_line(
                axis,
                eps_axis,
                lines["target_epsilon"],
                lines["bound"],
                marker="o",
                markersize=2.5,
                linestyle="-" if upper else "--",
                label=method_name(method),
            )
        kappa = float(subset["kappa"].iloc[0])
        axis.axhline(kappa, color="0.5", linewidth=0.8, linestyle=":", label="prior baseline κ")
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
        linestyle="none",
        **style,
    )


def _shade_transitions(axis: Axes, rows: pd.DataFrame) -> None:
    """Shade each located ε interval of the imprint transition (finite ends only)."""
    if rows.empty:
        return
    for column in rows.columns:
        if not (column.startswith("imprint_transition_") and column.endswith("_eps_low")):
            continue
        criterion = column.removeprefix("imprint_transition_").removesuffix("_eps_low")
        criterion = re.sub(r"^([<>=≤≥]+)", r"\1 ", criterion)
        low, high = rows[column].iloc[0], rows[column.replace("_eps_low", "_eps_high")].iloc[0]
        if low > 0 and math.isfinite(high):
            axis.axvspan(
                low,
                high,
                color="C2",
                alpha=0.15,
                linewidth=0,
                label=f"ε where imprint success first {criterion}",
            )


@styled
def risk_vs_eps(
    summary: pd.DataFrame,
    bound_files: Sequence[str | Path],
    path: str | Path,
    imprint_files: Sequence[str | Path],
) -> Figure:
    """Certified bounds as lines, the attacks' measured success as points with 95 % CIs,
    against ε: the imprint attack at every budget attacked (``imprint_files``), the
    prior-aware attack at the trained ones, and the ε interval where the imprint success first
    reaches each located level, shaded."""
    eta = read_eta(imprint_files)
    imprint = attack_table(imprint_files, "imprint")
    rigorous = read_bounds(bound_files).query("method == 'rigorous'")
    eps_axis = EpsAxis.of(
        pd.concat(
            [rigorous["target_epsilon"], summary["target_epsilon"], imprint["target_epsilon"]]
        )
    )
    datasets = sorted(summary["dataset"].unique())
    figure, axes = panel_grid(len(datasets), ROW_HEIGHT_IN, 1.3, max_columns=2)
    for axis, dataset in zip(axes.flat, datasets, strict=False):
        lines = rigorous[rigorous["dataset"] == dataset]
        for colour, (label, line) in zip(
            KAPPA_COLOURS, lines.groupby("kappa_label", sort=False), strict=False
        ):
            text = kappa_text(float(line["kappa"].iloc[0]), str(label))
            bound_line(
                axis,
                eps_axis,
                line["target_epsilon"],
                line["bound"],
                color=colour,
                label=f"{method_name('rigorous')}, training run, {text}",
            )
        rows = summary[summary["dataset"] == dataset]
        prior_kappa = rows["prior_aware_run_kappa"].dropna()
        prior_text = kappa_text(float(prior_kappa.iloc[0])) if not prior_kappa.empty else "κ = 1/M"
        bound_line(
            axis,
            eps_axis,
            rows["target_epsilon"],
            rows["prior_aware_run_bound"],
            color="C3",
            linestyle="-.",
            label=f"{method_name('rigorous')}, prior-aware setting, {prior_text}",
        )
        _attack_points(
            axis,
            eps_axis,
            rows,
            "prior_aware",
            fmt="o",
            color="C3",
            label=f"prior-aware attack ({prior_text}), 95 % CI",
        )
        _attack_points(
            axis,
            eps_axis,
            imprint[imprint["dataset"] == dataset],
            "imprint",
            fmt="s",
            color="C2",
            label=f"{imprint_text(eta)}, 95 % CI",
        )
        _shade_transitions(axis, rows)
        _panel_axes(axis, eps_axis, "reconstruction success", dataset)
    shared_legend(figure, axes.flat, columns=1 if figure.get_figwidth() == SINGLE_COLUMN_IN else 2)
    return save_figure(figure, path)
