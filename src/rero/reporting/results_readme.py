"""``results/README.md``: what each output file of the study is, and what each column of the
summary table means (every column of the run's own ``summary.csv``, described by
:func:`rero.reporting.columns.describe_column`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rero.reporting.columns import describe_column
from rero.reporting.figures import FIGURES
from rero.reporting.study_text import budget_text, series_text
from rero.runtime.io import atomic_path

#: (path pattern under results/, what the file is), in the order the workflow makes them
OUTPUTS = (
    (
        "data/{dataset}/",
        "the prepared dataset: {train,val,test}_images.npy and _labels.npy (segmentation: "
        "_masks.npy), and meta.json (sizes, task, source)",
    ),
    (
        "privacy/{dataset}/eps_{eps}.json",
        "the privacy plan of a budget: σ, sampling rate q, steps T, δ, the certified ε, the "
        "accountant that produced it and its note",
    ),
    (
        "train/{dataset}/eps_{eps}/seed_{seed}/model.pt",
        "the trained model's weights",
    ),
    (
        "train/{dataset}/eps_{eps}/seed_{seed}/metrics.json",
        "a training run's test (and validation) metrics, the 95 % percentile-bootstrap interval "
        "of its main metric over the test examples (test_bootstrap), Opacus' RDP upper bound on "
        "its ε (rdp_epsilon_upper_bound, looser than the plan's certified ε) and its provenance",
    ),
    (
        "bounds/{dataset}.csv",
        "reconstruction-risk bounds: one row per budget, prior κ and method (kind: certified "
        "upper bound or approximation)",
    ),
    (
        "bounds/{dataset}_membership.csv",
        "certified upper bounds on membership inference per budget (TPR at fixed FPRs, AUC, "
        "balanced accuracy)",
    ),
    (
        "bounds/{dataset}_from_scratch.csv",
        "the from-scratch bound (Riess et al. 2024): one row per budget, success criterion "
        "(bounds.from_scratch) and norm (the training images' smallest, quantile_5 and median "
        "||X||, and mean_over_images, whose data_norm is empty): P(success) of one release "
        "(single_release) and of the whole run, every inclusion averaged (whole_run), and the "
        "NCC value; the law of an analytic inversion without a data prior, an upper bound on "
        "that class of attacks, not on every adversary (threat_model). clipping_active: ||X|| ≥ "
        "C (every image's, for the mean), so even a one-row trap is clipped as the law assumes; "
        "where false, a trap of fewer than (C/||X||)² rows sees more noise and the curve "
        "overstates its success (still an upper bound). σ = 0, the non-private run (no noise, "
        "no clipping): 1, exact",
    ),
    (
        "attack/{dataset}/eps_{eps}/imprint.json",
        "the imprint attack on one DP-SGD update: success rate (SSIM ≥ η) with its 95 % "
        "interval, SSIM and MSE curves, and under `criteria` each success criterion's rate and "
        "interval (attack.imprint.success)",
    ),
    (
        "attack/{dataset}/eps_{eps}/recon.npz",
        "the imprint attack's originals and reconstructions (normalised for display and "
        "matching), and per image the raw metrics of the matched reconstruction as read out "
        "(raw_mse, raw_psnr, raw_ncc, raw_ssim; data range 1)",
    ),
    (
        "attack/{dataset}/eps_{eps}/prior_aware.json",
        "the prior-aware informed adversary: success rate with its 95 % interval, κ = 1/M and "
        "the certified bound at that κ",
    ),
    (
        "attack/{dataset}/transition.json",
        "where the imprint attack's success first reaches each level: an ε interval, bisected",
    ),
    (
        "privacy/{dataset}/translation.csv",
        "the σ the paper's RDP calibration gives for each budget, and the tight ε of that σ",
    ),
    (
        "audit/{dataset}/eps_{eps}.json",
        "the audit of the training code at one budget: canaries, guesses, the ε lower bound with "
        "its confidence, per access (white-box, black-box), the white-box steps' composed "
        "bounds, method and assumptions",
    ),
    (
        "advice/{dataset}.csv",
        "budget advice: per threat model (threat: identification, the certified bound at κ; "
        "from-scratch and from-scratch-run, the from-scratch bound of one release and of the "
        "whole run at the training images' median norm (norm, data_norm); membership), the least "
        "σ (and its ε) whose bound meets each tolerated risk, and the test metric it costs",
    ),
    ("summary.csv", "one row per dataset and target ε; its columns are described below"),
    ("figures/{figure}.*", "the figures (see the list below)"),
    (
        "report/",
        "the report's pages: every table as HTML, the study in prose, the provenance (config, "
        "commit, package versions)",
    ),
    ("logs/", "each job's log (the same path as its output, under logs/)"),
    ("benchmarks/", "each job's wall time, memory and CPU time (Snakemake benchmark files)"),
)

FIGURE_DESCRIPTIONS = {
    "utility_vs_eps": "test performance against ε, per seed and mean, beside the non-private model",
    "bounds_vs_eps": "reconstruction-risk bounds against ε per prior κ: certified and approximate",
    "reconstructions": "imprint-attack reconstructions of the same training images at each ε",
    "risk_vs_eps": (
        "reconstruction risk against ε by threat model: the certified identification bound per "
        "κ, the from-scratch bound (no data prior; where the run computed it), the attacks' "
        "measured success (95 % CI), and the corridor from where the certified bound reaches 0.5 "
        "to the imprint attack's first success"
    ),
    "trade_off": "test utility against reconstruction risk, one point per trained budget",
    "audit_vs_claim": (
        "the ε each plan claims against the audited lower bounds of the training code"
    ),
}


def readme_text(summary: pd.DataFrame) -> str:
    """The README of a results folder whose summary table is ``summary``."""
    datasets = sorted(set(summary["dataset"].astype(str)))
    budgets = sorted(set(summary["target_epsilon"].astype(float)))
    lines = [
        "# Results of the rero study",
        "",
        "Written by the workflow (`python -m rero results-readme`); do not edit, rerun the "
        "workflow. Build the browsable report with `make report` (results/report.html).",
        "",
        f"This run: dataset{'s' if len(datasets) > 1 else ''} {series_text(datasets)}; "
        f"trained budgets ε = {series_text([budget_text(value) for value in budgets])} "
        "(file names write ε as in the config: `eps_8`, `eps_1e9`, `eps_inf`). The bounds "
        "and the imprint attack also run at the config's `bounds.extra_eps`.",
        "",
        "## Files",
        "",
        "| path under results/ | what it is |",
        "| --- | --- |",
        *(f"| `{path}` | {text} |" for path, text in OUTPUTS),
        "",
        "## Figures",
        "",
        *(f"- `figures/{name}`: {FIGURE_DESCRIPTIONS[name]}" for name in FIGURES),
        "",
        "## Columns of summary.csv",
        "",
        "| column | meaning |",
        "| --- | --- |",
        *(f"| `{column}` | {describe_column(str(column))} |" for column in summary.columns),
        "",
    ]
    return "\n".join(lines)


def write_readme(summary_file: Path, out: Path) -> None:
    """Write the README for the summary table ``summary_file``."""
    text = readme_text(pd.read_csv(summary_file))
    with atomic_path(out) as tmp:
        tmp.write_text(text)
