"""The numbers of the docs, rendered from the committed snapshot (:mod:`.snapshot`): each a text
named ``<dataset>.<fact>`` (``mni152.corridor``, ``mni152.results_table``), ``example.<fact>``
(the documented ``advise`` example) or ``paper.<fact>`` (the paper study's planned jobs),
which the docs' templates name in ``{{ ... }}`` (:mod:`.render`).

A shipped study whose snapshot is not there yet gets only ``<dataset>.results``, a sentence
saying so and how to add it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from rero.data.tasks import METRIC_LABELS
from rero.reporting.corridor import LEVEL, Crossing
from rero.reporting.study_text import budgets_text, number_text, where_text
from rero.runtime.io import read_json

#: each shipped study's dataset and the command that runs it
STUDIES = {"mni152": "make run", "mni152_seg": "make run-3d"}
#: the tolerated risk of the headline answer
HEADLINE_RISK = 0.05
MISSING = "—"
THREATS = {
    "identification": "identification (certified bound, informed adversary)",
    "from-scratch": "from-scratch, one release (no data prior)",
    "from-scratch-run": "from-scratch, whole run (no data prior)",
    "membership": "membership inference (certified bound on TPR)",
}
#: how an advice row's ``at`` column is said before its label
AT = {"kappa": "κ = ", "fpr": "FPR = "}
CRITERIA = {"psnr_ge": "PSNR ≥ {} dB", "mse_le": "MSE ≤ {}"}
SCRATCH_COLUMN = re.compile(
    r"from_scratch_(?P<kind>psnr_ge|mse_le)_(?P<threshold>[0-9.e+-]+)_single_median"
)


def sig(value: float) -> str:
    """A number to three significant digits as prose writes it (10ⁿ for large and small)."""
    if not math.isfinite(value):
        return MISSING if math.isnan(value) else number_text(value)
    return number_text(float(f"{value:.3g}"))


def metric(value: float) -> str:
    """A test metric to three decimals."""
    return MISSING if math.isnan(value) else f"{value:.3f}"


def spread(mean: float, sd: float) -> str:
    """``mean ± sd`` of a test metric (the mean alone where one seed leaves no sd)."""
    return metric(mean) if math.isnan(sd) else f"{metric(mean)} ± {metric(sd)}"


def duration(seconds: float) -> str:
    """Seconds as ``42 s``, ``9 min 12 s`` or ``1 h 3 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def crossing(data: dict[str, float] | None) -> Crossing | None:
    """A crossing of ``corridor.json`` (``high`` null: never reached)."""
    if data is None:
        return None
    return Crossing(data["low"], math.inf if data["high"] is None else data["high"])


def criterion_text(column: str) -> str:
    """The success criterion of a from-scratch summary column, as prose."""
    match = SCRATCH_COLUMN.fullmatch(column)
    if match is None:
        raise ValueError(f"{column}: not a from-scratch column of one release, median norm")
    return CRITERIA[match["kind"]].format(match["threshold"])


def kappa_text(label: str) -> str:
    """A κ label as prose: ``1/N`` stays, a number is written out."""
    return f"κ = {label}" if "/" in label else f"κ = {sig(float(label))}"


