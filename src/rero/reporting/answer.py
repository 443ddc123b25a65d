"""The study's answer, as the report opens with it: for each dataset, the budget each threat model
needs to keep its risk under the headline risk and what that costs (from the advice table), the
risk corridor (:mod:`rero.reporting.corridor`) and the headline table of the summary, one row
per budget. Every number is read from the run's files."""

from __future__ import annotations

import html
import math
import re

import pandas as pd

from rero.reporting import html as html_pages
from rero.reporting.numbers import significant
from rero.reporting.study_text import auto_order_text, budget_text, number_text
from rero.study.criteria import criterion_text

#: the tolerated risk the answer is stated at (the advice table's first where it lacks this one)
HEADLINE_RISK = 0.05
ACCOUNTANT_SHORT = {"inclusions": "inclusion-count", "pld": "PLD", "prv": "PRV", "rdp": "RDP"}
SUBJECTS = {
    "identification": "the certified bound on reconstruction success (an informed adversary who "
    "picks the target among candidates with prior κ = {at})",
    "from-scratch": "the from-scratch bound on a reconstruction with {at} (an analytic inversion "
    "without a data prior; median-norm image, one release)",
    "from-scratch-run": "the from-scratch bound on a reconstruction with {at} (an analytic "
    "inversion without a data prior; median-norm image, every release of the whole run)",
    "membership": "the certified bound on the true-positive rate of any membership-inference "
    "test at a false-positive rate of {at}",
}
#: a further success criterion's columns of the summary: ``imprint_<label>_success_rate``
CRITERION_COLUMN = re.compile(
    r"imprint_(?P<metric>[a-z_]+?)_(?:ge|le)_(?P<threshold>[^_]+)_success_rate"
)
#: a number in a prose note of the advice table (8, 0.5, 1000, 1e+09)
NUMBER = re.compile(r"(?<![\w.])[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?(?![\w.])")
STYLE = """
.rero-answer .scroll { overflow-x: auto; max-width: 100%; }
.rero-answer table { border-collapse: separate; border-spacing: 0; margin: 0; }
.rero-answer th, .rero-answer td { white-space: nowrap; padding: 0.2em 0.5em; text-align: right;
  border-bottom: 1px solid #ddd; background: #fff; }
.rero-answer th.key { position: sticky; z-index: 1; background: #f3f3f3; text-align: left; }
.rero-answer th.key > div { overflow: hidden; text-overflow: ellipsis; }
"""


def percent_text(risk: float) -> str:
    """A risk as a percentage: 5 %, 0.1 %."""
    return f"{100 * risk:.3g} %"


def headline_rows(advice: pd.DataFrame) -> pd.DataFrame:
    """The advice rows the answer states: at :data:`HEADLINE_RISK` (else the first risk), for
    each threat model its first prior, criterion or false-positive rate."""
    risks = list(advice["max_risk"])
    risk = HEADLINE_RISK if any(math.isclose(r, HEADLINE_RISK) for r in risks) else risks[0]
    rows = advice[[math.isclose(value, risk) for value in advice["max_risk"]]]
    return rows.drop_duplicates("threat", keep="first")


def spread_text(mean: float, sd: float) -> str:
    """A mean with its seed spread, "0.700 ± 0.0180" (the mean alone where no sd was taken)."""
    if math.isnan(sd):
        return significant(mean)
    return f"{significant(mean)} ± {significant(sd)}"


def readable_numbers(text: str) -> str:
    """``text`` with each number written as prose writes it (1000 as 10³, 1e+09 as 10⁹)."""
    return NUMBER.sub(lambda match: number_text(float(match.group())), text)


def cost_text(row: pd.Series, baseline: tuple[float, float] | None) -> str:
    """What an advised budget costs in the main metric, against the non-private run."""
    metric = str(row["main_metric"]).upper() if row["main_metric"] == "mcc" else row["main_metric"]
    how = readable_numbers(str(row["utility"]))
    if math.isnan(row["main_metric_mean"]):
        return f"its cost in {metric} is not known ({how})"
    text = f"costing {metric} {spread_text(row['main_metric_mean'], row['main_metric_sd'])} ({how})"
    if baseline is not None:
        text += f" against {spread_text(*baseline)} without privacy"
    return text


def advice_sentence(row: pd.Series, baseline: tuple[float, float] | None) -> str:
    """One advice row in prose: "To keep <the threat's bound> under 5 % you need σ ≥ …, i.e.
    ε ≤ … (<accountant>), costing …", or why no σ meets it."""
    subject = SUBJECTS[str(row["threat"])].format(at=row["at_label"])
    risk = percent_text(float(row["max_risk"]))
    if math.isnan(row["sigma"]):
        return f"No noise keeps {subject} under {risk}: {readable_numbers(str(row['utility']))}."
    accountant = ACCOUNTANT_SHORT.get(str(row["accountant"]), str(row["accountant"]))
    return (
        f"To keep {subject} under {risk} you need σ ≥ {significant(row['sigma'])}, i.e. "
        f"ε ≤ {significant(row['epsilon'])} ({accountant} accountant), "
        f"{cost_text(row, baseline)}."
    )


