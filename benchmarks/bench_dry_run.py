"""Planning the paper's study: ``snakemake -n`` of ``workflow/configs/paper.yaml``, against a bare
Snakefile that plans the same jobs.

The paper config's three datasets are pointed at generated HAM10000, RadImageNet and MSD Liver
folders in the official layouts, as its DAG test does (``paper_config`` of
``tests/helpers/paper.py``): 273 jobs, 150 train, 51 calibrate and 51 attack (3
datasets x 17 budgets: the ε grid's 10 and 7 more of ``bounds.extra_eps``), 3 prepare, 3
translate, 3 bounds, 3 transition, 3 advise, and the study's one aggregate, figures,
report_pages, provenance, results_readme and all. The bare Snakefile has the same rules,
wildcards and job counts, its dataset, ε and seed lists taken from the paper config (schema
defaults filled), each rule a ``touch`` and nothing else: no config validation, no input
functions, no code inputs. Both job tables are read from the dry runs and must agree rule by rule
(else the script stops: the bare Snakefile no longer mirrors the workflow). Both run side by side,
interleaved round by round, with the SLURM profile, in fresh processes that print only their job
tables (``--quiet rules host``). Prints the job count, the medians, their ratio and the target
(rero <= 5 s). ``--quick`` runs one round.

Snakemake imports every installed executor plugin at start; the SLURM plugin runs ``scontrol
show config`` then, which waits ~9 s when ``scontrol`` is installed but no controller answers.
Run it where SLURM answers (a cluster's login node, or after ``bash scripts/slurm_up.sh``).

Usage: .venv/bin/python benchmarks/bench_dry_run.py [ROUNDS] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from study_settings import REPO, SCHEMA

sys.path.insert(0, str(REPO))

from rero.data.registry import LOADERS
from rero.study.config import fill_defaults, load_schema
from rero.study.tokens import audited_eps_tokens, eps_tokens, merged_eps_tokens
from tests.helpers.paper import paper_config
from tests.helpers.workflow import planned_jobs

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGET_S = 5.0

BARE_SNAKEFILE = """
CLASSIFICATION = {classification}
SEGMENTATION = {segmentation}
DATASETS = CLASSIFICATION + SEGMENTATION
EPS = {eps}
SEEDS = {seeds}
BOUND_EPS = {bound_eps}
AUDIT_EPS = {audit_eps}

wildcard_constraints:
    dataset="|".join(DATASETS),
    seed=r"\\d+",

rule all:
    input:
        "results/summary.csv",
        "results/README.md",
        "results/report/provenance.html",
        "results/report/pages.done",
        "results/figures/done",
        expand("results/advice/{{dataset}}.csv", dataset=DATASETS),
        expand("results/privacy/{{dataset}}/translation.csv", dataset=DATASETS),

rule prepare_data:
    output: "results/data/{{dataset}}/meta.json"
    wildcard_constraints: dataset="|".join(CLASSIFICATION) or "(?!)"
    shell: "touch {{output}}"

rule prepare_segmentation_data:
    output: "results/data/{{dataset}}/meta.json"
    wildcard_constraints: dataset="|".join(SEGMENTATION) or "(?!)"
    shell: "touch {{output}}"

rule calibrate:
    input: "results/data/{{dataset}}/meta.json"
    output: "results/privacy/{{dataset}}/eps_{{eps}}.json"
    shell: "touch {{output}}"

rule translate:
    input: "results/data/{{dataset}}/meta.json"
    output: "results/privacy/{{dataset}}/translation.csv"
    shell: "touch {{output}}"

rule train:
    input: "results/data/{{dataset}}/meta.json", "results/privacy/{{dataset}}/eps_{{eps}}.json"
    output: "results/train/{{dataset}}/eps_{{eps}}/seed_{{seed}}/metrics.json"
    shell: "touch {{output}}"

rule bounds:
    input: expand("results/privacy/{{{{dataset}}}}/eps_{{eps}}.json", eps=BOUND_EPS)
    output: "results/bounds/{{dataset}}.csv"
    shell: "touch {{output}}"

rule attack:
    input: "results/data/{{dataset}}/meta.json", "results/privacy/{{dataset}}/eps_{{eps}}.json"
    output: "results/attack/{{dataset}}/eps_{{eps}}/imprint.json"
    shell: "touch {{output}}"

rule transition:
    input: expand("results/attack/{{{{dataset}}}}/eps_{{eps}}/imprint.json", eps=BOUND_EPS)
    output: "results/attack/{{dataset}}/transition.json"
    shell: "touch {{output}}"

rule advise:
    input:
        expand("results/train/{{{{dataset}}}}/eps_{{eps}}/seed_{{seed}}/metrics.json",
               eps=EPS, seed=SEEDS)
    output: "results/advice/{{dataset}}.csv"
    shell: "touch {{output}}"

