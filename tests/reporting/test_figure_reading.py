"""Figures that read: every text and legend inside its canvas, one look per concept in every
figure (from the style module only), the certified bound on top, transition bands told apart, the
seeds' spread named, and captions that name only what the figures draw."""

from __future__ import annotations

import ast
import inspect
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import Collection
from matplotlib.colors import to_rgba
from matplotlib.container import Container
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

import rero.reporting.figures as figures_package
from rero.privacy.rero.methods import APPROXIMATION, UPPER_BOUND
from rero.reporting.figures import audit, reconstructions, risk, utility
from rero.reporting.figures.draw import draw_all
from rero.reporting.figures.risk import BOUND_LINESTYLES
from rero.reporting.figures.style import CONCEPTS, look
from rero.reporting.figures.utility import spread_note, within_seed_spread
from rero.reporting.summary import training_table
from rero.runtime.io import write_json
from rero.training.bootstrap import LEVEL, RESAMPLES
from tests.helpers import toy_plan
from tests.helpers.figures import (
    copied_dataset,
    of_datasets,
    write_from_scratch,
    write_results,
    write_summary,
)

CAPTIONS = Path(__file__).parents[2] / "workflow" / "report"
AUDITED = {  # the audit of one budget, as the default study audits ε = 8
    "audit_epsilon_lower_white_box": 2.6,
    "audit_epsilon_lower_black_box": 0.0,
    "audit_epsilon_fdp_lower_white_box": 4.0,
    "audit_epsilon_fdp_lower_black_box": 0.1,
    "audit_epsilon_composed_white_box": 3.9,
    "audit_epsilon_composed_fdp_white_box": 6.3,
}
LEVELS = [  # first success and a further level, as transition.levels = [0.5] locates them
    {"criterion": "success > 0", "epsilon_low": 4.0, "epsilon_high": 8.0},
    {"criterion": "success >= 0.5", "epsilon_low": 1e3, "epsilon_high": 1e6},
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Result files of toy and of skin (its copy), with from-scratch tables, two transition
    levels each and the summary with an audited budget (ε = 8, as the default study audits)."""
    root = tmp_path_factory.mktemp("reading")
    files = copied_dataset(write_results(root, ("toy",)), root, "toy", "skin")
    for path in files["tr"]:
        write_json(path, {"dataset": path.name.removesuffix("-tr.json"), "transitions": LEVELS})
    files["scratch"] = write_from_scratch(root, files)
    summary = pd.read_csv(write_summary(files, root / "summary.csv"))
    for column, value in AUDITED.items():
        summary.loc[summary["target_epsilon"] == 8.0, column] = value
    summary.to_csv(root / "summary.csv", index=False)
    return files, root


@pytest.fixture(scope="module", params=[("toy",), ("toy", "skin")], ids=["column", "page"])
def drawn(request, results):
    """Every figure of one dataset (a column wide) and of two (page wide), drawn by draw_all
    without writing them (the drawing is what is tested)."""
    files, root = results
    files = of_datasets(files, request.param)
    summary = pd.read_csv(root / "summary.csv")
    summary[summary["dataset"].isin(request.param)].to_csv(root / "drawn.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        for module in (audit, reconstructions, risk, utility):
            patch.setattr(module, "save_figure", lambda figure, path: figure)
        return draw_all(
            root / "drawn.csv",
            files["metrics"],
            files["bounds"],
            files["recon"],
            files["imprint"],
            root,
            files["scratch"],
        )


def _texts(figure) -> list[Text | Legend]:
    """Every legend and every text drawn: visible, non-empty, on a visible axes, and a tick
    label only where its tick lies within the view (matplotlib keeps, undrawn, the others)."""
    undrawn = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 * abs(low) <= tick.get_loc() <= high + 1e-9 * abs(high):
                    undrawn |= {tick.label1, tick.label2}
    texts = [
        text
        for text in figure.findobj(Text)
        if text.get_visible()
        and text.get_text().strip()
        and (text.axes is None or text.axes.get_visible())
        and text not in undrawn
    ]
    return texts + figure.legends


@pytest.mark.slow
def test_every_text_and_legend_lies_inside_its_figure(drawn):
    for name, figure in drawn.items():
        figure.draw_without_rendering()
        canvas = figure.bbox.padded(1.0)  # a pixel of rounding
        outside = []
        for item in _texts(figure):
            box = item.get_window_extent()
            if not (canvas.contains(*box.p0) and canvas.contains(*box.p1)):
                outside.append((getattr(item, "get_text", lambda: "legend")(), box))
        assert not outside, (name, figure.bbox, outside)


def _concept_artists(figure) -> list[tuple[str, object]]:
    """(gid, artist) of every artist drawn for a concept of the style module."""
    return [
        (artist.get_gid(), artist)
        for artist in figure.findobj(lambda item: isinstance(item, Line2D | Patch | Collection))
        if artist.get_gid() is not None
    ]


def _colour(artist) -> tuple[float, ...] | None:
    """An artist's colour (RGB): a line's, a hatched area's edge, another area's face (None for
    a collection with no colour of its own)."""
    if isinstance(artist, Line2D):
        return to_rgba(artist.get_color())[:3]
    if isinstance(artist, Patch):
        colour = artist.get_edgecolor() if artist.get_hatch() else artist.get_facecolor()
        return to_rgba(colour)[:3]
    colours = artist.get_facecolor()
    if artist.get_hatch() or not len(colours):
        colours = artist.get_edgecolor()
    return tuple(colours[0][:3]) if len(colours) else None


#: markers that are no concept's: none, error-bar caps, the bar of a bound's value at ε = ∞
CAP_MARKERS = ("None", "none", "_", "|")


def test_two_families_of_concepts_never_share_a_colour():
    families: dict[tuple[float, ...], set[str]] = {}
    for concept, item in CONCEPTS.items():
        families.setdefault(to_rgba(item.colour), set()).add(concept.split("/")[0])
    assert all(len(names) == 1 for names in families.values()), families


@pytest.mark.slow
def test_each_concept_has_one_colour_and_marker_in_every_figure(drawn):
    seen: dict[str, set[tuple[float, ...]]] = {}
    for name, figure in drawn.items():
        for concept, artist in _concept_artists(figure):
            if _colour(artist) is not None:
                seen.setdefault(concept, set()).add(_colour(artist))
            if isinstance(artist, Line2D) and artist.get_marker() not in CAP_MARKERS:
                assert artist.get_marker() == look(concept).marker, (name, concept)
        for axis in figure.axes:  # every legend entry is drawn as a concept of the style module
            for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
                artist = handle.lines[0] if isinstance(handle, Container) else handle
                assert artist.get_gid() in CONCEPTS, (name, label)
    for concept, colours in seen.items():
        assert colours == {to_rgba(look(concept).colour)[:3]}, (concept, colours)
    assert {"identification", "imprint", "prior-aware", "dp-sgd", "audit/white-box"} <= set(seen)


COLOUR = re.compile(
    r"""(?:color|colour|c|fmt|marker|[a-z]*facecolor|[a-z]*edgecolor|mfc|mec|hatch)"""
)


def test_no_figure_module_has_a_colour_or_marker_of_its_own():
    modules = Path(inspect.getfile(figures_package)).parent.glob("*.py")
    found = []
    for path in modules:
        if path.name == "style.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg
                    and COLOUR.fullmatch(keyword.arg)
                    and isinstance(value, ast.Constant)
                ):
                    found.append((path.name, node.lineno, keyword.arg, value.value))
            method = getattr(node.func, "attr", "")
            for argument in node.args if method in ("plot", "errorbar", "scatter") else ():
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.append((path.name, node.lineno, "format", argument.value))
    assert not found, found


@pytest.mark.slow
def test_the_certified_bound_is_drawn_over_and_thicker_than_the_approximations(drawn):
    for axis in drawn["bounds_vs_eps"].axes:
        lines = [line for line in axis.lines if not line.get_label().startswith("_")]
        (certified,) = [line for line in lines if line.get_gid() == "identification"]
        approximations = [line for line in lines if line.get_gid().startswith("approximation")]
        assert approximations and certified.get_linestyle() == "-"
        for line in approximations:
            assert certified.get_zorder() > line.get_zorder(), line.get_label()
            assert certified.get_linewidth() > line.get_linewidth(), line.get_label()


@pytest.mark.slow
def test_each_transition_band_has_a_hatch_of_its_own(drawn):
    legend = drawn["risk_vs_eps"].legends[0]
    bands = {
        " ".join(text.get_text().split()): handle.get_hatch()
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True)
        if "ε where success first" in text.get_text()
    }
    assert set(bands) == {
        "imprint attack: ε where success first > 0",
        "imprint attack: ε where success first >= 0.5",
    }
    assert len(set(bands.values())) == 2 and None not in bands.values()


def test_neighbouring_budgets_within_the_seeds_spread_are_named():
    runs = pd.DataFrame(
        {
            "dataset": ["d"] * 6,
            "target_epsilon": [1.0, 1.0, 8.0, 8.0, math.inf, math.inf],
            "seed": [0, 1] * 3,
            "main_metric": ["mcc"] * 6,
            "main_metric_value": [0.40, 0.52, 0.70, 0.75, 0.62, 0.75],
        }
    )
    # 1 -> 8: means 0.46 and 0.725 differ by more than the sds (0.085, 0.035); 8 -> inf: 0.725
    # and 0.685 by less than 0.092
    assert within_seed_spread(runs, "main_metric_value") == [(8.0, math.inf)]
    assert spread_note(runs) == (
        "Within the seeds' spread (means differ by less than the larger sd over seeds): d, MCC "
        "between ε = 8 and non-private."
    )
    one_seed = runs[runs["seed"] == 0]
    assert within_seed_spread(one_seed, "main_metric_value") == [] and spread_note(one_seed) == ""


@pytest.mark.slow
def test_the_utility_figure_draws_each_runs_bootstrap_interval(drawn):
    figure = drawn["utility_vs_eps"]
    labels = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert any("95 % bootstrap interval over test examples" in label for label in labels)
    axis = next(axis for axis in figure.axes if axis.get_title() == "MCC")
    (seeds,) = [c for c in axis.containers if c.get_label().startswith("single seeds, 95 %")]
    assert seeds.has_yerr


def _caption(name: str) -> str:
    """A caption with its Jinja tags removed (every conditional part kept), on one line."""
    text = (CAPTIONS / f"{name}.rst").read_text()
    return " ".join(re.sub(r"\{[{%].*?[%}]\}", "", text).split())


STYLE_WORDS = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dot"}
COLOUR_WORDS = {
    "blue": "#0173b2",
    "red": "#d55e00",
    "green": "#029e73",
    "indigo": "#332288",
    "teal": "#44aa99",
    "wine": "#882255",
    "black": "black",
}
SHAPE_WORDS = {"circles": "o", "squares": "s", "triangles": "^", "diamonds": "D", "diamond": "D"}
PAIR = re.compile(rf"(open )?({'|'.join(COLOUR_WORDS)}) ({'|'.join(SHAPE_WORDS)})\b", re.IGNORECASE)
STYLED = re.compile(rf"\b({'|'.join(STYLE_WORDS.values())})\b", re.IGNORECASE)


@pytest.mark.slow
def test_captions_name_only_the_line_styles_and_markers_drawn(drawn):
    for name, figure in drawn.items():
        caption = _caption(name)
        lines = [line for line in figure.findobj(Line2D) if line.get_visible()]
        styles = {STYLE_WORDS.get(line.get_linestyle()) for line in lines}
        for word in {word.lower() for word in STYLED.findall(caption)}:
            assert word in styles, (name, word, styles)
        for hollow, colour, shape in ((h, c.lower(), s) for h, c, s in PAIR.findall(caption)):
            assert any(
                to_rgba(line.get_color()) == to_rgba(COLOUR_WORDS[colour])
                and line.get_marker() == SHAPE_WORDS[shape]
                and (line.get_markerfacecolor() == "white") == bool(hollow)
                for line in lines
            ), (name, hollow + colour, shape)


def test_captions_state_the_settings_of_their_figures():
    bounds = _caption("bounds_vs_eps")
    certified, approximate = (
        STYLE_WORDS[BOUND_LINESTYLES[kind]] for kind in (UPPER_BOUND, APPROXIMATION)
    )
    assert (
        f"The {certified} blue line, thicker and drawn over the others, is the certified" in bounds
    )
    assert f"{approximate.capitalize()} lines are approximations" in bounds
    recon = _caption("reconstructions")
    defaults = inspect.signature(reconstructions.reconstructions).parameters
    count, seed = defaults["num_images"].default, defaults["seed"].default
    assert f"{ {6: 'six'}[count] } of the attacked images of each dataset drawn at random" in recon
    assert f"(seed {seed})" in recon and "best" not in recon.split("The rows are")[1][:80]
    assert "one draw scaled by that budget's σ" in recon and "σ" in reconstructions.NOISE_NOTE
    utility = _caption("utility_vs_eps")
    assert f"{LEVEL:.0%}".replace("%", " %") + " percentile-bootstrap interval" in utility
    assert f"({RESAMPLES} resamples)" in utility
    assert "less than the larger of their standard deviations" in utility


def test_the_training_table_reads_each_runs_bootstrap_interval(tmp_path):
    plan = toy_plan(8.0, n=500, batch=50, epochs=2, sigma=1.0, dataset="toy")
    record = {"dataset": "toy", "target_epsilon": 8.0, "plan": plan.to_dict(), "seed": 0}
    record |= {"task": "segmentation", "test": {"dice": 0.8, "dice_foreground": 0.7}}
    write_json(tmp_path / "with.json", record | {"test_bootstrap": {"low": 0.7, "high": 0.85}})
    write_json(tmp_path / "without.json", record | {"seed": 1})
    runs = training_table([tmp_path / "with.json", tmp_path / "without.json"])
    assert runs["main_metric_ci_low"].tolist()[0] == 0.7 and math.isnan(
        runs["main_metric_ci_low"].tolist()[1]
    )
    assert runs["main_metric_ci_high"].tolist()[0] == 0.85
