"""The audit figure: the ε each privacy plan claims against what an audit of the training code
shows in one training run, one panel per audited dataset and budget, one row per audited
quantity: lower bounds on ε (Steinke, Nasr and Jagielski 2023), the f-DP lower bound within the
claimed mechanism's family (Mahloujifar et al. 2025) and the white-box per-step audit's composed
bounds (Nasr et al. 2023)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rero.reporting.figures.labels import eps_label
from rero.reporting.figures.style import (
    SMALLEST_TEXT_PT,
    fit_legend,
    panel_grid,
    points_of,
    rule_of,
    save_figure,
    shared_legend,
    styled,
)
from rero.reporting.summary import AUDIT_COLUMNS

#: who audits: the concept of the style module and the legend's words
ACCESSES = {
    "white_box": ("audit/white-box", "white-box audit (every noisy step, gradient canaries)"),
    "black_box": ("audit/black-box", "black-box audit (final model, mislabelled images)"),
}
#: what is audited (the kinds of :data:`AUDIT_COLUMNS`): one row of each panel, top down,
#: named on the y axis
QUANTITIES = {
    "epsilon_lower": "lower bound on ε",
    "epsilon_fdp_lower": "f-DP lower bound on ε, DP-SGD family",
    "epsilon_composed": "per step, composed: lower bound on ε (i.i.d. steps)",
    "epsilon_composed_fdp": "per step, composed: empirical ε, DP-SGD family",
}
ROW_CHARACTERS = 26  # a quantity's name wraps beyond this many characters
#: the two accesses side by side within a quantity's row (rows are 1 apart)
ACCESS_OFFSET = 0.16
PANEL_HEIGHT_IN = 1.9


def _panel(axis: Axes, row: pd.Series) -> None:
    """One audited budget: the claimed ε as a dashed vertical line, each audited quantity a
    point (its value written beside it) in its row, white-box above black-box."""
    claimed = float(row["epsilon"])
    axis.axvline(claimed, label="claimed ε (accountant, upper bound)", **rule_of("claimed"))
    values = []
    for index, kind in enumerate(QUANTITIES):
        for side, (access, (concept, name)) in zip((-1, 1), ACCESSES.items(), strict=True):
            value = row.get(f"audit_{kind}_{access}", np.nan)
            if pd.isna(value):
                continue
            y = index + side * ACCESS_OFFSET
            axis.plot([value], [y], clip_on=False, zorder=3, label=name, **points_of(concept))
            axis.annotate(
                f"{value:.2g}",
                (value, y),
                textcoords="offset points",
                xytext=(4, 0),
                va="center",
                fontsize=SMALLEST_TEXT_PT,
            )
            values.append(float(value))
    right = max([claimed, *values]) * 1.3
    axis.set_xlim(0, right)
    axis.set_ylim(len(QUANTITIES) - 0.5, -0.5)
    axis.set_yticks(
        range(len(QUANTITIES)),
        [textwrap.fill(text, ROW_CHARACTERS) for text in QUANTITIES.values()],
    )
    axis.tick_params(axis="y", length=0)
    axis.set_xlabel(f"ε at δ = {row['delta']:g} (audited: 95 %)")
    axis.set_title(
        f"{row['dataset']}, {eps_label(float(row['target_epsilon']))}: claimed {claimed:.3g}"
    )


@styled
def audit_vs_claim(summary: pd.DataFrame, path: str | Path) -> Figure:
    """Claimed ε (the accountant's upper bound) against the audited 95 % lower bounds
    ``audit_epsilon_lower_<access>``, f-DP lower bounds ``audit_epsilon_fdp_lower_<access>`` and the
    per-step ones ``audit_epsilon_composed[_fdp]_white_box`` of the summary; one panel per
    audited dataset and budget, a note where no budget was audited. A point right of the claimed
    line would disprove the claim."""
    columns = [f"audit_{kind}_{access}" for kind, access in AUDIT_COLUMNS]
    present = [column for column in columns if column in summary.columns]
    audited = summary.dropna(subset=present, how="all") if present else summary.iloc[:0]
    audited = audited.sort_values(["dataset", "target_epsilon"])
    figure, axes = panel_grid(max(len(audited), 1), PANEL_HEIGHT_IN, 0.45, max_columns=2)
    if audited.empty:
        axis = axes.flat[0]
        axis.text(0.5, 0.5, "no budget audited\n(audit.eps is empty)", ha="center", va="center")
        axis.set_axis_off()
        return save_figure(figure, path)
    for axis, (_, row) in zip(axes.flat, audited.iterrows(), strict=False):
        _panel(axis, row)
    legend = shared_legend(figure, axes.flat, columns=1)
    fit_legend(figure, legend, PANEL_HEIGHT_IN * axes.shape[0])
    return save_figure(figure, path)
