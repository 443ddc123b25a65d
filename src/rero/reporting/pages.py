"""The report's pages: every result table as an HTML page, the study in prose, and the answer that
the report's landing text opens with.

One page per table: the summary (split into groups of columns), the per-seed training metrics,
and per dataset its advice, attack results, bounds, membership-inference bounds and audit, under
the names of ``rero.reporting.page_names.page_list`` (the workflow declares exactly these as the
rule's outputs), and :data:`rero.reporting.page_names.LANDING`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from rero.privacy.plan import PrivacyPlan, read_plan
from rero.reporting import html as html_pages
from rero.reporting.answer import answer_sentences, landing_html
from rero.reporting.columns import describe_column
from rero.reporting.corridor import corridors, read_eta
from rero.reporting.numbers import cell_text
from rero.reporting.page_names import LANDING, page_list
from rero.reporting.page_tables import (
    advice_parts,
    audit_frame,
    imprint_criteria,
    prior_aware_frame,
    summary_groups,
    transitions_frame,
)
from rero.reporting.study_text import (
    accountant_text,
    auto_order_text,
    budgets_text,
    corridor_text,
    schedule_text,
    series_text,
)
from rero.reporting.summary import KEY, training_table
from rero.runtime.io import atomic_path, read_json


def by_dataset(files: Sequence[str | Path], dataset: str, *, key: str = "dataset") -> list[Path]:
    """The files whose JSON record or CSV rows belong to ``dataset`` (read, not guessed from the
    path)."""
    chosen = []
    for file in map(Path, files):
        if file.suffix == ".csv":
            values = set(pd.read_csv(file, usecols=[key])[key].astype(str))
        else:
            values = {str(read_json(file)[key])}
        if dataset in values:
            chosen.append(file)
    return chosen


def csv_rows(files: Sequence[Path]) -> pd.DataFrame:
    """The rows of CSV tables, concatenated."""
    frames = [pd.read_csv(file) for file in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


TRANSLATION_TEXT = (
    "The paper calibrated σ with RDP (Opacus' accountant). For each target ε of this study: "
    "the σ that RDP calibration gives on this schedule, its RDP ε, and the tight ε of that same "
    "σ at the same δ (certified upper bound, its lower bound and the accountant that gave them); "
    "rdp_overstatement is RDP ε / tight ε, how much less private the RDP label says the run is "
    "than it is (results/privacy/{dataset}/translation.csv)."
)


def study_page(
    plans: Sequence[PrivacyPlan],
    runs: pd.DataFrame,
    requested: Mapping[str, str],
    translations: Mapping[str, pd.DataFrame],
    findings: Mapping[str, Sequence[str]],
) -> str:
    """The study in prose: budgets and seeds, per dataset what was found (``findings``: the
    answer and the risk corridor), its schedule, and folded away which accountant calibrated σ
    at each budget and why, and where ``translations`` has one the RDP-calibrated budgets
    translated to tight ε."""
    budgets = sorted({plan.target_epsilon for plan in plans})
    seeds = sorted(set(runs["seed"])) if not runs.empty else []
    datasets = sorted({str(plan.dataset) for plan in plans})
    body = [
        html_pages.paragraphs_html(
            [
                f"Models trained with DP-SGD at the target budgets {budgets_text(budgets)}, "
                f"seeds {series_text([str(seed) for seed in seeds])}, on the dataset"
                f"{'s' if len(datasets) > 1 else ''} {series_text(datasets)}. Each budget's "
                "noise multiplier σ is calibrated so that the accountant's upper bound on ε at δ "
                "lies just below the target."
            ]
        )
    ]
    for dataset in datasets:
        own = [plan for plan in plans if plan.dataset == dataset]
        accountants = html_pages.paragraphs_html(
            [accountant_text(own, requested.get(dataset, "auto")), auto_order_text()]
        ) + html_pages.table_html(plan_table_of(own), keys=["target_epsilon"])
        body += [
            f"<h2>{html.escape(dataset)}: what was found</h2>",
            html_pages.paragraphs_html(findings.get(dataset, [])),
            html_pages.paragraphs_html([f"Schedule: {schedule_text(own[0])}."]),
            html_pages.details_html(
                "Which accountant calibrated σ at each budget, and why", accountants
            ),
        ]
        translation = translations.get(dataset)
        if translation is not None:
            body.append(
                html_pages.details_html(
                    "RDP-calibrated budgets (the paper's), translated to tight ε",
                    html_pages.paragraphs_html([TRANSLATION_TEXT.format(dataset=dataset)])
                    + html_pages.table_html(
                        translation.drop(columns=["dataset"]), keys=["target_epsilon"]
                    ),
                )
            )
    return html_pages.page(
        "The study",
        "What was run and what was found, written from the privacy plans, training records, "
        "advice and bounds of this run.",
        "\n".join(body),
    )


def plan_table_of(plans: Sequence[PrivacyPlan]) -> pd.DataFrame:
    """Target ε, σ, the certified ε, the accountant and its note, one row per plan."""
    rows = [
        {
            "target_epsilon": plan.target_epsilon,
            "sigma": plan.sigma,
            "epsilon": plan.epsilon,
            "accountant": plan.accountant,
            "note": plan.note,
        }
        for plan in sorted(plans, key=lambda plan: plan.target_epsilon)
    ]
    return pd.DataFrame(rows)


def attacks_body(
    imprint: Sequence[Path], prior_aware: Sequence[Path], transitions: pd.DataFrame
) -> str:
    """The attacks page's tables: the imprint attack by each success criterion, the prior-aware
    attack, and where the imprint attack starts to work."""
    parts = []
    for place, (criterion, table) in enumerate(imprint_criteria(imprint).items()):
        source = "the paper's criterion" if place == 0 else "attack.imprint.success"
        parts += [
            f"<h2>Imprint attack: success by {html.escape(criterion)} ({source})</h2>",
            html_pages.table_html(table, keys=["target_epsilon"]),
        ]
    parts += [
        "<h2>Prior-aware attack, against the certified bound of its own DP-SGD run</h2>",
        html_pages.table_html(prior_aware_frame(prior_aware), keys=["target_epsilon"]),
        "<h2>Where the imprint attack's success first reaches each level</h2>",
        html_pages.table_html(
            transitions.drop(columns=["dataset"], errors="ignore"), keys=["criterion"]
        ),
    ]
    return "\n".join(parts)


def advice_body(advice: pd.DataFrame) -> str:
    """The advice page: one table per threat model and prior, criterion or FPR, the columns that
    do not vary within it listed above the table."""
    parts = []
    for title, constant, rows in advice_parts(advice):
        parts += [
            f"<h2>{html.escape(title)}</h2>",
            html_pages.paragraphs_html(
                ["; ".join(f"{name}: {cell_text(value)}" for name, value in constant.items())]
            ),
            html_pages.table_html(rows, keys=["max_risk"]),
        ]
    return "\n".join(parts)


def audit_body(audit_files: Sequence[Path]) -> str:
    """The audit page: one row per audited budget and auditor, the method folded away."""
    if not audit_files:
        return html_pages.paragraphs_html(["No budget of this dataset was audited (audit.eps)."])
    record = read_json(audit_files[0])
    method = html_pages.paragraphs_html([str(record["method"])]) + (
        "<ul>"
        + "".join(f"<li>{html.escape(item)}</li>" for item in record["assumptions"])
        + "</ul>"
    )
    return html_pages.table_html(
        audit_frame(audit_files), keys=["target_epsilon", "access"]
    ) + html_pages.details_html("The audit's method and assumptions", method)


def table_pages(
    dataset: str,
    *,
    bound_files: Sequence[Path],
    membership_files: Sequence[Path],
    advice_files: Sequence[Path],
    imprint_files: Sequence[Path],
    prior_aware_files: Sequence[Path],
    transition_files: Sequence[Path],
    audit_files: Sequence[Path],
) -> dict[str, str]:
    """One dataset's table pages by table name."""
    bounds = csv_rows(by_dataset(bound_files, dataset)).drop(columns=["dataset"])
    membership = csv_rows(by_dataset(membership_files, dataset)).drop(columns=["dataset"])
    advice = csv_rows(by_dataset(advice_files, dataset))
    return {
        "advice": html_pages.page(
            f"Budget advice: {dataset}",
            "For each threat model and tolerated risk (max_risk), the least σ whose bound meets "
            "it, its ε and the test metric it costs (interpolated between trained budgets).",
            advice_body(advice),
        ),
        "attacks": html_pages.page(
            f"Attacks: {dataset}",
            "Success rates with 95 % Clopper–Pearson intervals: the imprint attack at every "
            "budget of the bounds curve, by each success criterion; the prior-aware attack (with "
            "its certified bound) at the trained budgets; then where the imprint attack's "
            "success first reaches each level.",
            attacks_body(
                by_dataset(imprint_files, dataset),
                by_dataset(prior_aware_files, dataset),
                transitions_frame(by_dataset(transition_files, dataset)),
            ),
        ),
        "bounds": html_pages.page(
            f"Reconstruction-risk bounds: {dataset}",
            "Every method's bound on reconstruction success per budget and prior κ; kind "
            "says whether the number is a certified upper bound or an approximation.",
            html_pages.table_html(bounds, keys=["target_epsilon", "kappa_label", "method"]),
        ),
        "membership": html_pages.page(
            f"Membership-inference bounds: {dataset}",
            "Certified upper bounds on any membership-inference attack on each budget's "
            "DP-SGD run: TPR at fixed FPRs, AUC and balanced accuracy.",
            html_pages.table_html(membership, keys=["target_epsilon"]),
        ),
        "audit": html_pages.page(
            f"Audit: {dataset}",
            "What an audit of the training code measured at each audited budget, beside the ε "
            "its privacy plan claims (results/audit/<dataset>/eps_<eps>.json).",
            audit_body(by_dataset(audit_files, dataset)),
        ),
    }