class Study:
    """One dataset's snapshot (``docs/snapshot/<dataset>/``), read once."""

    def __init__(self, folder: Path) -> None:
        self.dataset = folder.name
        self.summary = pd.read_csv(folder / "summary.csv").sort_values("target_epsilon")
        self.advice = pd.read_csv(folder / "advice.csv")
        self.corridor: dict[str, Any] = read_json(folder / "corridor.json")
        self.schedule: dict[str, Any] = read_json(folder / "schedule.json")
        self.run: dict[str, Any] = read_json(folder / "run.json")
        self.timings = pd.read_csv(folder / "timings.csv")
        self.main_metric = str(self.summary["main_metric"].iloc[0])

    def column(self, prefix: str) -> str | None:
        """The first summary column whose name starts with ``prefix``."""
        return next((name for name in self.summary.columns if name.startswith(prefix)), None)

    @property
    def rero_column(self) -> str:
        """The certified bound's column at the corridor's κ."""
        return f"train_rero_bound_kappa_{self.corridor['kappa_label']}"

    @property
    def scratch_column(self) -> str | None:
        """The from-scratch bound's column: one release, median image, first criterion."""
        return next((name for name in self.summary.columns if SCRATCH_COLUMN.fullmatch(name)), None)

    def non_private(self) -> pd.Series | None:
        """The non-private run's summary row, if trained."""
        rows = self.summary[self.summary["target_epsilon"] == math.inf]
        return rows.iloc[0] if len(rows) else None

    def facts(self) -> dict[str, str]:
        """Every fact of this study, by name (without the dataset prefix)."""
        facts = {
            "commit": str(self.run["commit"])[:10],
            "date": str(self.run["date"]),
            "jobs": str(self.run["jobs"]),
            "jobs_wall": duration(float(self.run["jobs_wall_seconds"])),
            "checkout": "with uncommitted changes" if self.run["uncommitted_changes"] else "clean",
            "N": f"{self.schedule['dataset_size']:,}",
            "batch_size": str(self.schedule["batch_size"]),
            "epochs": str(self.schedule["epochs"]),
            "delta": sig(float(self.schedule["delta"])),
            "steps": f"{self.schedule['steps']:,}",
            "sample_rate": sig(float(self.schedule["sample_rate"])),
            "budgets": budgets_text(list(self.summary["target_epsilon"].astype(float))),
            "seeds": str(int(self.summary["n_seeds"].max())),
            "eta": f"{self.corridor['eta']:g}",
            "main_metric": METRIC_LABELS.get(self.main_metric, self.main_metric),
            "results_table": self.results_table(),
            "corridor": self.corridor_sentence(),
            "answer": self.answer_sentence(),
            "advice_table": self.advice_table(),
            "audit_table": self.audit_table(),
            "timings_table": self.timings_table(),
        }
        facts["results"] = (
            f"One run of `{STUDIES.get(self.dataset, 'make run')}` at commit `{facts['commit']}` "
            f"({facts['checkout']}; it ended on {facts['date']}, its {facts['jobs']} jobs ran "
            f"{facts['jobs_wall']} from the first job's start to the last job's end) gave:\n\n"
            + facts["results_table"]
        )
        return facts

    def results_table(self) -> str:
        """One row per target ε: σ and its accountant, the test metrics (mean ± sd over the
        seeds), the certified bound, the from-scratch bound, the attacks."""
        metrics = (
            ["accuracy", self.main_metric] if self.main_metric == "mcc" else [self.main_metric]
        )
        header = ["target ε", "σ (accountant)"]
        header += [f"{METRIC_LABELS[name]} (mean ± sd)" for name in metrics]
        header.append(f"ReRo bound, {kappa_text(self.corridor['kappa_label'])}")
        scratch = self.scratch_column
        if scratch is not None:
            header.append(f"from-scratch bound, P({criterion_text(scratch)}), one release")
        header += [
            f"imprint attack (SSIM ≥ {self.corridor['eta']:g}) [95 % CI]",
            "prior-aware attack / its bound",
        ]
        rows = []
        for _, row in self.summary.iterrows():
            epsilon = float(row["target_epsilon"])
            accountant = str(row["accountant"])
            cells = [
                "∞ (non-private)" if math.isinf(epsilon) else number_text(epsilon),
                "0" if math.isinf(epsilon) else f"{sig(float(row['sigma']))} ({accountant})",
            ]
            cells += [
                spread(float(row[f"{name}_mean"]), float(row[f"{name}_sd"])) for name in metrics
            ]
            cells.append(sig(float(row[self.rero_column])))
            if scratch is not None:
                cells.append(sig(float(row[scratch])))
            cells.append(
                f"{sig(float(row['imprint_success_rate']))} "
                f"[{sig(float(row['imprint_ci_low']))}, {sig(float(row['imprint_ci_high']))}]"
            )
            cells.append(
                f"{sig(float(row['prior_aware_success_rate']))} / "
                f"{sig(float(row['prior_aware_run_bound']))}"
            )
            rows.append(cells)
        return table(header, rows)

    def corridor_sentence(self) -> str:
        """The corridor in one sentence: where each edge reaches its level, with its threat
        model, and the ε range between the certified bound and the measured attack."""
        level = f"{LEVEL:g}"
        parts = [
            "the certified bound on reconstruction success (an informed adversary who knows "
            f"every other record, {kappa_text(self.corridor['kappa_label'])}) reaches {level} "
            + where_text(crossing(self.corridor["identification"]))
        ]
        single = crossing(self.corridor["single_release"])
        scratch = self.scratch_column
        if single is not None and scratch is not None:
            parts.append(
                "the from-scratch bound (an attacker without a data prior inverting one release, "
                f"median image, {criterion_text(scratch)}) " + where_text(single)
            )
        attack = crossing(self.corridor["attack"])
        if attack is None:
            parts.append("the imprint attack's first success was not located")
        else:
            parts.append(
                f"the imprint attack as measured (SSIM ≥ {self.corridor['eta']:g}) first "
                "reconstructs an image " + where_text(attack)
            )
        sentence = "On the shipped data, " + ", ".join(parts[:-1]) + ", and " + parts[-1]
        identification = crossing(self.corridor["identification"])
        if attack is not None and identification is not None and identification.reached:
            sentence += self.span_clause(identification, attack)
        return sentence + "."

    @staticmethod
    def span_clause(identification: Crossing, attack: Crossing) -> str:
        """The corridor's span, where the certified bound has reached its level below the
        budgets at which the attack had no success (empty where they overlap)."""
        if attack.low <= identification.high:
            return ""
        return (
            f": a corridor from ε = {sig(identification.high)} to {sig(attack.low)} where the "
            "worst-case guarantee is gone but the real attack still fails"
        )

    def headline_row(self) -> pd.Series | None:
        """The advice row of the identification threat at the corridor's κ and
        :data:`HEADLINE_RISK`."""
        rows = self.advice[
            (self.advice["threat"] == "identification")
            & (self.advice["at_label"].astype(str) == str(self.corridor["kappa_label"]))
            & (self.advice["max_risk"] == HEADLINE_RISK)
        ]
        return rows.iloc[0] if len(rows) else None

    def answer_sentence(self) -> str:
        """What keeping the certified bound under :data:`HEADLINE_RISK` needs and costs."""
        row = self.headline_row()
        if row is None or math.isnan(float(row["epsilon"])):
            return (
                f"The certified bound cannot be kept under {HEADLINE_RISK:.0%} here "
                f"({row['utility'] if row is not None else 'no advice row at that risk'})."
            )
        label = METRIC_LABELS.get(self.main_metric, self.main_metric)
        sentence = (
            f"To keep the certified bound under {HEADLINE_RISK * 100:g} % you need σ ≥ "
            f"{sig(float(row['sigma']))}, i.e. ε ≤ {sig(float(row['epsilon']))} "
            f"({row['accountant']} accountant)"
        )
        baseline = self.non_private()
        mean = float(row["main_metric_mean"])
        if math.isnan(mean) or baseline is None:
            return sentence + f"; its {label} is not known ({row['utility']})."
        reference = float(baseline["main_metric_mean"])
        return sentence + (
            f", which costs {sig(reference - mean)} in {label}: "
            f"{spread(mean, float(row['main_metric_sd']))} ({row['utility']}) against "
            f"{metric(reference)} without privacy."
        )

    def advice_table(self) -> str:
        """The advice table: each threat model and tolerated risk, σ, ε, the bound and the
        main metric it costs."""
        label = METRIC_LABELS.get(self.main_metric, self.main_metric)
        header = ["threat model", "at", "tolerated risk", "σ", "ε (accountant)", "bound"]
        header += [f"{label} (mean ± sd)", "how"]
        rows = []
        for _, row in self.advice.iterrows():
            epsilon = float(row["epsilon"])
            mean = float(row["main_metric_mean"])
            rows.append(
                [
                    THREATS.get(str(row["threat"]), str(row["threat"])),
                    AT.get(str(row["at"]), "") + str(row["at_label"]),
                    f"{float(row['max_risk']):g}",
                    sig(float(row["sigma"])),
                    MISSING if math.isnan(epsilon) else f"{sig(epsilon)} ({row['accountant']})",
                    sig(float(row["bound"])),
                    MISSING if math.isnan(mean) else spread(mean, float(row["main_metric_sd"])),
                    str(row["utility"]),
                ]
            )
        return table(header, rows)

    def audit_table(self) -> str:
        """The audited budgets' ε estimates, each beside the plan's certified ε."""
        columns = [
            name
            for name in self.summary.columns
            if name.startswith("audit_epsilon_") and self.summary[name].notna().any()
        ]
        audited = self.summary[self.summary[columns].notna().any(axis=1)] if columns else []
        if not len(audited):
            return "No budget was audited in this run."
        rows = [
            [number_text(float(row["target_epsilon"])), sig(float(row["epsilon"]))]
            + [
                f"{sig(float(row[name]))} ({float(row[name]) / float(row['epsilon']):.2f})"
                for name in columns
            ]
            for _, row in audited.iterrows()
        ]
        header = ["target ε", "certified ε"] + [f"`{name}` (÷ certified)" for name in columns]
        return table(header, rows)

    def timings_table(self) -> str:
        """Per rule: its jobs, their seconds (shortest–longest, total) and peak memory."""
        rules = self.timings.assign(rule=self.timings["job"].str.split("/").str[0])
        rows = []
        for rule, jobs in rules.groupby("rule", sort=False):
            low, high = float(jobs["seconds"].min()), float(jobs["seconds"].max())
            spread = duration(low) if len(jobs) == 1 else f"{duration(low)} – {duration(high)}"
            rows.append(
                [
                    f"`{rule}`",
                    str(len(jobs)),
                    spread,
                    duration(float(jobs["seconds"].sum())),
                    f"{float(jobs['max_rss_mb'].max()):,.0f} MB",
                ]
            )
        return table(["rule", "jobs", "each", "together", "peak memory (RSS)"], rows)


