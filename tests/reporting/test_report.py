"""The report's pages, the study prose, the provenance page and results/README.md."""

from __future__ import annotations

import math
import subprocess
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from rero.privacy.calibration import calibrate_grid
from rero.reporting import html as html_pages
from rero.reporting.columns import describe_column
from rero.reporting.figures import FIGURES
from rero.reporting.pages import study_page
from rero.reporting.provenance import checkout_state, declared_packages, installed_versions
from rero.reporting.results_readme import FIGURE_DESCRIPTIONS, readme_text
from rero.reporting.study_text import (
    accountant_text,
    budgets_text,
    number_text,
    refusals,
    results_corridor_text,
    series_text,
)
from rero.runtime.io import write_json
from tests.helpers import toy_plan
from tests.helpers.html import table_rows


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8, "8"),
        (0.5, "0.5"),
        (1e3, "10³"),
        (1e9, "10⁹"),
        (1e-5, "10⁻⁵"),
        (2.5e-4, "2.5·10⁻⁴"),
        (512, "512"),
        (math.inf, "∞"),
    ],
)
def test_numbers_are_written_as_prose_writes_them(value, text):
    assert number_text(value) == text


def test_budgets_read_as_a_list_in_prose():
    assert budgets_text([1, 8, 1e3, 1e9, math.inf]) == "ε = 1, 8, 10³, 10⁹ and non-private"
    assert series_text(["a"]) == "a" and series_text(["a", "b"]) == "a and b"


def test_each_budget_names_the_accountant_of_its_own_plan_and_why():
    plans = calibrate_grid(
        [64, math.inf], 0.25, 4, 1e-4, dataset="toy", dataset_size=240, batch_size=60, epochs=1
    )
    assert [plan.accountant for plan in plans] == ["pld", "none"]
    text = accountant_text(plans, "auto")
    assert "at ε = 64 with dp_accounting's PLD accountant" in text
    (refused, reason), *_ = refusals(plans[0].note)
    assert refused == "inclusions" and f"(inclusions not used: {reason})" in text
    assert "non-private baseline" in text and "privacy.accountant = auto" in text


def test_budgets_served_alike_share_a_clause_with_each_ones_reason():
    def served(target, accountant, note):
        return replace(toy_plan(target, 240, 60, 1), accountant=accountant, note=note)

    plans = [
        served(8, "prv", "PRV accountant"),
        served(1, "prv", "PRV accountant"),
        served(1e3, "pld", "PLD accountant (x; y); prv not used: mean off"),
        served(1e9, "pld", "PLD accountant; prv not used: range exceeded"),
    ]
    assert accountant_text(plans, "auto") == (
        "privacy.accountant = auto. σ was calibrated at ε = 1 and 8 with the PRV accountant "
        "(Gopi, Lee & Wutschitz 2021); at ε = 10³ and 10⁹ with dp_accounting's PLD accountant "
        "(Doroshenko et al. 2022) (at ε = 10³: PRV not used: mean off; at ε = 10⁹: PRV not "
        "used: range exceeded)."
    )


def test_a_reason_with_semicolons_stays_whole():
    note = "PLD accountant (a; b): upper bound; prv not used: off by 0.5 (x; y); rdp not used: z"
    assert refusals(note) == [("prv", "off by 0.5 (x; y)"), ("rdp", "z")]


def test_a_table_page_holds_every_value_escaped_and_rounded_to_three_digits():
    frame = pd.DataFrame(
        {
            "name": ["<a&b>", "plain"],
            "value": [1 / 3, np.nan],
            "count": [3, 4000],
            "eps": [1e9, np.inf],
        }
    )
    document = html_pages.page("T", "intro", html_pages.table_html(frame, {"value": "a third"}))
    rows = table_rows(document)
    assert rows == [
        ["name", "value", "count", "eps"],
        ["<a&b>", "0.333", "3", "10⁹"],
        ["plain", "", "4,000", "∞"],
    ]
    assert 'title="a third"' in document and "<a&b>" not in document
    assert 'title="0.333333333333"' in document  # the full value behind the rounded cell