def write_pages(
    out_dir: Path,
    *,
    summary_file: Path,
    metric_files: Sequence[Path],
    plan_files: Sequence[Path],
    bound_files: Sequence[Path],
    membership_files: Sequence[Path],
    advice_files: Sequence[Path],
    imprint_files: Sequence[Path],
    prior_aware_files: Sequence[Path],
    transition_files: Sequence[Path],
    accountants: Mapping[str, str],
    translation_files: Sequence[Path],
    from_scratch_files: Sequence[Path] = (),
    audit_files: Sequence[Path] = (),
) -> list[Path]:
    """Write every page of :func:`page_list` and the landing answer under ``out_dir``; returns
    their paths (the corridor names the from-scratch bound only where its tables are given)."""
    plans = [read_plan(file) for file in plan_files]
    datasets = sorted({str(plan.dataset) for plan in plans})
    translations = {
        dataset: csv_rows(files)
        for dataset in datasets
        if (files := by_dataset(translation_files, dataset))
    }
    summary = pd.read_csv(summary_file)
    runs = training_table(metric_files)
    columns = {str(column): describe_column(str(column)) for column in summary.columns}
    etas = {dataset: read_eta(by_dataset(imprint_files, dataset)) for dataset in datasets}
    corridor_texts = {
        dataset: corridor_text(item, etas[dataset])
        for dataset, item in corridors(summary, bound_files, from_scratch_files).items()
    }
    advice = {dataset: csv_rows(by_dataset(advice_files, dataset)) for dataset in datasets}
    findings = {
        dataset: [
            *answer_sentences(summary[summary["dataset"].astype(str) == dataset], advice[dataset]),
            *([corridor_texts[dataset]] if dataset in corridor_texts else []),
        ]
        for dataset in datasets
    }
    pages = {
        (None, "summary"): html_pages.page(
            "Summary",
            "One row per dataset and target ε (results/summary.csv), its columns in groups (a "
            "column empty in every row, such as the other task's metrics, left out); each column "
            "is described below the tables and in its header's tooltip.",
            html_pages.sections_html(
                summary,
                summary_groups(list(summary.dropna(axis=1, how="all").columns)),
                KEY,
                columns,
            )
            + "<h2>Columns</h2>"
            + html_pages.definitions_html(columns.items()),
        ),
        (None, "runs"): html_pages.page(
            "Training runs",
            "One row per trained model (dataset, target ε, seed): its test metrics and the "
            "upper bound on its ε that Opacus' RDP accountant gives, from "
            "results/train/*/eps_*/seed_*/metrics.json.",
            html_pages.table_html(runs, keys=["dataset", "target_epsilon", "seed"]),
        ),
        (None, "study"): study_page(plans, runs, accountants, translations, findings),
    }
    for dataset in datasets:
        tables = table_pages(
            dataset,
            bound_files=bound_files,
            membership_files=membership_files,
            advice_files=advice_files,
            imprint_files=imprint_files,
            prior_aware_files=prior_aware_files,
            transition_files=transition_files,
            audit_files=audit_files,
        )
        pages |= {(dataset, table): text for table, text in tables.items()}
    written = []
    contents = {
        out_dir / entry.path: pages[entry.dataset, entry.table] for entry in page_list(datasets)
    }
    contents[out_dir / LANDING] = landing_html(summary, advice, corridor_texts, etas)
    for target, text in contents.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_text(text)
        written.append(target)
    return written
