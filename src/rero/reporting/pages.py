"""The report's pages: every result table as an HTML page, and the study in prose.

One page per table: the summary, the per-seed training metrics, and per dataset its bounds,
membership-inference bounds, advice and attack results, under the names of
``rero.reporting.page_names.page_list`` (the workflow declares exactly these as the rule's
outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from rero.privacy.plan import PrivacyPlan, read_plan
from rero.reporting import html as html_pages
from rero.reporting.columns import describe_column
from rero.reporting.corridor import corridors, read_eta
from rero.reporting.page_names import page_list
from rero.reporting.study_text import (
    accountant_text,
    budgets_text,
    corridor_text,
    schedule_text,
    series_text,
)
from rero.reporting.summary import attack_table, training_table
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


def attacks_frame(imprint_files: Sequence[Path], prior_aware_files: Sequence[Path]) -> pd.DataFrame:
    """One row per attacked budget: σ, the imprint attack's success (every budget of the
    bounds curve) and the prior-aware attack's success and certified bound (trained budgets)."""
    imprint = attack_table(imprint_files, "imprint", extra=("sigma",))
    prior = attack_table(prior_aware_files, "prior_aware", extra=("kappa", "bound"))
    table = imprint.merge(prior, on=["dataset", "target_epsilon"], how="left")
    table = table.rename(columns={"imprint_sigma": "sigma"})
    return table.sort_values("target_epsilon", ignore_index=True)


def transitions_frame(transition_files: Sequence[Path]) -> pd.DataFrame:
    """The ε intervals in which the imprint attack's success first reaches each level."""
    rows = []
    for file in transition_files:
        record = read_json(file)
        for item in record["transitions"]:
            rows.append({"dataset": record["dataset"], **item})
    return pd.DataFrame(rows)


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
    corridor_texts: Mapping[str, str],
) -> str:
    """The study in prose: budgets and seeds, per dataset its schedule, accountants and risk
    corridor (where ``corridor_texts`` has it), and where ``translations`` has one its table of
    RDP-calibrated budgets translated to tight ε."""
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
        table = plan_table_of(own)
        body += [
            f"<h2>{dataset}</h2>",
            html_pages.paragraphs_html(
                [
                    f"Schedule: {schedule_text(own[0])}.",
                    accountant_text(own, requested.get(dataset, "auto")),
                    *([corridor_texts[dataset]] if dataset in corridor_texts else []),
                ]
            ),
            html_pages.table_html(table),
        ]
        translation = translations.get(dataset)
        if translation is not None:
            body += [
                "<h3>RDP-calibrated budgets, translated to tight ε</h3>",
                html_pages.paragraphs_html([TRANSLATION_TEXT.format(dataset=dataset)]),
                html_pages.table_html(translation.drop(columns=["dataset"])),
            ]
    return html_pages.page(
        "The study",
        "What was run, written from the privacy plans and training records of this run.",
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
) -> list[Path]:
    """Write every page of :func:`page_list` under ``out_dir``; returns their paths (the study
    page states the from-scratch bound only where its tables are given)."""
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
    corridor_texts = {
        dataset: corridor_text(item, read_eta(by_dataset(imprint_files, dataset)))
        for dataset, item in corridors(summary, bound_files, from_scratch_files).items()
    }
    pages = {
        (None, "summary"): html_pages.page(
            "Summary",
            "One row per dataset and target ε (results/summary.csv); the columns are described "
            "below the table and in each header's tooltip.",
            html_pages.table_html(summary, columns)
            + "<h2>Columns</h2>"
            + html_pages.definitions_html(columns.items()),
        ),
        (None, "runs"): html_pages.page(
            "Training runs",
            "One row per trained model (dataset, target ε, seed): its test metrics and the ε it "
            "spent, from results/train/*/eps_*/seed_*/metrics.json.",
            html_pages.table_html(runs),
        ),
        (None, "study"): study_page(plans, runs, accountants, translations, corridor_texts),
    }
    for dataset in datasets:
        imprint = by_dataset(imprint_files, dataset)
        prior = by_dataset(prior_aware_files, dataset)
        transitions = transitions_frame(by_dataset(transition_files, dataset))
        pages |= {
            (dataset, "bounds"): html_pages.page(
                f"Reconstruction-risk bounds: {dataset}",
                "Every method's bound on reconstruction success per budget and prior κ; kind "
                "says whether the number is a certified upper bound or an approximation.",
                html_pages.table_html(csv_rows(by_dataset(bound_files, dataset))),
            ),
            (dataset, "membership"): html_pages.page(
                f"Membership-inference bounds: {dataset}",
                "Certified upper bounds on any membership-inference attack on each budget's "
                "DP-SGD run: TPR at fixed FPRs, AUC and balanced accuracy.",
                html_pages.table_html(csv_rows(by_dataset(membership_files, dataset))),
            ),
            (dataset, "advice"): html_pages.page(
                f"Budget advice: {dataset}",
                "For each tolerated risk, the least σ whose certified bound meets it, its ε and "
                "the test metric it costs (interpolated between trained budgets).",
                html_pages.table_html(csv_rows(by_dataset(advice_files, dataset))),
            ),
            (dataset, "attacks"): html_pages.page(
                f"Attacks: {dataset}",
                "Success rates with 95 % Clopper–Pearson intervals: the imprint attack at every "
                "budget of the bounds curve, the prior-aware attack (with its certified bound) "
                "at the trained budgets; then where the imprint attack's success first reaches "
                "each level.",
                html_pages.table_html(attacks_frame(imprint, prior))
                + "<h2>Transitions</h2>"
                + html_pages.table_html(transitions),
            ),
        }
    written = []
    for entry in page_list(datasets):
        target = out_dir / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_text(pages[entry.dataset, entry.table])
        written.append(target)
    return written
