"""Seaborn figures of the study, drawn from the result tables (no computation of results here)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rero.io import atomic_path
from rero.summary import METRICS, attack_table, training_table
from rero.tasks import METRIC_LABELS, TASK_METRICS


def save_figure(figure: plt.Figure, path: str | Path) -> None:
    """Write a PNG atomically and close the figure."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)


SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def eps_label(value: float) -> str:
    """A target ε for a title: "non-private" for inf, powers of ten from 10⁴ on as 10ⁿ."""
    if math.isinf(value):
        return "non-private"
    exponent = math.log10(value)
    if value >= 1e4 and exponent.is_integer():
        return "ε = 10" + str(int(exponent)).translate(SUPERSCRIPTS)
    return f"ε = {value:g}"


def _finite(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of private runs (finite target ε)."""
    return frame[np.isfinite(frame["target_epsilon"].astype(float))]


def utility_vs_eps(metric_files: Sequence[str | Path], path: str | Path) -> None:
    """Test metrics of each dataset's task against ε (log-x), seed spread, and the non-private
    reference line; one row of panels per dataset."""
    runs = training_table(metric_files)
    long = runs.melt(
        id_vars=["dataset", "target_epsilon", "seed"], value_vars=list(METRICS), var_name="metric"
    )
    datasets = sorted(long["dataset"].unique())
    task_of = runs.groupby("dataset")["task"].first()
    columns = max(len(TASK_METRICS[task_of[dataset]]) for dataset in datasets)
    figure, axes = plt.subplots(
        len(datasets), columns, figsize=(4 * columns, 3.4 * len(datasets)), squeeze=False
    )
    for row, dataset in enumerate(datasets):
        shown = TASK_METRICS[task_of[dataset]]
        for axis in axes[row, len(shown) :]:
            axis.set_visible(False)
        for col, metric in enumerate(shown):
            axis = axes[row, col]
            subset = long[(long["dataset"] == dataset) & (long["metric"] == metric)]
            private = _finite(subset)
            if not private.empty:
                sns.lineplot(
                    data=private,
                    x="target_epsilon",
                    y="value",
                    errorbar="sd",
                    marker="o",
                    ax=axis,
                    label="DP-SGD (mean ± sd)",
                )
                sns.scatterplot(
                    data=private,
                    x="target_epsilon",
                    y="value",
                    ax=axis,
                    color="0.3",
                    s=14,
                    alpha=0.6,
                    label="seeds",
                )
            reference = subset[np.isinf(subset["target_epsilon"])]["value"]
            if not reference.empty:
                axis.axhline(reference.mean(), color="black", linestyle="--", label="non-private")
                if len(reference) > 1:
                    axis.axhspan(
                        reference.mean() - reference.std(),
                        reference.mean() + reference.std(),
                        color="black",
                        alpha=0.08,
                    )
            axis.set_xscale("log")
            axis.set_xlabel("privacy budget ε")
            axis.set_ylabel(METRIC_LABELS[metric])
            axis.set_title(f"{dataset}: {METRIC_LABELS[metric]}")
            if row or col:
                legend = axis.get_legend()
                if legend:
                    legend.remove()
            else:
                axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)


def bounds_vs_eps(bound_files: Sequence[str | Path], path: str | Path) -> None:
    """ReRo bounds per method against ε: upper bounds solid, approximations dashed."""
    bounds = _finite(pd.concat([pd.read_csv(file) for file in bound_files]))
    panels = (
        bounds[["dataset", "kappa_label"]].drop_duplicates().sort_values(["dataset", "kappa_label"])
    )
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for axis, (_, panel) in zip(axes[0], panels.iterrows(), strict=True):
        subset = bounds[
            (bounds["dataset"] == panel["dataset"])
            & (bounds["kappa_label"] == panel["kappa_label"])
        ]
        for method, lines in subset.groupby("method"):
            lines = lines.sort_values("target_epsilon")
            upper = lines["kind"].iloc[0] == "upper bound"
            axis.plot(
                lines["target_epsilon"],
                lines["bound"],
                marker="o",
                markersize=3,
                linestyle="-" if upper else "--",
                label=f"{method} ({'upper bound' if upper else 'approximation'})",
            )
        kappa = subset["kappa"].iloc[0]
        axis.axhline(
            kappa, color="0.5", linewidth=0.8, linestyle=":", label=f"baseline κ = {kappa:.2g}"
        )
        axis.set_xscale("log")
        axis.set_ylim(-0.02, 1.02)
        axis.set_xlabel("privacy budget ε")
        axis.set_ylabel("reconstruction success bound γ")
        axis.set_title(f"{panel['dataset']}, κ = {panel['kappa_label']}")
        axis.legend(fontsize=7)
    save_figure(figure, path)


def reconstructions(
    recon_files: Sequence[str | Path], path: str | Path, num_images: int = 6
) -> None:
    """Rows: images; columns: the original, then its best reconstruction at each ε (volumes:
    their middle axial slice)."""
    by_dataset: dict[str, dict[float, dict[str, np.ndarray]]] = {}
    for file in recon_files:
        with np.load(file) as archive:
            arrays = {key: archive[key] for key in archive.files}
        dataset, target = str(arrays["dataset"]), float(arrays["target_epsilon"])
        by_dataset.setdefault(dataset, {})[target] = arrays
    rows: list[tuple[str, int]] = []
    for dataset, runs in sorted(by_dataset.items()):
        reference = runs.get(math.inf) or next(iter(runs.values()))
        best_first = np.argsort(-reference["ssim"], kind="stable")[:num_images]
        rows.extend((dataset, int(index)) for index in best_first)
    columns = sorted({target for runs in by_dataset.values() for target in runs})
    figure, axes = plt.subplots(
        len(rows),
        len(columns) + 1,
        figsize=(1.5 * (len(columns) + 1), 1.6 * len(rows)),
        squeeze=False,
    )
    for row, (dataset, index) in enumerate(rows):
        runs = by_dataset[dataset]
        original = next(iter(runs.values()))["originals"][index]
        cells = [("original", original, None)] + [
            (
                eps_label(target),
                runs[target]["reconstructions"][index] if target in runs else None,
                runs[target]["ssim"][index] if target in runs else None,
            )
            for target in columns
        ]
        for col, (title, image, ssim) in enumerate(cells):
            axis = axes[row, col]
            axis.set_xticks([])
            axis.set_yticks([])
            if image is not None:
                if image.ndim == 4:  # (C, D, H, W): the middle slice
                    image = image[:, image.shape[1] // 2]
                picture = np.moveaxis(image, 0, -1)
                axis.imshow(
                    picture.squeeze(-1) if picture.shape[-1] == 1 else picture,
                    cmap="gray",
                    vmin=0,
                    vmax=1,
                )
            if row == 0:
                axis.set_title(title, fontsize=8)
            if ssim is not None:
                axis.set_xlabel(f"SSIM {ssim:.2f}", fontsize=7)
            if col == 0:
                axis.set_ylabel(dataset, fontsize=7)
    save_figure(figure, path)


def _shade_transitions(axis: plt.Axes, rows: pd.DataFrame) -> None:
    """Shade each located ε interval of the imprint transition (finite ends only)."""
    if rows.empty:
        return
    for column in rows.columns:
        if not (column.startswith("imprint_transition_") and column.endswith("_eps_low")):
            continue
        criterion = column.removeprefix("imprint_transition_").removesuffix("_eps_low")
        low, high = rows[column].iloc[0], rows[column.replace("_eps_low", "_eps_high")].iloc[0]
        if low > 0 and math.isfinite(high):
            axis.axvspan(
                low, high, color="tab:green", alpha=0.15, label=f"imprint success {criterion}"
            )


def risk_vs_eps(
    summary: pd.DataFrame,
    bound_files: Sequence[str | Path],
    path: str | Path,
    imprint_files: Sequence[str | Path] = (),
) -> None:
    """Bounds as lines, empirical attack success as points with 95 % CIs, against ε: the
    imprint attack at every budget attacked (``imprint_files``; else the trained ones), and the
    ε interval where its success first reaches each located level, shaded."""
    dense = attack_table(imprint_files, "imprint") if imprint_files else None
    bounds = _finite(pd.concat([pd.read_csv(file) for file in bound_files]))
    rigorous = bounds[bounds["method"] == "rigorous"]
    table = _finite(summary)
    datasets = sorted(summary["dataset"].unique())
    figure, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        lines = rigorous[rigorous["dataset"] == dataset]
        for label, line in lines.groupby("kappa_label"):
            line = line.sort_values("target_epsilon")
            axis.plot(
                line["target_epsilon"], line["bound"], label=f"bound, training run, κ = {label}"
            )
        rows = table[table["dataset"] == dataset].sort_values("target_epsilon")
        axis.plot(
            rows["target_epsilon"],
            rows["prior_aware_run_bound"],
            color="tab:red",
            linestyle="-.",
            label="bound, prior-aware setting (κ = 1/M)",
        )
        for prefix, name, colour in (
            ("prior_aware", "prior-aware attack", "tab:red"),
            ("imprint", "imprint attack (SSIM ≥ η)", "tab:green"),
        ):
            points = rows
            if prefix == "imprint" and dense is not None:
                points = _finite(dense[dense["dataset"] == dataset]).sort_values("target_epsilon")
            success = points[f"{prefix}_success_rate"]
            axis.errorbar(
                points["target_epsilon"],
                success,
                yerr=[success - points[f"{prefix}_ci_low"], points[f"{prefix}_ci_high"] - success],
                fmt="o",
                color=colour,
                capsize=3,
                label=name,
            )
            non_private = summary[
                (summary["dataset"] == dataset) & np.isinf(summary["target_epsilon"])
            ]
            if not non_private.empty and not math.isnan(
                non_private[f"{prefix}_success_rate"].iloc[0]
            ):
                axis.axhline(
                    non_private[f"{prefix}_success_rate"].iloc[0],
                    color=colour,
                    linestyle=":",
                    linewidth=1,
                    label=f"{name}, non-private",
                )
        _shade_transitions(axis, rows)
        axis.set_xscale("log")
        axis.set_ylim(-0.02, 1.02)
        axis.set_xlabel("privacy budget ε")
        axis.set_ylabel("reconstruction success")
        axis.set_title(dataset)
        axis.legend(fontsize=7)
    save_figure(figure, path)


def trade_off(summary: pd.DataFrame, path: str | Path) -> None:
    """Utility against risk, one point per trained ε: the main metric (mean ± sd over seeds)
    against the certified reconstruction bound at κ = 1/N, and against the imprint attack's
    measured success, so the price of each level of protection reads off one panel."""
    datasets = sorted(summary["dataset"].unique())
    figure, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        rows = summary[summary["dataset"] == dataset].sort_values("target_epsilon")
        metric = METRIC_LABELS[rows["main_metric"].iloc[0]]
        for column, label, marker in (
            ("train_rero_bound_kappa_1/N", "certified bound (rigorous, κ = 1/N)", "o"),
            ("imprint_success_rate", "imprint attack success (measured)", "s"),
        ):
            if column not in rows:
                continue
            axis.errorbar(
                rows[column],
                rows["main_metric_mean"],
                yerr=rows["main_metric_sd"].fillna(0.0),
                fmt=f"{marker}-",
                capsize=3,
                label=label,
            )
            for _, row in rows.iterrows():
                axis.annotate(
                    eps_label(row["target_epsilon"]),
                    (row[column], row["main_metric_mean"]),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                )
        axis.set_xlim(-0.02, 1.02)
        axis.set_xlabel("reconstruction risk")
        axis.set_ylabel(f"test {metric}")
        axis.set_title(f"{dataset}: utility against risk")
        axis.legend(fontsize=7)
    save_figure(figure, path)


FIGURES = ("utility_vs_eps", "bounds_vs_eps", "reconstructions", "risk_vs_eps", "trade_off")


def draw_all(
    summary_file: str | Path,
    metric_files: Sequence[str | Path],
    bound_files: Sequence[str | Path],
    recon_files: Sequence[str | Path],
    imprint_files: Sequence[str | Path],
    out_dir: Path,
) -> None:
    """Every figure of :data:`FIGURES` as ``out_dir/<name>.png``."""
    utility_vs_eps(metric_files, out_dir / "utility_vs_eps.png")
    bounds_vs_eps(bound_files, out_dir / "bounds_vs_eps.png")
    reconstructions(recon_files, out_dir / "reconstructions.png")
    summary = pd.read_csv(summary_file)
    risk_vs_eps(summary, bound_files, out_dir / "risk_vs_eps.png", imprint_files)
    trade_off(summary, out_dir / "trade_off.png")


def audit_vs_claim(summary: pd.DataFrame, path: str | Path) -> None:
    """The ε each plan claims (the accountant's upper bound, on the diagonal) against the audited
    lower bounds of the training code (``audit_epsilon_lower_<access>`` of the summary: 95 %
    one-run audits); one panel per dataset, a note where no budget was audited."""
    accesses = {
        "white_box": ("o", "white-box (every noisy step, gradient canaries)"),
        "black_box": ("s", "black-box (final model, mislabelled images)"),
    }
    columns = [f"audit_epsilon_lower_{access}" for access in accesses]
    present = [column for column in columns if column in summary.columns]
    audited = summary.dropna(subset=present, how="all") if present else summary.iloc[:0]
    datasets = sorted(audited["dataset"].unique()) or ["(none)"]
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.8), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        rows = audited[audited["dataset"] == dataset].sort_values("epsilon")
        if rows.empty:
            axis.text(
                0.5,
                0.5,
                "no budget audited\n(audit.eps is empty)",
                ha="center",
                va="center",
                transform=axis.transAxes,
            )
            axis.set_axis_off()
            continue
        top = float(rows["epsilon"].max()) * 1.15
        axis.plot([0, top], [0, top], "k--", lw=1, label="claimed ε (accountant, upper bound)")
        for access, (marker, label) in accesses.items():
            column = f"audit_epsilon_lower_{access}"
            if column in rows:
                axis.plot(rows["epsilon"], rows[column], marker, ls="", label=label)
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
        axis.set_xlabel(f"claimed ε at δ = {rows['delta'].iloc[0]:g}")
        axis.set_ylabel("audited ε, 95 % lower bound")
        axis.set_title(f"{dataset}: audit of the training code")
        axis.legend(fontsize=7, loc="upper left")
    save_figure(figure, path)
