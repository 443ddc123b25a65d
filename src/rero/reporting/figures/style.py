"""The one style of every figure: drawn at print size (a 3.5-inch column or a 7.2-inch page
width), so that no text is smaller than 7 pt in print, and written as PNG and PDF."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Look:
    """How one concept is drawn in every figure: its colour, its marker (filled or open) and the
    style of its line; ``hatch`` tells apart areas of one colour."""

    colour: str
    marker: str = ""
    linestyle: str = "-"
    filled: bool = True
    hatch: str | None = None

    def line(self) -> dict[str, object]:
        """Keyword arguments of ``plot`` and ``errorbar``: colour, marker and line style."""
        return {
            "color": self.colour,
            "marker": self.marker or "none",
            "linestyle": self.linestyle,
            "markerfacecolor": self.colour if self.filled else "white",
        }

    def area(self) -> dict[str, object]:
        """Keyword arguments of ``fill_between`` and ``axvspan``: colour (and hatch), no edge."""
        if self.hatch:
            fill = {"hatch": self.hatch, "edgecolor": self.colour, "facecolor": "none"}
        else:
            fill = {"color": self.colour}
        return fill | {"linewidth": 0}


BLUE, LIGHT_BLUE, GREY, YELLOW = "#0173b2", "#56b4e9", "#949494", "#ece133"  # seaborn colorblind
ORANGE, GREEN, VERMILLION, PURPLE = "#de8f05", "#029e73", "#d55e00", "#cc78bc"
BROWN, PINK = "#ca9161", "#fbafe4"
INDIGO, TEAL, WINE = "#332288", "#44aa99", "#882255"  # Tol's muted scheme
#: every concept of the figures and how it is drawn, the same in each figure: a concept is a
#: family (before a "/") or one member of it; two families never share a colour
CONCEPTS: dict[str, Look] = {
    # the certified identification bound (f-DP of the training run), κ = 1/N, then further κ
    "identification": Look(BLUE, "o"),
    "identification/kappa 2": Look(LIGHT_BLUE, "o"),
    "identification/kappa 3": Look(GREY, "o"),
    "identification/kappa 4": Look(YELLOW, "o"),
    # approximations of the identification bound, the paper's and the CLT's
    "approximation/gdp_clt": Look(ORANGE, "x", "--"),
    "approximation/edgeworth": Look(PINK, "v", "--"),
    "approximation/glrt": Look(BROWN, "<", "--"),
    "prior baseline": Look("0.5", linestyle=":"),
    "from scratch/one release": Look(PURPLE, linestyle="-"),
    "from scratch/whole run": Look(PURPLE, linestyle="--"),
    "from scratch/norm band": Look(PURPLE),
    "imprint": Look(GREEN, "s"),
    "imprint/other criterion": Look(GREEN, "D", filled=False),
    # the ε intervals where its success first exceeds 0, then first reaches each further level
    "imprint/transition 1": Look(GREEN, hatch="////"),
    "imprint/transition 2": Look(GREEN, hatch="\\\\\\\\"),
    "imprint/transition 3": Look(GREEN, hatch="||||"),
    "imprint/transition 4": Look(GREEN, hatch="----"),
    "prior-aware": Look(VERMILLION, "^"),
    "prior-aware/run bound": Look(VERMILLION, linestyle="-."),
    "corridor": Look("0.85"),
    "dp-sgd": Look(INDIGO),
    "seed": Look("0.35", "."),
    "non-private": Look("black", "D", "--"),
    "claimed": Look("0.15", linestyle="--"),
    "audit/white-box": Look(TEAL, "o"),
    "audit/black-box": Look(WINE, "s"),
}
#: the identification bound's concepts by the order of their κ (the first: κ = 1/N)
KAPPA_CONCEPTS = tuple(name for name in CONCEPTS if name.startswith("identification"))
#: the imprint attack's transition bands in the order of their levels (repeating after the last)
TRANSITION_CONCEPTS = tuple(name for name in CONCEPTS if name.startswith("imprint/transition"))
#: the grey of the break before the non-private run on the ε axis (furniture, no concept)
BREAK_COLOUR = "0.6"
BREAK_LINESTYLE = ":"
#: the marker of a bound's value at ε = ∞, in the bound's colour
BAR_MARKER = "_"
LEGEND_PAD_IN = 0.12


def look(concept: str) -> Look:
    """How ``concept`` is drawn; KeyError naming the concepts for an unknown one."""
    if concept not in CONCEPTS:
        raise KeyError(f"no look for concept {concept!r}; expected one of {', '.join(CONCEPTS)}")
    return CONCEPTS[concept]


def line_of(concept: str) -> dict[str, object]:
    """Keyword arguments that draw ``concept`` as a line (``plot``, ``errorbar``), its name the
    artist's gid (which the tests read back)."""
    return look(concept).line() | {"gid": concept}


def points_of(concept: str) -> dict[str, object]:
    """:func:`line_of` without the line: markers only."""
    return line_of(concept) | {"linestyle": "none"}


def rule_of(concept: str) -> dict[str, object]:
    """:func:`line_of` without markers: a reference line across an axis (``axhline``)."""
    return line_of(concept) | {"marker": "none"}


def area_of(concept: str) -> dict[str, object]:
    """Keyword arguments that draw ``concept`` as an area (``fill_between``, ``axvspan``)."""
    return look(concept).area() | {"gid": concept}


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
