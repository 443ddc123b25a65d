"""Utility figures: the test metrics against ε, and utility against reconstruction risk."""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rero.data.tasks import METRIC_LABELS, TASK_METRICS
from rero.reporting.corridor import read_eta
from rero.reporting.figures.labels import EpsAxis, eps_label, imprint_text, method_name
from rero.reporting.figures.style import (
    DOUBLE_COLUMN_IN,
    SINGLE_COLUMN_IN,
    area_of,
    fit_legend,
    line_of,
    new_figure,
    panel_grid,
    points_of,
    rule_of,
    save_figure,
    shared_legend,
    styled,
)
from rero.reporting.summary import training_table

ROW_HEIGHT_IN = 1.9
#: the seeds of one budget drawn apart by this share of the ε axis's decades
SEED_OFFSET = 0.02
#: the legend's words for the seeds, with (True) or without their bootstrap intervals
SEED_LABELS = {
    True: "single seeds, 95 % bootstrap interval over test examples (main metric)",
    False: "single seeds",
}
#: the seed-spread note over the legend: its line length in characters by figure width
NOTE_CHARACTERS = {SINGLE_COLUMN_IN: 60, DOUBLE_COLUMN_IN: 125}
TITLE_CHARACTERS = 30  # a panel title wraps beyond this many characters


def distinct_metrics(runs: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, ...]]:
    """``names`` grouped by equal values on every run: each group is one panel (a balanced test
    set, say, makes accuracy and balanced accuracy one)."""
    groups: list[tuple[str, ...]] = []
    for name in names:
        values = runs[name].to_numpy(float)
        for index, group in enumerate(groups):
            if np.array_equal(runs[group[0]].to_numpy(float), values, equal_nan=True):
                groups[index] = (*group, name)
                break
        else:
            groups.append((name,))
    return groups


def within_seed_spread(runs: pd.DataFrame, metric: str) -> list[tuple[float, float]]:
    """The neighbouring trained budgets (ε ascending, non-private last) of one dataset's runs
    whose mean ``metric`` differs by less than the larger of their two standard deviations over
    seeds: differences that the seeds' spread covers."""
    stats = runs.groupby("target_epsilon")[metric].agg(["mean", "std"]).sort_index()
    pairs = []
    for (low, first), (high, second) in itertools.pairwise(stats.iterrows()):
        spread = max(first["std"], second["std"])
        if abs(second["mean"] - first["mean"]) < spread:  # NaN (one seed) is never noted
            pairs.append((float(low), float(high)))
    return pairs


def spread_note(runs: pd.DataFrame) -> str:
    """The sentence under the utility figure naming, per dataset, the neighbouring budgets whose
    main metric differs by less than the seeds' spread (empty where none does)."""
    notes = []
    for dataset, subset in runs.groupby("dataset", sort=True):
        metric = str(subset["main_metric"].iloc[0])
        pairs = within_seed_spread(subset, "main_metric_value")
        if pairs:
            between = ", ".join(f"{eps_label(a)} and {eps_label(b)}" for a, b in pairs)
            notes.append(f"{dataset}, {METRIC_LABELS[metric]} between {between}")
    if not notes:
        return ""
    return (
        "Within the seeds' spread (means differ by less than the larger sd over seeds): "
        + "; ".join(notes)
        + "."
    )


def _seed_x(runs: pd.DataFrame, eps_axis: EpsAxis) -> np.ndarray:
    """Each run's place on the ε axis, the seeds of one budget side by side."""
    rank = runs.groupby("target_epsilon").cumcount().to_numpy()
    count = runs.groupby("target_epsilon")["seed"].transform("size").to_numpy()
    decades = math.log10(eps_axis.non_private / eps_axis.low) + 1
    return eps_axis.x(runs["target_epsilon"]) * 10 ** (
        SEED_OFFSET * decades * (rank - (count - 1) / 2)
    )


def _draw_metric(axis: Axes, runs: pd.DataFrame, group: tuple[str, ...], eps_axis: EpsAxis) -> None:
    """Seeds as points (with their 95 % test-set bootstrap interval for the main metric), their
    mean ± sd over ε as a line and band; the non-private mean ± sd at the axis's non-private
    place, with a dashed reference line across."""
    metric = group[0]
    stats = runs.groupby("target_epsilon")[metric].agg(["mean", "std"]).reset_index()
    private = stats[np.isfinite(stats["target_epsilon"])]
    x = eps_axis.x(private["target_epsilon"])
    axis.plot(x, private["mean"], label="DP-SGD, mean over seeds", **line_of("dp-sgd"))
    if private["std"].notna().any():
        axis.fill_between(
            x,
            private["mean"] - private["std"],
            private["mean"] + private["std"],
            alpha=0.2,
            label="± sd over seeds",
            **area_of("dp-sgd"),
        )
    values = runs[metric].to_numpy(float)
    main = str(runs["main_metric"].iloc[0]) in group
    low, high = runs["main_metric_ci_low"].to_numpy(), runs["main_metric_ci_high"].to_numpy()
    bootstrapped = main and bool(np.isfinite(low).all() and np.isfinite(high).all())
    axis.errorbar(
        _seed_x(runs, eps_axis),
        values,
        yerr=[values - low, high - values] if bootstrapped else None,
        markersize=3,
        elinewidth=0.6,
        capsize=0,
        zorder=3,
        label=SEED_LABELS[bootstrapped],
        **points_of("seed"),
    )
    reference = stats[np.isinf(stats["target_epsilon"])]
    if not reference.empty:
        mean, sd = reference["mean"].iloc[0], reference["std"].fillna(0.0).iloc[0]
        axis.axhline(mean, linewidth=0.7, **rule_of("non-private"))
        axis.errorbar(
            [eps_axis.non_private],
            [mean],
            yerr=[sd],
            label="non-private, mean ± sd",
            **points_of("non-private"),
        )


