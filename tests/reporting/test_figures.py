"""The figures at print size: drawn from small result tables written here, every text ≥ 7 pt
at the figure's stated width (3.5 or 7.2 in), in the Figure and in the PDF it writes."""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from rero.privacy.rero.methods import METHOD_NAMES, METHODS
from rero.reporting.corridor import read_eta
from rero.reporting.figures import FIGURES
from rero.reporting.figures.draw import draw_all
from rero.reporting.figures.labels import EpsAxis, kappa_text, method_name
from rero.reporting.figures.reconstructions import (
    drawn_images,
    read_reconstructions,
    reconstructions,
)
from rero.reporting.figures.risk import risk_vs_eps
from rero.reporting.figures.style import (
    DOUBLE_COLUMN_IN,
    SINGLE_COLUMN_IN,
    SMALLEST_TEXT_PT,
    WIDTHS_IN,
    new_figure,
    save_figure,
)
from rero.reporting.figures.utility import distinct_metrics
from rero.reporting.summary import training_table
from rero.runtime.io import save_npz, write_json
from tests.helpers.figures import (
    ETA,
    TASKS,
    copied_dataset,
    imprint_record,
    of_datasets,
    write_from_scratch,
    write_results,
    write_summary,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The result files of both datasets."""
    return write_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module", params=[("toy",), ("toy", "organs")], ids=["one", "two"])
def drawn(request, results, tmp_path_factory):
    """(files, the figures drawn by draw_all, their folder) of one dataset (figures one column
    wide) and of two (page wide)."""
    root = tmp_path_factory.mktemp("figures")
    files = of_datasets(results, request.param)
    summary = write_summary(files, root / "summary.csv")
    figs = draw_all(
        summary, files["metrics"], files["bounds"], files["recon"], files["imprint"], root
    )
    return files, figs, root


def visible_texts(figure):
    """Every Text artist a reader sees: visible, non-empty, on a visible parent chain."""
    return [
        text
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip() and _shown(text)
    ]


def _shown(artist) -> bool:
    axes = artist.axes
    return axes is None or axes.get_visible()


NUMBER = rb"(-?[\d.]+)"
#: a text object with the transformation set just before it (matplotlib: ``q a b c d e f cm BT``)
TEXT_OBJECT = rb"(?:" + rb"\s+".join([NUMBER] * 6) + rb"\s+cm\s+)?BT(.*?)ET"


def pdf_page_width_and_font_sizes(path):
    """(page width in inches, [the printed size of every text object]) of a one-page PDF: the
    size its Tf operator sets, times the scale of the matrix set with it (cm before, Tm in)."""
    data = path.read_bytes()
    (box,) = re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data)
    x0, _, x1, _ = map(float, box.split())
    sizes = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            continue
        for *matrix, body in re.findall(TEXT_OBJECT, content, re.S):
            scale = math.sqrt(abs(_determinant(matrix))) if matrix[0] else 1.0
            for inner in re.findall(rb"\s+".join([NUMBER] * 6) + rb"\s+Tm", body):
                scale *= math.sqrt(abs(_determinant(inner)))
            sizes += [scale * float(size) for size in re.findall(rb"/F\d+\s+([\d.]+)\s+Tf", body)]
    return (x1 - x0) / 72, sizes


def _determinant(matrix) -> float:
    a, b, c, d = map(float, matrix[:4])
    return a * d - b * c


def test_every_registered_method_has_a_display_name():
    assert set(METHOD_NAMES) == set(METHODS)
    assert len(set(METHOD_NAMES.values())) == len(METHOD_NAMES)
    assert all(name not in label for name, label in METHOD_NAMES.items())


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="method 'shiny' has no display name"):
        method_name("shiny")


@pytest.mark.parametrize(
    ("kappa", "label", "text"),
    [
        (0.125, "0.125", "κ = 1/8"),
        (0.125, "1/8", "κ = 1/8"),
        (1 / 500, "1/N", "κ = 1/N (N = 500)"),
        (0.003, "0.003", "κ = 3/1000"),
        (1 / math.pi, "", "κ = 0.318"),
    ],
)
def test_kappa_is_written_as_a_fraction(kappa, label, text):
    assert kappa_text(kappa, label) == text


def test_the_non_private_run_sits_right_of_every_budget():
    axis_of = EpsAxis.of([1.0, 8.0, 1e9, math.inf])
    assert axis_of.non_private >= 10 * 1e9
    assert axis_of.x([8.0, math.inf]).tolist() == [8.0, axis_of.non_private]
    _, axes = new_figure(3.5, 2.0, 1, 1)
    axis_of.decorate(axes[0, 0])
    labels = [tick.get_text() for tick in axes[0, 0].get_xticklabels()]
    assert labels[-1].replace("\n", "") == "non-private" and "10⁹" in labels
    assert axes[0, 0].get_xlim()[1] > axis_of.non_private
    with pytest.raises(ValueError, match=r"figure width must be one of \(3.5, 7.2\) in, got 7"):
        new_figure(7, 2.0, 1, 1)


@pytest.mark.slow
def test_identical_metrics_share_one_panel(results):
    files = results
    runs = training_table(files["metrics"])
    toy = runs[runs["dataset"] == "toy"]
    names = ["accuracy", "auroc", "mcc"]
    assert distinct_metrics(toy, names) == [(name,) for name in names]
    toy = toy.assign(balanced_accuracy=toy["accuracy"])
    assert distinct_metrics(toy, ["accuracy", "balanced_accuracy", "mcc"]) == [
        ("accuracy", "balanced_accuracy"),
        ("mcc",),
    ]


@pytest.mark.slow
def test_every_figure_is_png_and_pdf_at_print_size_with_text_of_7_pt(drawn):
    _, figs, out = drawn
    assert list(figs) == list(FIGURES)
    for name, figure in figs.items():
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        width = figure.get_figwidth()
        assert width in WIDTHS_IN, name
        small = [
            (text.get_text(), text.get_fontsize())
            for text in visible_texts(figure)
            if text.get_fontsize() < SMALLEST_TEXT_PT
        ]
        assert not small, (name, small)
        page_width, sizes = pdf_page_width_and_font_sizes(out / f"{name}.pdf")
        assert page_width == pytest.approx(width), name
        assert sizes and min(sizes) >= SMALLEST_TEXT_PT, (name, sorted(set(sizes)))


@pytest.mark.slow
def test_one_dataset_fits_a_column(drawn):
    files, figs, _ = drawn
    if len(files["bounds"]) > 1:  # one bounds table per dataset
        assert figs["risk_vs_eps"].get_figwidth() == DOUBLE_COLUMN_IN
    else:
        for name in ("risk_vs_eps", "trade_off"):
            assert figs[name].get_figwidth() == SINGLE_COLUMN_IN, name


@pytest.mark.slow
def test_figures_speak_to_a_reader(drawn):
    _, figs, _ = drawn
    texts = {name: " | ".join(t.get_text() for t in visible_texts(f)) for name, f in figs.items()}
    for method in METHODS:  # the names, never the code identifiers
        assert METHOD_NAMES[method] in texts["bounds_vs_eps"]
    assert not re.search(r"\b(gdp_clt|glrt|rigorous|edgeworth)\b", " ".join(texts.values()))
    assert "κ = 1/8" in texts["bounds_vs_eps"] and "κ = 1/N (N = 500)" in texts["bounds_vs_eps"]
    assert "κ = 1/8" in texts["risk_vs_eps"]
    assert not re.search(r"κ = \d*\.", " ".join(texts.values()))  # never κ = 0.12
    for name in ("utility_vs_eps", "bounds_vs_eps", "risk_vs_eps"):
        ticks = [t.get_text() for a in figs[name].axes for t in a.get_xticklabels()]
        assert "non-\nprivate" in ticks, name
    for name in ("risk_vs_eps", "trade_off"):
        assert f"SSIM ≥ η = {ETA:g}" in texts[name], name
    assert "drawn at random (seed 0)" in texts["reconstructions"]


@pytest.mark.slow
def test_utility_panels_are_the_distinct_metrics_of_each_task(drawn):
    files, figs, _ = drawn
    titles = [axis.get_title() for axis in figs["utility_vs_eps"].axes if axis.get_visible()]
    classification = ["accuracy", "balanced accuracy", "AUROC", "MCC"]
    if len(files["bounds"]) > 1:  # organs, then toy: rows sorted by dataset
        assert titles == ["mean soft Dice", "mean soft Dice (no background)", *classification]
    else:
        assert titles == classification


@pytest.mark.slow
def test_reconstruction_rows_are_drawn_at_random_with_the_seed(results, tmp_path):
    toy = of_datasets(results, ("toy",))["recon"]
    figure = reconstructions(toy, tmp_path / "r.png", num_images=4, seed=3)
    expected = drawn_images(20, 4, np.random.default_rng(3))
    assert [axis.get_ylabel() for axis in figure.axes if axis.get_ylabel()] == [
        f"image {index}" for index in expected
    ]
    assert expected.tolist() == sorted(set(expected.tolist())) and len(expected) == 4
    draws = {tuple(drawn_images(20, 4, np.random.default_rng(seed))) for seed in range(5)}
    assert len(draws) > 1
    assert drawn_images(3, 6, np.random.default_rng(0)).tolist() == [0, 1, 2]


@pytest.mark.slow
def test_reconstructions_refuse_different_images_at_two_budgets(results, tmp_path):
    files = results
    copies = [tmp_path / file.name for file in files["recon"] if file.name.startswith("toy")]
    for copy in copies:
        copy.write_bytes((files["recon"][0].parent / copy.name).read_bytes())
    with np.load(copies[1]) as archive:
        arrays = dict(archive)
    arrays["originals"] = 1 - arrays["originals"]
    save_npz(copies[1], **arrays)
    with pytest.raises(
        ValueError, match=rf"{copies[1].name}: the attacked images of dataset 'toy'"
    ):
        read_reconstructions(copies)


@pytest.mark.slow
def test_eta_must_be_one_and_stated(results, tmp_path):
    files = results
    assert read_eta(files["imprint"]) == ETA
    with pytest.raises(ValueError, match=r"need the imprint attack's imprint\.json"):
        read_eta([])
    other = tmp_path / "imprint.json"
    write_json(other, imprint_record(0.5) | {"ssim_threshold": 0.9})
    with pytest.raises(ValueError, match=r"disagree on ssim_threshold η: \[0.9, 0.95\]"):
        read_eta([*files["imprint"], other])


def test_the_size_checks_catch_small_text(tmp_path):
    figure, axes = new_figure(SINGLE_COLUMN_IN, 2.0, 1, 1)
    axes[0, 0].set_title("too small", fontsize=5)
    axes[0, 0].set_ylabel("rotated", fontsize=6.5)
    save_figure(figure, tmp_path / "small.png")
    assert {t.get_text(): t.get_fontsize() for t in visible_texts(figure)}["too small"] == 5
    width, sizes = pdf_page_width_and_font_sizes(tmp_path / "small.pdf")
    assert width == pytest.approx(SINGLE_COLUMN_IN)
    assert {5.0, 6.5} <= {round(size, 6) for size in sizes}


def rising_bounds(path, root):
    """A copy under ``root`` of a bounds table whose certified bound rises with ε: ≥ 0.5 from
    ε = 10^1.5 on (at 10³ of the budgets), 1 at ε = inf."""
    table = pd.read_csv(path)
    eps = table["target_epsilon"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        rising = 1 / (1 + np.exp(-2 * (np.log10(eps) - 1.5)))
    rigorous = table["method"] == "rigorous"
    table.loc[rigorous, "bound"] = rising[rigorous.to_numpy()]
    table.to_csv(root / path.name, index=False)
    return root / path.name


@pytest.fixture(scope="module")
def risk_results(results, tmp_path_factory):
    """The result files of three datasets (skin a copy of toy), their summary and their
    from-scratch tables."""
    root = tmp_path_factory.mktemp("risk")
    files = copied_dataset(results, root, "toy", "skin")
    files["bounds"] = [rising_bounds(path, root) for path in files["bounds"]]
    files["tr"] = []
    for path in files["bounds"]:
        dataset = path.name.removesuffix("-bounds.csv")
        transition = {"criterion": "success > 0", "epsilon_low": 1e6, "epsilon_high": 1e9}
        write_json(root / f"{dataset}-tr.json", {"dataset": dataset, "transitions": [transition]})
        files["tr"].append(root / f"{dataset}-tr.json")
    files["scratch"] = write_from_scratch(root, files)
    return files, pd.read_csv(write_summary(files, root / "summary.csv"))


THREAT_MODELS = {
    "identification, κ = 1/N (N = 500), certified",
    "from scratch, one release (no prior), median image, P(PSNR ≥ 30 dB)",
    "from scratch, whole run (no prior), median image, P(PSNR ≥ 30 dB)",
    f"imprint attack, measured (SSIM ≥ η = {ETA:g}), 95 % CI",
    "imprint attack, measured (PSNR ≥ 30 dB), 95 % CI",
    "corridor: certified bound ≥ 0.5, no imprint success",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("datasets", "scratch"),
    [(("toy",), True), (tuple(TASKS), True), (("toy",), False)],
    ids=["one", "three", "one-without-from-scratch"],
)
def test_the_risk_legend_names_each_threat_model_and_fits_the_figure(
    risk_results, tmp_path, datasets, scratch
):
    files, summary = risk_results
    files = of_datasets(files, datasets)
    figure = risk_vs_eps(
        summary[summary["dataset"].isin(datasets)],
        files["bounds"],
        tmp_path / "risk_vs_eps.png",
        files["imprint"],
        files["scratch"] if scratch else (),
    )
    assert (tmp_path / "risk_vs_eps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "risk_vs_eps.pdf").read_bytes()[:5] == b"%PDF-"
    (legend,) = figure.legends
    figure.draw_without_rendering()
    inside = figure.bbox.padded(0.5)  # half a pixel of rounding
    box = legend.get_window_extent()
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1, (box, figure.bbox)
    assert inside.y0 <= box.y0 and box.y1 <= inside.y1, (box, figure.bbox)
    labels = {" ".join(text.get_text().split()) for text in legend.get_texts()}
    expected = THREAT_MODELS if scratch else {t for t in THREAT_MODELS if "PSNR" not in t}
    assert expected <= labels, expected - labels
    assert scratch or not any("from scratch" in label for label in labels)
    assert any(label.startswith("identification, κ = 1/8") for label in labels)
    assert min(text.get_fontsize() for text in visible_texts(figure)) >= SMALLEST_TEXT_PT