rule audit:
    input: "results/privacy/{{dataset}}/eps_{{eps}}.json"
    output: "results/audit/{{dataset}}/eps_{{eps}}.json"
    shell: "touch {{output}}"

rule aggregate:
    input:
        expand("results/train/{{dataset}}/eps_{{eps}}/seed_{{seed}}/metrics.json",
               dataset=DATASETS, eps=EPS, seed=SEEDS),
        expand("results/bounds/{{dataset}}.csv", dataset=DATASETS),
        expand("results/attack/{{dataset}}/transition.json", dataset=DATASETS),
        expand("results/audit/{{dataset}}/eps_{{eps}}.json", dataset=DATASETS, eps=AUDIT_EPS),
    output: "results/summary.csv"
    shell: "touch {{output}}"

rule figures:
    input: "results/summary.csv"
    output: "results/figures/done"
    shell: "touch {{output}}"

rule report_pages:
    input: "results/summary.csv", expand("results/advice/{{dataset}}.csv", dataset=DATASETS)
    output: "results/report/pages.done"
    shell: "touch {{output}}"

rule provenance:
    output: "results/report/provenance.html"
    shell: "touch {{output}}"

rule results_readme:
    input: "results/summary.csv"
    output: "results/README.md"
    shell: "touch {{output}}"
"""


def bare_snakefile(config: dict[str, Any]) -> str:
    """The bare Snakefile with the dataset, ε and seed lists of ``config`` (as ``common.smk``
    derives them, after the schema's defaults)."""
    filled = yaml.safe_load(yaml.safe_dump(config))
    fill_defaults(filled, load_schema(SCHEMA))
    eps = eps_tokens(filled["eps"])
    tasks = {name: LOADERS[entry["loader"]].task for name, entry in filled["datasets"].items()}
    return BARE_SNAKEFILE.format(
        classification=[name for name, task in tasks.items() if task != "segmentation"],
        segmentation=[name for name, task in tasks.items() if task == "segmentation"],
        eps=eps,
        seeds=[str(seed) for seed in filled["seeds"]],
        bound_eps=merged_eps_tokens(eps, filled["bounds"]["extra_eps"]),
        audit_eps=audited_eps_tokens(eps, filled["audit"]["eps"]),
    )


def dry_run(snakefile: Path, workdir: Path, *extra: str) -> tuple[float, dict[str, int]]:
    """Wall time of one ``snakemake -n`` in a fresh process (it must succeed), and its jobs (the
    job table is all it prints)."""
    command = [SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--dry-run", "--quiet", "rules", "host", "--cores", "1", *extra]
    command += ["--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm")]
    start = time.perf_counter()
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, planned_jobs(result)


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        study, bare = root / "study", root / "bare"
        study.mkdir()
        bare.mkdir()
        config = paper_config(root)
        (study / "paper.yaml").write_text(yaml.safe_dump(config))
        (bare / "Snakefile").write_text(bare_snakefile(config))
        runs = {
            "rero, paper config": (
                REPO / "Snakefile",
                study,
                "--configfile",
                str(study / "paper.yaml"),
            ),
            "bare Snakefile": (bare / "Snakefile", bare),
        }
        times: dict[str, list[float]] = {label: [] for label in runs}
        jobs: dict[str, dict[str, int]] = {}
        for _ in range(rounds):
            for label, arguments in runs.items():
                seconds, jobs[label] = dry_run(*arguments)
                times[label].append(seconds)
    study_jobs, bare_jobs = jobs.values()
    if study_jobs != bare_jobs:
        differing = sorted(
            rule
            for rule in study_jobs.keys() | bare_jobs.keys()
            if study_jobs.get(rule) != bare_jobs.get(rule)
        )
        counts = [f"{r} ({study_jobs.get(r, 0)} vs {bare_jobs.get(r, 0)})" for r in differing]
        raise SystemExit(
            "the bare Snakefile no longer plans the workflow's jobs; rules that differ (rero vs "
            f"bare): {', '.join(counts)}"
        )
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(
        f"snakemake -n, {sum(study_jobs.values())} jobs in each, median of {rounds} rounds, "
        "SLURM profile"
    )
    for label, median in medians.items():
        print(f"  {label:20s} {median:6.2f} s")
    ratio = medians["rero, paper config"] / medians["bare Snakefile"]
    verdict = "meets" if medians["rero, paper config"] <= TARGET_S else "misses"
    print(f"  ratio rero / bare    {ratio:6.2f}x   ({verdict} the target of {TARGET_S:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=5, help="default 5")
    parser.add_argument("--quick", action="store_true", help="one round")
    arguments = parser.parse_args()
    main(1 if arguments.quick else arguments.rounds)
