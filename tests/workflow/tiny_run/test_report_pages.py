"""The results README, the report's pages and its provenance page of the finished tiny study."""

from __future__ import annotations

import html

import pandas as pd
import pytest

from rero.privacy.plan import read_plan
from rero.reporting.columns import describe_column
from rero.reporting.provenance import checkout_state
from rero.reporting.study_text import ACCOUNTANT_NAMES
from rero.runtime.io import read_json
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
    bounds = pd.read_csv(results / "bounds/tiny.csv").drop(columns=["dataset"])
    rows = table_rows((results / "report/tiny/bounds.html").read_text())
    keys = ["target_epsilon", "kappa_label", "method"]
    assert rows[0] == keys + [c for c in bounds.columns if c not in keys]
    assert len(rows) == len(bounds) + 1
    advice = pd.read_csv(results / "advice/tiny.csv")
    page = (results / "report/tiny/advice.html").read_text()
    tables = advice.groupby(["threat", "at_label"]).ngroups
    assert page.count("<table>") == tables  # one per threat model and prior, criterion or FPR
    assert len(table_rows(page)) == len(advice) + tables
    imprint = sorted(results.glob("attack/tiny/eps_*/imprint.json"))
    criteria = read_json(imprint[0])["criteria"]
    attacks = (results / "report/tiny/attacks.html").read_text()
    for item in criteria:  # the paper's SSIM and every criterion of attack.imprint.success
        assert f"success by {html.escape(item['criterion'])}" in attacks
    trained = len(pd.read_csv(results / "summary.csv"))  # the prior-aware attack's budgets
    expected = len(criteria) * (1 + len(imprint)) + 1 + trained + 1 + 2  # 2 transitions
    assert len(table_rows(attacks)) == expected
    audit = table_rows((results / "report/tiny/audit.html").read_text())
    assert audit[0][:2] == ["target_epsilon", "access"]
    assert [row[1] for row in audit[1:]] == ["black-box", "white-box"]  # audit.eps: [8]
    runs = table_rows((results / "report/runs.html").read_text())
    assert len(runs) == 1 + 3  # one trained model per budget (one seed)
    study = html.unescape((results / "report/study.html").read_text())
    for eps, text in (("8", "8"), ("1e9", "10⁹")):
        plan = read_plan(results / f"privacy/tiny/eps_{eps}.json")
        assert f"at ε = {text} with {ACCOUNTANT_NAMES[plan.accountant]}" in study
    assert study.index("what was found") < study.index("<details>")
    assert study.index("To keep the certified bound") < study.index("<details>")
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