def example_facts(folder: Path) -> dict[str, str]:
    """The documented ``advise`` example: its command and answer."""
    example = read_json(folder / "advise.json")
    answer = example["output"]
    return {
        "advise_command": "python -m rero " + " ".join(example["command"]),
        "advise_sigma": sig(float(answer["sigma"])),
        "advise_epsilon": sig(float(answer["epsilon"])),
        "advise_accountant": str(answer["accountant"]),
    }


def paper_facts(folder: Path) -> dict[str, str]:
    """The jobs the workflow plans for the paper's study, per rule (as ``check-config`` prints
    them), most first."""
    counts: dict[str, int] = read_json(folder / "jobs.json")["jobs"]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "jobs": str(sum(counts.values())),
        "job_list": ", ".join(f"{count} `{rule}`" for rule, count in ordered),
    }


def missing_study(dataset: str) -> dict[str, str]:
    """The one fact of a shipped study without a snapshot: how to add it."""
    return {
        "results": (
            "No run of this study is in the docs' snapshot yet: after "
            f"`{STUDIES[dataset]}`, `make snapshot` renders its numbers here."
        )
    }


def all_facts(snapshot: Path) -> dict[str, str]:
    """Every fact of the snapshot folder, by its full name."""
    facts = {f"example.{name}": text for name, text in example_facts(snapshot / "examples").items()}
    facts.update({f"paper.{name}": text for name, text in paper_facts(snapshot / "paper").items()})
    datasets = sorted({*STUDIES, *(path.parent.name for path in snapshot.glob("*/run.json"))})
    for dataset in datasets:
        folder = snapshot / dataset
        own = Study(folder).facts() if (folder / "run.json").is_file() else missing_study(dataset)
        facts.update({f"{dataset}.{name}": text for name, text in own.items()})
    return facts
