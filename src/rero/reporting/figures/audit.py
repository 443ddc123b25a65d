"""The audit figure: the ε each privacy plan claims against what an audit of the training code
shows in one training run: lower bounds on ε (Steinke, Nasr and Jagielski 2023, filled), the
f-DP empirical ε within the claimed mechanism's family (Mahloujifar et al. 2025, open) and the
white-box per-step audit's composed bounds (Nasr et al. 2023, half filled: left without, right
with the family's assumption)."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from rero.reporting.figures.style import panel_grid, save_figure, shared_legend, styled

ACCESSES = {
    "white_box": ("o", "white-box audit (every noisy step, gradient canaries)"),
    "black_box": ("s", "black-box audit (final model, mislabelled images)"),
}
BOUNDS = {
    "epsilon_lower": ("full", "lower bound on ε"),
    "epsilon_fdp": ("none", "f-DP empirical ε, DP-SGD family"),
    "epsilon_composed": ("left", "per step, composed: lower bound on ε (i.i.d. steps)"),
    "epsilon_composed_fdp": ("right", "per step, composed: empirical ε, DP-SGD family"),
}


@styled
def audit_vs_claim(summary: pd.DataFrame, path: str | Path) -> Figure:
    """Claimed ε (the accountant's upper bound, the diagonal) against the audited 95 % lower
    bounds ``audit_epsilon_lower_<access>``, f-DP empirical ε ``audit_epsilon_fdp_<access>`` and
    the per-step ones ``audit_epsilon_composed[_fdp]_white_box`` of the summary; one panel per
    audited dataset, a note where no budget was audited. A point above the diagonal would
    disprove the claim."""
    columns = [f"audit_{kind}_{access}" for kind in BOUNDS for access in ACCESSES]
    present = [column for column in columns if column in summary.columns]
    audited = summary.dropna(subset=present, how="all") if present else summary.iloc[:0]
    datasets = sorted(audited["dataset"].unique())
    figure, axes = panel_grid(max(len(datasets), 1), 2.4, 0.45, max_columns=2)
    if not datasets:
        axis = axes.flat[0]
        axis.text(0.5, 0.5, "no budget audited\n(audit.eps is empty)", ha="center", va="center")
        axis.set_axis_off()
        return save_figure(figure, path)
    for axis, dataset in zip(axes.flat, datasets, strict=False):
        rows = audited[audited["dataset"] == dataset].sort_values("epsilon")
        top = float(rows["epsilon"].max()) * 1.15
        axis.plot([0, top], [0, top], "k--", label="claimed ε (accountant, upper bound)")
        for (access, (marker, label)), (kind, (fill, meaning)) in product(
            ACCESSES.items(), BOUNDS.items()
        ):
            column = f"audit_{kind}_{access}"
            if column in rows:
                axis.plot(
                    rows["epsilon"],
                    rows[column],
                    marker,
                    ls="",
                    fillstyle=fill,
                    color=f"C{list(ACCESSES).index(access)}",
                    label=f"{label}: {meaning}",
                )
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
        axis.set_xlabel(f"claimed ε at δ = {rows['delta'].iloc[0]:g}")
        axis.set_ylabel("audited ε (95 %)")
        axis.set_title(dataset)
    shared_legend(figure, axes.flat, columns=1)
    return save_figure(figure, path)
