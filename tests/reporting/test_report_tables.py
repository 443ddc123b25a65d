"""The report's tables as read: numbers to three significant digits with powers of ten, sticky key
columns, the summary split into groups, the advice split by threat model, the landing answer,
and the titles that order the report's entries."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from rero.privacy.accounting.registry import AUTO_ORDER
from rero.reporting import html as html_pages
from rero.reporting.answer import (
    answer_sentences,
    headline_table,
    landing_html,
    readable_numbers,
)
from rero.reporting.figures import FIGURES
from rero.reporting.numbers import cell_text, significant
from rero.reporting.page_names import DATASET_PAGES, STUDY_PAGES, TITLES, figure_labels
from rero.reporting.page_tables import advice_parts, audit_frame, summary_group, summary_groups
from rero.reporting.study_text import ACCOUNTANT_NAMES, auto_order_text
from rero.runtime.io import write_json
from tests.helpers.html import parse_number, table_rows


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8.0, "8"),
        (256.0, "256"),
        (0.5, "0.500"),
        (13.456, "13.5"),
        (9.9951, "10.0"),
        (100.0, "100"),
        (1 / 3, "0.333"),
        (0.0123, "0.0123"),
        (0.00999, "9.99·10⁻³"),
        (2.5e-4, "2.50·10⁻⁴"),
        (1e-5, "10⁻⁵"),
        (999.6, "10³"),
        (1234.5, "1.23·10³"),
        (3.1623e7, "3.16·10⁷"),
        (1e9, "10⁹"),
        (-0.5, "-0.500"),
        (0.0, "0"),
        (math.inf, "∞"),
        (math.nan, ""),
    ],
)
def test_numbers_show_three_significant_digits_and_powers_of_ten(value, text):
    assert significant(value) == text
    if text:
        assert parse_number(text) == pytest.approx(float(f"{value:.3g}"), rel=1e-12)


def test_integers_are_grouped_by_thousands_and_text_stays_text():
    assert [cell_text(v) for v in (8000, 7, np.int64(1234567), "pld", None)] == [
        "8,000",
        "7",
        "1,234,567",
        "pld",
        "",
    ]


def test_key_columns_come_first_and_stick_side_by_side():
    frame = pd.DataFrame({"x": [0.123456], "target_epsilon": [8.0], "method": ["rigorous"]})
    document = html_pages.table_html(frame, keys=["target_epsilon", "method"])
    assert table_rows(document) == [["target_epsilon", "method", "x"], ["8", "rigorous", "0.123"]]
    lefts = [
        float(left) for left in re.findall(r'class="key[^"]*" style="left: ([0-9.]+)em"', document)
    ]
    assert lefts[:2] == [0.0, lefts[1]] and lefts[1] > len("target_epsilon") * 0.5
    assert lefts == lefts[:2] * 2  # header and row alike
    assert 'title="0.123456"' in document


SUMMARY_COLUMNS = [
    "dataset", "target_epsilon", "epsilon", "epsilon_lower", "accountant", "sigma",
    "sample_rate", "steps", "delta", "task", "main_metric", "accuracy_mean", "accuracy_sd",
    "mcc_mean", "mcc_sd", "main_metric_mean", "main_metric_sd", "n_seeds",
    "rdp_epsilon_upper_bound", "train_rero_bound_kappa_1/N", "mia_tpr_at_fpr_0.01", "mia_auc",
    "from_scratch_psnr_ge_30_single_median", "imprint_transition_>0_eps_low",
    "imprint_transition_>0_eps_high", "imprint_success_rate", "imprint_ci_low",
    "imprint_ci_high", "imprint_raw_psnr_ge_30_success_rate", "imprint_raw_psnr_ge_30_ci_low",
    "prior_aware_success_rate", "prior_aware_run_bound", "audit_epsilon_lower_white_box",
]  # fmt: skip


def test_the_summary_splits_into_utility_privacy_risk_attacks_and_audit():
    groups = dict(summary_groups(SUMMARY_COLUMNS))
    placed = [column for columns in groups.values() for column in columns]
    assert sorted(placed) == sorted(SUMMARY_COLUMNS[2:])  # every column once, bar the key
    assert groups["Privacy"] == [
        "epsilon", "epsilon_lower", "accountant", "sigma", "sample_rate", "steps", "delta",
        "rdp_epsilon_upper_bound",
    ]  # fmt: skip
    assert summary_group("imprint_raw_psnr_ge_30_ci_low") == "Attacks, measured"
    assert summary_group("imprint_transition_>0_eps_low").startswith("Imprint attack, where")
    assert groups["Audit"] == ["audit_epsilon_lower_white_box"]
    assert "mcc_mean" in groups["Utility"] and "mia_auc" in groups["Risk bounds"]
    summary = pd.DataFrame([dict.fromkeys(SUMMARY_COLUMNS, 1.0)])
    page = html_pages.sections_html(summary, summary_groups(SUMMARY_COLUMNS), ["dataset"])
    assert page.count("<table>") == 6
    assert max(len(row) for row in table_rows(page)) <= 1 + max(map(len, groups.values()))


def advice_rows() -> pd.DataFrame:
    common = {"dataset": "toy", "risk": "reconstruction", "main_metric": "mcc", "steps": 40}
    rows = [
        common
        | {"threat": "identification", "at": "kappa", "at_label": "1/N", "max_risk": risk}
        | {"sigma": sigma, "epsilon": eps, "accountant": "pld", "main_metric_mean": mean}
        | {"main_metric_sd": 0.01, "utility": how, "norm": np.nan}
        for risk, sigma, eps, mean, how in (
            (0.05, 0.569, 13.46, 0.7001, "interpolated between ε = 8 and 1e+03"),
            (0.5, 0.2, 300.0, np.nan, "outside the trained range [8, 1e+03]: not extrapolated"),
        )
    ]
    return pd.DataFrame(rows)


def toy_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": ["toy", "toy"],
            "target_epsilon": [8.0, math.inf],
            "sigma": [0.69, 0.0],
            "accountant": ["pld", "none"],
            "main_metric": ["mcc", "mcc"],
            "main_metric_mean": [0.689, 0.8604],
            "main_metric_sd": [0.012, 0.003],
            "train_rero_bound_kappa_1/N": [0.012, 1.0],
            "imprint_success_rate": [0.0, 0.875],
            "imprint_ci_low": [0.0, 0.76],
            "imprint_ci_high": [0.056, 0.94],
            "imprint_raw_psnr_ge_30_success_rate": [0.0, 0.9],
            "imprint_raw_psnr_ge_30_ci_low": [0.0, 0.8],
            "imprint_raw_psnr_ge_30_ci_high": [0.056, 0.96],
        }
    )


def test_the_advice_splits_by_threat_with_what_does_not_vary_above_it():
    ((title, constant, rows),) = advice_parts(advice_rows())
    assert title == "identification, kappa 1/N"
    assert constant == {"risk": "reconstruction", "at": "kappa", "main_metric": "mcc"} | {
        "steps": 40,
        "accountant": "pld",
        "main_metric_sd": 0.01,
    }
    assert "norm" not in rows and list(rows["max_risk"]) == [0.05, 0.5]


def test_the_answer_states_the_budget_and_its_cost_from_the_advice():
    (sentence,) = answer_sentences(toy_summary(), advice_rows())
    assert sentence == (
        "To keep the certified bound on reconstruction success (an informed adversary who picks "
        "the target among candidates with prior κ = 1/N) under 5 % you need σ ≥ 0.569, i.e. "
        "ε ≤ 13.5 (PLD accountant), costing MCC 0.700 ± 0.0100 (interpolated between ε = 8 and "
        "10³) against 0.860 ± 3.00·10⁻³ without privacy."
    )


def test_the_headline_table_has_one_row_per_budget_and_each_imprint_criterion():
    table = headline_table(toy_summary(), 0.95)
    assert list(table.columns) == [
        "ε",
        "σ (accountant)",
        "mcc (mean ± sd)",
        "certified bound, κ = 1/N",
        "imprint attack, SSIM ≥ 0.95",
        "imprint attack, raw_psnr ≥ 30 dB",
    ]
    assert table.iloc[0].tolist()[:3] == ["8", "0.690 (PLD)", "0.689 ± 0.0120"]
    assert table.iloc[1, 0] == "non-private"
    assert table.iloc[1, 4] == "0.875 [0.760, 0.940]"
    fragment = landing_html(
        toy_summary(), {"toy": advice_rows()}, {"toy": "The corridor."}, {"toy": 0.95}
    )
    assert fragment.startswith('<div class="rero-answer">') and "<body" not in fragment
    assert "The corridor." in fragment and "you need σ ≥ 0.569" in fragment
    assert auto_order_text() in html_pages.html.unescape(fragment)
    assert (
        readable_numbers("between ε = 8 and 1000, [8, 1e+09]") == "between ε = 8 and 10³, [8, 10⁹]"
    )
    single = toy_summary().assign(n_seeds=1, main_metric_sd=np.nan)
    (sentence,) = answer_sentences(single, advice_rows())
    assert "costing MCC 0.700 (interpolated" in sentence and "against 0.860 without" in sentence


def test_the_auto_order_is_the_codes_own():
    text = auto_order_text()
    positions = [text.index(ACCOUNTANT_NAMES[name]) for name in (*AUTO_ORDER, "rdp")]
    assert positions == sorted(positions)
    assert text.index(ACCOUNTANT_NAMES["prv"]) > positions[-1]  # PRV: only when named


def test_every_page_and_figure_has_a_title_that_sorts_in_reading_order():
    assert set(TITLES) == {*STUDY_PAGES, *DATASET_PAGES}
    labels = figure_labels()
    assert set(labels) == set(FIGURES)
    ordered = sorted(labels.values())
    assert ordered == list(labels.values()) and ordered[0].startswith("1. ")
    tables = [TITLES[name] for name in DATASET_PAGES]
    assert tables == sorted(tables)


def test_the_audit_table_has_a_row_per_auditor_with_its_eps_bounds_first(tmp_path):
    auditor = {"canaries": 30, "accuracy_ci": [0.2, 0.9], "sees": "prose", "guess_counts": []}
    record = {
        "target_epsilon": 8.0,
        "claimed": {"epsilon": 7.96, "accountant": "pld"},
        "white_box": auditor
        | {"access": "white-box", "exceeds_claim": False, "epsilon_lower": 1.0},
        "black_box": auditor | {"access": "black-box", "epsilon_lower": 0.0},
    }
    write_json(tmp_path / "eps_8.json", record)
    frame = audit_frame([tmp_path / "eps_8.json"])
    assert list(frame["access"]) == ["black-box", "white-box"]
    assert list(frame.columns[:5]) == [
        "target_epsilon", "access", "claimed_epsilon", "claimed_accountant", "epsilon_lower",
    ]  # fmt: skip
    assert "sees" not in frame and list(frame["accuracy_ci_high"]) == [0.9, 0.9]
