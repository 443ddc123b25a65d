"""The one style of every figure: drawn at print size (a 3.5-inch column or a 7.2-inch page
width), so that no text is smaller than 7 pt in print, and written as PNG and PDF."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from rero.runtime.io import atomic_path

SINGLE_COLUMN_IN = 3.5
DOUBLE_COLUMN_IN = 7.2
WIDTHS_IN = (SINGLE_COLUMN_IN, DOUBLE_COLUMN_IN)
SMALLEST_TEXT_PT = 7.0
TEXT_PT = 8.0
#: the formats every figure is written in, beside each other (``name.png``, ``name.pdf``)
FORMATS = ("png", "pdf")

STYLE: dict[str, object] = {
    **sns.axes_style("ticks"),
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # has the Greek letters and superscripts of the labels
    "font.size": TEXT_PT,
    "axes.titlesize": TEXT_PT,
    "axes.labelsize": TEXT_PT,
    "figure.titlesize": TEXT_PT,
    "figure.labelsize": TEXT_PT,
    "xtick.labelsize": SMALLEST_TEXT_PT,
    "ytick.labelsize": SMALLEST_TEXT_PT,
    "legend.fontsize": SMALLEST_TEXT_PT,
    "legend.title_fontsize": SMALLEST_TEXT_PT,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=sns.color_palette("colorblind")),
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "errorbar.capsize": 2.0,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,  # TrueType: the PDF's text stays text (searchable, editable)
}

#: one colour per family of risk curves, the same in every figure: the certified identification
#: bound at κ = 1/N, the imprint attack, the prior-aware attack (and its own run's bound) and the
#: from-scratch bound; further priors κ and the approximate methods have colours of their own
FAMILY_COLOURS = {
    "identification": "C0",
    "imprint": "C2",
    "prior_aware": "C3",
    "from_scratch": "C4",
}
#: the identification bound at the priors κ after the first (blue, then greys and yellow)
KAPPA_COLOURS = ("C9", "C7", "C8")
#: the approximations of the identification bound (bounds_vs_eps)
APPROXIMATION_COLOURS = {"gdp_clt": "C1", "edgeworth": "C6", "glrt": "C5"}
#: the corridor's shading (no curve is this grey)
CORRIDOR_COLOUR = "0.85"
LEGEND_PAD_IN = 0.12

Params = ParamSpec("Params")
Result = TypeVar("Result")


def styled(draw: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run a figure function under :data:`STYLE` (sizes are fixed when artists are created)."""

    @functools.wraps(draw)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with mpl.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def panel_grid(
    panels: int, height_in: float, legend_in: float, *, max_columns: int = 4
) -> tuple[Figure, np.ndarray]:
    """A figure of ``panels`` axes in rows of at most ``max_columns``: one column wide for one
    panel, page wide for more; ``height_in`` is the height of one row, ``legend_in`` that of
    the legend under them. Unused axes are hidden."""
    columns = min(panels, max_columns)
    rows = -(-panels // columns)
    width = SINGLE_COLUMN_IN if columns == 1 else DOUBLE_COLUMN_IN
    return new_figure(width, height_in * rows + legend_in, rows, columns, hide_after=panels)


def new_figure(
    width_in: float,
    height_in: float,
    rows: int,
    columns: int,
    *,
    hide_after: int | None = None,
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of exactly ``width_in`` x ``height_in`` inches (one of
    :data:`WIDTHS_IN` wide) with a (rows, columns) array of axes."""
    if width_in not in WIDTHS_IN:
        raise ValueError(f"figure width must be one of {WIDTHS_IN} in, got {width_in}")
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat[hide_after:] if hide_after is not None else ():
        axis.set_visible(False)
    return figure, axes


def shared_legend(figure: Figure, axes: Iterable[Axes], columns: int = 2) -> Legend | None:
    """One legend under the panels with every distinct entry of ``axes`` (first seen first)."""
    entries: dict[str, object] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if not entries:
        return None
    return figure.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=min(columns, len(entries)),
    )


def fit_legend(figure: Figure, legend: Legend | None, panels_in: float) -> None:
    """Make the figure ``panels_in`` plus the legend's drawn height tall, so that the legend
    under the panels lies inside it (its width stays the column's or the page's)."""
    if legend is None:
        return
    figure.draw_without_rendering()
    height_in = legend.get_window_extent().height / figure.dpi
    figure.set_figheight(panels_in + height_in + LEGEND_PAD_IN)


def save_figure(figure: Figure, path: str | Path) -> Figure:
    """Write ``figure`` at its own size (no cropping, so the stated width is the printed one) as
    ``path`` and in every other format of :data:`FORMATS` beside it, each atomically."""
    target = Path(path)
    with mpl.rc_context(STYLE):
        for suffix in dict.fromkeys([target.suffix.lstrip("."), *FORMATS]):
            with atomic_path(target.with_suffix(f".{suffix}")) as tmp:
                figure.savefig(tmp, format=suffix)
    return figure