@styled
def utility_vs_eps(metric_files: Sequence[str | Path], path: str | Path) -> Figure:
    """Test metrics against ε (log), one row per dataset and one panel per distinct metric of
    its task; the non-private runs at the axis's right end."""
    runs = training_table(metric_files)
    eps_axis = EpsAxis.of(runs["target_epsilon"])
    datasets = sorted(runs["dataset"].unique())
    panels = {
        dataset: distinct_metrics(
            runs[runs["dataset"] == dataset],
            TASK_METRICS[runs.loc[runs["dataset"] == dataset, "task"].iloc[0]],
        )
        for dataset in datasets
    }
    columns = max(len(groups) for groups in panels.values())
    width = SINGLE_COLUMN_IN if columns == 1 else DOUBLE_COLUMN_IN
    figure, axes = new_figure(width, ROW_HEIGHT_IN * len(datasets) + 0.4, len(datasets), columns)
    for row, dataset in enumerate(datasets):
        subset = runs[runs["dataset"] == dataset]
        for axis in axes[row, len(panels[dataset]) :]:
            axis.set_visible(False)
        for col, group in enumerate(panels[dataset]):
            axis = axes[row, col]
            _draw_metric(axis, subset, group, eps_axis)
            eps_axis.decorate(axis)
            title = " = ".join(METRIC_LABELS[name] for name in group)
            axis.set_title(textwrap.fill(title, TITLE_CHARACTERS))
            axis.set_ylabel(f"{dataset}: test score" if col == 0 else "")
    legend = shared_legend(figure, axes.flat, columns=2 if width == DOUBLE_COLUMN_IN else 1)
    note = spread_note(runs)
    if legend is not None and note:  # the note heads the legend, inside the canvas with it
        legend.set_title(textwrap.fill(note, NOTE_CHARACTERS[width]))
    fit_legend(figure, legend, ROW_HEIGHT_IN * len(datasets))
    return save_figure(figure, path)


@styled
def trade_off(
    summary: pd.DataFrame, path: str | Path, imprint_files: Sequence[str | Path]
) -> Figure:
    """Utility against risk, one point per trained ε: the main metric (mean ± sd over seeds)
    against the certified reconstruction bound at κ = 1/N, and against the imprint attack's
    measured success (with its 95 % CI), so the price of each level of protection reads off
    one panel."""
    eta = read_eta(imprint_files)
    datasets = sorted(summary["dataset"].unique())
    figure, axes = panel_grid(len(datasets), 2.5, 0.45, max_columns=2)
    for axis, dataset in zip(axes.flat, datasets, strict=False):
        rows = summary[summary["dataset"] == dataset].sort_values("target_epsilon")
        utility = rows["main_metric_mean"]
        sd = rows["main_metric_sd"].fillna(0.0)
        bound = "train_rero_bound_kappa_1/N"
        if bound in rows:
            axis.errorbar(
                rows[bound],
                utility,
                yerr=sd,
                label=f"{method_name('rigorous')}, κ = 1/N",
                **line_of("identification"),
            )
        success = rows["imprint_success_rate"]
        axis.errorbar(
            success,
            utility,
            xerr=[success - rows["imprint_ci_low"], rows["imprint_ci_high"] - success],
            yerr=sd,
            label=f"{imprint_text(eta)}, 95 % CI",
            **line_of("imprint"),
        )
        anchor = rows.get(bound, success)
        for x, y, target in zip(anchor, utility, rows["target_epsilon"], strict=True):
            left = x > 0.6  # label towards the middle, inside the panel
            axis.annotate(
                eps_label(target),
                (x, y),
                textcoords="offset points",
                xytext=(-3 if left else 3, -9),
                horizontalalignment="right" if left else "left",
            )
        axis.set_xlim(-0.02, 1.02)
        axis.set_xlabel("reconstruction success")
        axis.set_ylabel(f"test {METRIC_LABELS[rows['main_metric'].iloc[0]]} (mean ± sd)")
        axis.set_title(dataset)
    shared_legend(figure, axes.flat, columns=1)
    return save_figure(figure, path)