@pytest.mark.parametrize(
    ("column", "words"),
    [
        ("mcc_mean", "test MCC: mean over the seeds"),
        ("dice_foreground_sd", "standard deviation"),
        ("train_rero_bound_kappa_1/4", "κ = 1/4"),
        ("prior_aware_run_bound", "its own DP-SGD"),
        ("audit_epsilon_lower_white_box", "white-box"),
        ("mia_tpr_at_fpr_0.01", "false-positive rate 0.01"),
        ("imprint_transition_>=0.5_eps_high", "≥ 0.5"),
        ("imprint_raw_psnr_ge_30_success_rate", "PSNR ≥ 30 dB (data range 1)"),
        ("imprint_raw_mse_le_1e-05_ci_low", "MSE ≤ 1e-05"),
        ("imprint_raw_ncc_ge_0.9_ci_high", "Clopper–Pearson"),
        ("imprint_transition_raw_ssim_ge_0.8_>=0.5_eps_low", "by SSIM ≥ 0.8 first becomes ≥ 0.5"),
        ("prior_aware_ci_low", "Clopper–Pearson"),
        ("sigma", "noise multiplier"),
    ],
)
def test_summary_columns_are_described_with_their_parameters(column, words):
    assert words in describe_column(column)


def test_a_column_without_description_is_refused():
    with pytest.raises(ValueError, match="'mystery_column' has no description"):
        describe_column("mystery_column")


def test_every_figure_is_described_in_the_results_readme():
    assert set(FIGURE_DESCRIPTIONS) == set(FIGURES)


def test_the_readme_describes_each_column_of_its_summary():
    summary = pd.DataFrame({"dataset": ["a"], "target_epsilon": [8.0], "accuracy_mean": [0.5]})
    text = readme_text(summary)
    for column in summary.columns:
        assert f"| `{column}` | {describe_column(column)} |" in text
    with pytest.raises(ValueError, match="unknown_col"):
        readme_text(summary.assign(unknown_col=1))


def git(directory, *args):
    subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True)


def test_checkout_state_names_the_commit_and_changed_tracked_files(tmp_path):
    assert checkout_state(tmp_path).startswith("not a git checkout")
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert checkout_state(tmp_path) == f"commit {head}, no uncommitted changes"
    (tmp_path / "untracked.txt").write_text("results, caches")
    assert checkout_state(tmp_path) == f"commit {head}, no uncommitted changes"
    (tmp_path / "a.txt").write_text("2")
    assert checkout_state(tmp_path).endswith("with uncommitted changes to: a.txt")


def test_versions_cover_the_declared_dependencies():
    names = declared_packages()
    assert names[0] == "rero" and {"opacus", "pandas", "snakemake"} <= set(names)
    versions = installed_versions([*names, "no-such-distribution-rero"])
    assert versions["no-such-distribution-rero"] == "not installed"
    assert versions["pandas"] == pd.__version__


GRID = [1, 32, 64, 1e4, 1e6, 1e9, math.inf]
PRIORS = (("1/N", 1 / 500, "rigorous"), ("0.125", 0.125, "rigorous"), ("1/N", 1 / 500, "gdp_clt"))
CORRIDOR = (
    "On toy, the certified identification bound (κ = 1/N) reaches 0.5 between ε = 32 and 64; "
    "the from-scratch bound (no data prior; median-norm image, one release) reaches "
    "P(PSNR ≥ 30 dB) = 0.5 between ε = 10⁶ and 10⁹ (whole run: between ε = 10⁴ and 10⁶); the "
    "imprint attack (measured, SSIM ≥ 0.95) first succeeds on an image between ε = 10⁶ and "
    "3.16·10⁷ (by PSNR ≥ 30 dB: between ε = 10⁶ and 10⁹). The corridor, where the certified "
    "bound is ≥ 0.5 but the imprint attack succeeds on no image, spans ε = 64 to 10⁶."
)


