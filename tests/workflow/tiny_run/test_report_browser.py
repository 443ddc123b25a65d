"""The Snakemake report in a real browser: headless Chromium renders the report of a tiny run,
opens the summary table the way the report's own view button does, and the page it shows holds
the numbers of results/summary.csv."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from rero.reporting.page_names import page_list
from tests.helpers.html import table_rows
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


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after Chromium has run its scripts (5 s of virtual time)."""
    result = subprocess.run(
        [
            str(find_chromium()),
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
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
    """Whether a rendered cell shows the CSV value (numbers to the page's six digits)."""
    if isinstance(value, float):
        if math.isnan(value):
            return cell == ""
        return cell != "" and math.isclose(float(cell), value, rel_tol=1e-5, abs_tol=1e-300)
    return cell == str(value)


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


def test_the_browser_shows_the_workflow_text_and_the_summary_numbers(
    report_file, tiny_run, tmp_path
):
    landing = rendered_dom(report_file.as_uri(), tmp_path / "profile")
    assert "ε = 8, 10⁹ and non-private" in landing  # the workflow text, from the config
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
    header, *rows = table_rows(page)[: 1 + len(pd.read_csv(tiny_run / "results/summary.csv"))]
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    assert header == list(summary.columns)
    assert len(rows) == len(summary) == 3
    for cells, (_, record) in zip(rows, summary.iterrows(), strict=True):
        for column, cell in zip(summary.columns, cells, strict=True):
            assert matches(cell, record[column]), (column, cell, record[column])