def baseline_of(rows: pd.DataFrame) -> tuple[float, float] | None:
    """(mean, sd) of the main metric of a dataset's non-private run, None without one."""
    private = rows[rows["target_epsilon"] == math.inf]
    if private.empty or math.isnan(private["main_metric_mean"].iloc[0]):
        return None
    return float(private["main_metric_mean"].iloc[0]), float(private["main_metric_sd"].iloc[0])


def answer_sentences(summary: pd.DataFrame, advice: pd.DataFrame) -> list[str]:
    """One dataset's advice in prose, one sentence per threat model (``summary``: its rows; no
    seed spread is stated for a single seed)."""
    baseline = baseline_of(summary)
    if "n_seeds" in summary and summary["n_seeds"].max() < 2:  # the advice's sd 0 is no spread
        advice = advice.assign(main_metric_sd=math.nan)
    return [advice_sentence(row, baseline) for _, row in headline_rows(advice).iterrows()]


def interval_text(rate: float, low: float, high: float) -> str:
    """A success rate with its interval: 0.750 [0.620, 0.840]; '' where not measured."""
    if math.isnan(rate):
        return ""
    return f"{significant(rate)} [{significant(low)}, {significant(high)}]"


def headline_table(rows: pd.DataFrame, eta: float) -> pd.DataFrame:
    """One dataset's summary rows as the headline table: σ (accountant), the main metric, the
    certified bound at κ = 1/N (else the first κ), the imprint attack by each criterion and the
    prior-aware attack against its own bound."""
    rows = rows.sort_values("target_epsilon")
    metric = str(rows["main_metric"].iloc[0])
    bounds = [column for column in rows.columns if column.startswith("train_rero_bound_kappa_")]
    bound = next((c for c in bounds if c.endswith("_1/N")), bounds[0] if bounds else None)
    table = {
        "ε": [budget_text(value) for value in rows["target_epsilon"]],
        "σ (accountant)": [
            f"{significant(sigma)} ({ACCOUNTANT_SHORT.get(accountant, accountant)})"
            for sigma, accountant in zip(rows["sigma"], rows["accountant"], strict=True)
        ],
        f"{metric} (mean ± sd)": [
            spread_text(mean, sd)
            for mean, sd in zip(rows["main_metric_mean"], rows["main_metric_sd"], strict=True)
        ],
    }
    if bound is not None:
        label = bound.removeprefix("train_rero_bound_kappa_")
        table[f"certified bound, κ = {label}"] = [significant(value) for value in rows[bound]]
    criteria = [(f"SSIM ≥ {eta:g}", "imprint")]
    for column in rows.columns:
        if match := CRITERION_COLUMN.fullmatch(column):
            text = criterion_text(match["metric"], float(match["threshold"]))
            criteria.append((text, column.removesuffix("_success_rate")))
    for text, prefix in criteria:
        table[f"imprint attack, {text}"] = [
            interval_text(*values)
            for values in zip(
                rows[f"{prefix}_success_rate"],
                rows[f"{prefix}_ci_low"],
                rows[f"{prefix}_ci_high"],
                strict=True,
            )
        ]
    if "prior_aware_success_rate" in rows:
        table["prior-aware attack / its bound"] = [
            "" if math.isnan(rate) else f"{significant(rate)} / {significant(own)}"
            for rate, own in zip(
                rows["prior_aware_success_rate"], rows["prior_aware_run_bound"], strict=True
            )
        ]
    return pd.DataFrame(table)


def landing_html(
    summary: pd.DataFrame,
    advice: dict[str, pd.DataFrame],
    corridor_texts: dict[str, str],
    etas: dict[str, float],
) -> str:
    """The answer for every dataset as an HTML fragment for the report's landing text (its style
    scoped to the fragment)."""
    parts = [f'<div class="rero-answer"><style>{STYLE}</style>']
    for dataset in sorted(advice):
        rows = summary[summary["dataset"].astype(str) == dataset]
        sentences = answer_sentences(rows, advice[dataset])
        if dataset in corridor_texts:
            sentences.append(corridor_texts[dataset])
        table = headline_table(rows, etas[dataset])
        parts += [
            f"<h3>The answer for {html.escape(dataset)}</h3>",
            html_pages.paragraphs_html(sentences),
            '<div class="scroll">' + html_pages.table_html(table, keys=["ε"]) + "</div>",
        ]
    parts += [html_pages.paragraphs_html([auto_order_text()]), "</div>"]
    return "\n".join(parts) + "\n"
