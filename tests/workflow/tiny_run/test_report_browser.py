"""The Snakemake report in a real browser: headless Chromium renders the report of a tiny run,
whose landing text opens with the answer (the advice sentence and the headline table), opens the
summary table the way the report's own view button does, and the page it shows holds the numbers
of results/summary.csv; on every table page, scrolled right, each table's key column stays in
view."""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from rero.reporting.numbers import significant
from rero.reporting.page_names import page_list
from tests.helpers.html import parse_number, tables
from tests.helpers.workflow import TINY_CONFIG, snakemake

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: what the report can show in its own frame; anything else it only offers as a download link,
#: which Chromium refuses for a data: URL
VIEWABLE = ("image/png", "image/svg+xml", "image/jpeg", "text/html", "application/pdf")
SUMMARY_PAGE = "results/report/summary.html"
# Pressed once the report's scripts have rendered: the summary's view button, as a click would.
PRESS_VIEW_BUTTON = f"""
<script>
setTimeout(function () {{
  new ButtonViewManager(app).handleSelectedResult({json.dumps(SUMMARY_PAGE)}).props.onClick();
}}, 500);
</script>
"""


def find_chromium() -> str | None:
    """The first Chromium (or Chrome) binary on PATH."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def chromium_unavailable() -> str | None:
    """Why no browser can run the test here, or None."""
    if reason := os.environ.get("RERO_BROWSER_SKIP_REASON"):
        return reason
    if find_chromium() is None:
        return (
            f"no Chromium: none of {', '.join(CHROMIUM_NAMES)} is on PATH (Debian: "
            "`apt-get install chromium`, which .ci/run does)"
        )
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_unavailable() is not None, reason=str(chromium_unavailable())),
]


# Appended to a page: every folded part opened, then for each table, scrolled so that its right
# edge meets the window's, the key cells of its first row below the header, where they are and
# whether they are what shows there.
CHECK_KEY_COLUMNS = """
<script>
window.addEventListener("load", function () {
  var found = [];
  document.querySelectorAll("details").forEach(function (folded) { folded.open = true; });
  document.querySelectorAll("table").forEach(function (table) {
    table.scrollIntoView();
    var box = table.getBoundingClientRect();
    window.scrollTo(Math.max(0, box.right + window.scrollX - window.innerWidth), window.scrollY);
    var header = table.tHead.getBoundingClientRect();
    var row = Array.from(table.tBodies[0].rows).find(function (r) {
      return r.getBoundingClientRect().top >= header.bottom - 1;
    });
    found.push({
      wide: table.scrollWidth > window.innerWidth,
      scrolled: window.scrollX,
      keys: Array.from(row ? row.querySelectorAll(".key") : []).map(function (cell) {
        var r = cell.getBoundingClientRect();
        var hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return {text: cell.textContent, left: r.left, right: r.right,
                shown: r.left >= 0 && r.right <= window.innerWidth && cell.contains(hit)};
      }),
    });
  });
  var out = document.createElement("pre");
  out.id = "key-columns";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""
NARROW_WINDOW = "--window-size=800,900"  # narrower than the wide tables


def rendered_dom(url: str, profile: Path, *flags: str) -> str:
    """The DOM of ``url`` after Chromium has run its scripts (5 s of virtual time)."""
    result = subprocess.run(
        [
            str(find_chromium()),
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *flags,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0 and result.stdout, result.stderr[-3000:]
    return result.stdout


def report_results(report: str) -> dict[str, dict]:
    """The report's embedded results: path -> entry (with its data URI)."""
    match = re.search(r"var results = (\{.*?\});\n", report, flags=re.DOTALL)
    assert match, "the report holds no results table"
    return json.loads(match.group(1))


def matches(cell: str, value: object) -> bool:
    """Whether a rendered cell shows the CSV value (numbers to the page's three digits)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return cell == ""
        return cell != "" and math.isclose(parse_number(cell), value, rel_tol=5e-3, abs_tol=1e-300)
    return cell == str(value)


def key_columns(document: str) -> list[dict]:
    """What :data:`CHECK_KEY_COLUMNS` found in a rendered page."""
    found = re.search(r'<pre id="key-columns">(.*?)</pre>', document, flags=re.DOTALL)
    assert found, "the key-column check did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def report_file(tiny_run, tmp_path_factory) -> Path:
    report = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(tiny_run, "--report", str(report))
    return report


def test_every_result_of_the_report_is_viewable_and_every_table_is_there(report_file):
    results = report_results(report_file.read_text())
    mimes = {
        path: entry["data_uri"].split(";", 1)[0].removeprefix("data:")
        for path, entry in results.items()
    }
    assert {path: mime for path, mime in mimes.items() if mime not in VIEWABLE} == {}
    pages = {f"results/report/{page.path}" for page in page_list(list(TINY_CONFIG["datasets"]))}
    assert pages | {"results/report/provenance.html"} <= set(results)


def test_the_landing_text_opens_with_the_answer_and_the_headline_table(
    report_file, tiny_run, tmp_path
):
    landing = html.unescape(rendered_dom(report_file.as_uri(), tmp_path / "profile"))
    assert "ε = 8, 10⁹ and non-private" in landing  # the workflow text, from the config
    advice = pd.read_csv(tiny_run / "results/advice/tiny.csv")
    (row,) = advice[
        (advice["threat"] == "identification") & (advice["max_risk"] == 0.05)
    ].itertuples()
    answer = f"under 5 % you need σ ≥ {significant(row.sigma)}, i.e. ε ≤ {significant(row.epsilon)}"
    assert "The answer for tiny" in landing and answer in landing
    assert landing.index(answer) < landing.index("The rero study reproduces")  # it opens with it
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    (headline,) = [table for table in tables(landing) if table[0][0] == "ε"]
    assert headline[0][3] == "certified bound, κ = 1/N"
    assert [cells[0] for cells in headline[1:]] == ["8", "10⁹", "non-private"]
    bounds = summary["train_rero_bound_kappa_1/N"]
    assert [cells[3] for cells in headline[1:]] == [significant(value) for value in bounds]


def test_the_summary_page_shows_every_number_of_the_summary_in_its_groups(
    report_file, tiny_run, tmp_path
):
    driven = tmp_path / "driven.html"
    head, body_end, tail = report_file.read_text().rpartition("</body>")  # scripts hold some too
    driven.write_text(head + PRESS_VIEW_BUTTON + body_end + tail)
    dom = rendered_dom(driven.as_uri(), tmp_path / "profile")
    frames = re.findall(r'<iframe[^>]*src="(data:text/html[^"]+)"', dom)
    assert len(frames) == 1, "the summary's view button did not show it in the report's frame"
    page = rendered_dom(frames[0], tmp_path / "profile")
    assert (
        base64.b64decode(frames[0].split("base64,", 1)[1]) == (tiny_run / SUMMARY_PAGE).read_bytes()
    )
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    shown = []
    for header, *rows in tables(page):
        assert header[:2] == ["dataset", "target_epsilon"] and len(rows) == len(summary) == 3
        assert len(header) <= 20  # split: no table of the summary's width
        shown += header[2:]
        for cells, (_, record) in zip(rows, summary.iterrows(), strict=True):
            for column, cell in zip(header, cells, strict=True):
                assert matches(cell, record[column]), (column, cell, record[column])
    assert sorted(shown) == sorted(summary.dropna(axis=1, how="all").columns[2:])


def test_every_table_pages_key_columns_stay_in_view_when_scrolled_right(report_file, tmp_path):
    results = report_results(report_file.read_text())
    checked = {}
    for page in page_list(list(TINY_CONFIG["datasets"])):
        uri = results[f"results/report/{page.path}"]["data_uri"]
        document = base64.b64decode(uri.split("base64,", 1)[1]).decode()
        opened = tmp_path / f"{page.name}.html"
        opened.write_text(document.replace("</body>", CHECK_KEY_COLUMNS + "</body>"))
        found = key_columns(rendered_dom(opened.as_uri(), tmp_path / "profile", NARROW_WINDOW))
        assert found, page.name
        for table in found:
            assert all(key["shown"] for key in table["keys"]), (page.name, table)
            lefts = [key["left"] for key in table["keys"]]
            rights = [key["right"] for key in table["keys"]]
            assert all(right <= left + 1 for right, left in zip(rights, lefts[1:], strict=False))
        checked[page.name] = found
    wide = [table for found in checked.values() for table in found if table["wide"]]
    assert wide and all(table["scrolled"] > 0 and table["keys"] for table in wide)