def write_corridor_results(root, identification, *, scratch=True, first_success=(1e6, 10**7.5)):
    """A results folder of dataset toy: summary.csv with the imprint transitions, the bounds
    (certified at κ = 1/N, and at κ = 1/8 and an approximation that the corridor ignores), the
    from-scratch table (``scratch``) and one imprint record (η = 0.95)."""
    (root / "bounds").mkdir(parents=True)
    first = "imprint_transition_>0_eps"
    at_psnr = "imprint_transition_raw_psnr_ge_30_>0_eps"
    summary = {"dataset": ["toy"], "target_epsilon": [8.0], f"{first}_low": [first_success[0]]}
    summary |= {f"{first}_high": [first_success[1]], f"{at_psnr}_low": [1e6]}
    summary |= {f"{at_psnr}_high": [1e9], "imprint_transition_>=0.5_eps_low": [1.0]}
    summary |= {"imprint_transition_>=0.5_eps_high": [32.0]}
    pd.DataFrame(summary).to_csv(root / "summary.csv", index=False)
    bounds = [
        {"dataset": "toy", "target_epsilon": eps, "kappa_label": label, "kappa": kappa}
        | {"method": method, "bound": value}
        for eps, value in zip(GRID, identification, strict=True)
        for label, kappa, method in PRIORS
    ]
    frame = pd.DataFrame(bounds)
    frame.loc[frame["kappa_label"] == "0.125", "bound"] = 1.0  # above 0.5 everywhere
    frame.loc[frame["method"] == "gdp_clt", "bound"] = 1.0
    frame.to_csv(root / "bounds" / "toy.csv", index=False)
    curves = {
        "median": ([0, 0, 0, 0, 0.1, 0.7, 1], [0, 0, 0, 0.2, 0.9, 1, 1]),
        "smallest": ([0, 0, 0, 0.6, 1, 1, 1], [0, 0, 0.6, 1, 1, 1, 1]),
    }
    rows = [
        {"dataset": "toy", "target_epsilon": eps, "metric": "psnr", "threshold": 30.0}
        | {"criterion": "PSNR ≥ 30 dB", "norm": norm, "single_release": one, "whole_run": run}
        for norm, (single, whole) in curves.items()
        for eps, one, run in zip(GRID, single, whole, strict=True)
    ]
    if scratch:
        pd.DataFrame(rows).to_csv(root / "bounds" / "toy_from_scratch.csv", index=False)
    plan = toy_plan(8.0, 500, 50, 2, dataset="toy").to_dict()
    record = {"dataset": "toy", "plan": plan, "ssim_threshold": 0.95, "success_rate": 0.0}
    write_json(root / "attack" / "toy" / "eps_8" / "imprint.json", record)
    return root


def test_the_corridor_sentence_states_each_threat_models_crossing_from_the_files(tmp_path):
    results = write_corridor_results(tmp_path, [0.01, 0.4, 0.6, 0.9, 1, 1, 1])
    assert results_corridor_text(results) == [CORRIDOR]


def test_a_transition_searched_by_the_from_scratch_criterion_is_stated_by_it(tmp_path):
    """attack.transition.criterion raw_psnr:30: the summary has no transition by SSIM."""
    results = write_corridor_results(tmp_path, [0.01, 0.4, 0.6, 0.9, 1, 1, 1])
    summary = pd.read_csv(results / "summary.csv")
    paper = [column for column in summary if column.startswith("imprint_transition_>")]
    summary.drop(columns=paper).to_csv(results / "summary.csv", index=False)
    (text,) = results_corridor_text(results)
    assert (
        "the imprint attack (measured, PSNR ≥ 30 dB) first succeeds on an image between "
        "ε = 10⁶ and 10⁹." in text
    )
    assert "SSIM" not in text
    assert "spans ε = 64 to 10⁶." in text


def test_a_curve_that_never_crosses_is_not_reached_within_the_studied_eps(tmp_path):
    results = write_corridor_results(
        tmp_path,
        [0.01, 0.1, 0.2, 0.3, 0.4, 0.45, 1.0],
        scratch=False,
        first_success=(1e9, math.inf),
    )
    assert results_corridor_text(results) == [
        "On toy, the certified identification bound (κ = 1/N): 0.5 not reached within the "
        "studied ε, up to ε = 10⁹; the imprint attack (measured, SSIM ≥ 0.95): a first success "
        "not reached within the studied ε, up to ε = 10⁹."
    ]


def test_a_curve_above_the_level_at_the_smallest_budget_says_so(tmp_path):
    results = write_corridor_results(tmp_path, [0.6] * 6 + [1.0], scratch=False)
    (text,) = results_corridor_text(results)
    assert "reaches 0.5 already at ε = 1, the smallest budget studied" in text
    assert "spans ε = 1 to 10⁶." in text


def test_the_study_page_states_each_datasets_corridor(tmp_path):
    plans = [toy_plan(8.0, 500, 50, 2, dataset="toy")]
    page = study_page(plans, pd.DataFrame(), {"toy": "auto"}, {}, {"toy": [CORRIDOR]})
    assert html_pages.paragraphs_html([CORRIDOR]) in page
    folded = page.index("<details>")
    assert page.index("toy: what was found") < page.index(CORRIDOR[:20]) < folded
    assert page.index("σ was calibrated") > folded  # the accountant details, folded away
