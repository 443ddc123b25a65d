"""The results README, the report's pages and its provenance page of the finished tiny study."""

from __future__ import annotations

import html

import pandas as pd
import pytest

from rero.privacy.plan import read_plan
from rero.reporting.columns import describe_column
from rero.reporting.provenance import checkout_state
from rero.reporting.study_text import ACCOUNTANT_NAMES
from tests.helpers.html import table_rows


@pytest.mark.slow
def test_a_real_runs_readme_describes_every_summary_column(tiny_run):
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    readme = (tiny_run / "results/README.md").read_text()
    assert len(summary.columns) > 30
    for column in summary.columns:
        assert f"| `{column}` | {describe_column(column)} |" in readme


@pytest.mark.slow
def test_a_real_runs_pages_hold_its_tables_and_plans(tiny_run):
    results = tiny_run / "results"
    for table, page in (("bounds/tiny.csv", "tiny/bounds"), ("advice/tiny.csv", "tiny/advice")):
        frame = pd.read_csv(results / table)
        rows = table_rows((results / f"report/{page}.html").read_text())
        assert rows[0] == list(frame.columns) and len(rows) == len(frame) + 1, table
    attacks = table_rows((results / "report/tiny/attacks.html").read_text())
    assert len(attacks) == 1 + 6 + 1 + 2  # every imprint budget, then the two transitions
    runs = table_rows((results / "report/runs.html").read_text())
    assert len(runs) == 1 + 3  # one trained model per budget (one seed)
    study = html.unescape((results / "report/study.html").read_text())
    for eps, text in (("8", "8"), ("1e9", "10⁹")):
        plan = read_plan(results / f"privacy/tiny/eps_{eps}.json")
        assert f"at ε = {text} with {ACCOUNTANT_NAMES[plan.accountant]}" in study
    translation = pd.read_csv(results / "privacy/tiny/translation.csv")
    translated = table_rows((results / "report/study.html").read_text())[-1 - len(translation) :]
    assert translated[0] == [column for column in translation.columns if column != "dataset"]
    assert [row[translated[0].index("tight_accountant")] for row in translated[1:]] == list(
        translation["tight_accountant"]
    )


@pytest.mark.slow
def test_a_real_runs_provenance_names_its_commit_config_and_versions(tiny_run):
    page = html.unescape((tiny_run / "results/report/provenance.html").read_text())
    assert checkout_state(tiny_run) in page and "commit " in page  # the copy that ran
    assert "n_train: 240" in page and "clip_norm: 1.0" in page  # the config, defaults filled
    assert f"<dt>pandas</dt><dd>{pd.__version__}</dd>" in page
