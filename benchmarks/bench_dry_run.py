"""Planning the paper's study at RadImageNet's size: ``snakemake -n`` of
``workflow/configs/paper.yaml`` with RadImageNet split CSVs of 1.35 M rows, against a bare
Snakefile that plans the same jobs, and ``python -m rero check-config`` of the same study.

The paper config's three datasets are pointed at generated HAM10000, RadImageNet and MSD Liver
folders in the official layouts, as its DAG test does (``paper_config`` of
``tests/helpers/paper.py``); RadImageNet's CSVs are then replaced by CSVs of 1.08 M / 135 k /
135 k rows and every image they list is written, as a hard link to one small PNG per class folder
(``tests/helpers/index_files.py``), so the file check before any job passes; its training and
attack settings are the paper's again. The bare
Snakefile has the same rules, wildcards and job counts, its dataset, ε and seed lists taken from
the paper config (schema defaults filled), each rule a ``touch`` and nothing else: no config
validation, no input functions, no code inputs. Both job tables are read from the dry runs and
must agree rule by rule, and with the table ``check-config`` prints (else the script stops). The
first dry run of the study (once the generated files are older than the cache's settling time)
reads the CSVs, checks the images and fills the planning cache (``.snakemake/rero/planning/``,
``rero.data.planning_cache``); the rounds after it are timed
side by side, interleaved round by round, with the SLURM profile, in fresh processes that print
only their job tables (``--quiet rules host``). Prints the first run's time, the job count, the
medians, their ratio and the target (rero <= 5 s), then ``check-config``'s time and output.
``--quick``: one round, CSVs of a tenth of the rows.

Snakemake imports every installed executor plugin at start; the SLURM plugin runs ``scontrol
show config`` then, which waits ~10 s when ``scontrol`` is installed but no controller answers.
Run it where SLURM answers (a cluster's login node, or after ``bash scripts/slurm_up.sh``), or
give ``--stub-scontrol``: every command then finds a ``scontrol`` that fails at once first on its
PATH, so that wait (the same in every process) is not timed.

Usage: .venv/bin/python benchmarks/bench_dry_run.py [ROUNDS] [--quick] [--stub-scontrol]
"""

from __future__ import annotations

import argparse
import os
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

from rero.data.file_hashes import SETTLE_SECONDS
from rero.data.registry import LOADERS
from rero.study.config import fill_defaults, load_schema
from rero.study.planned_jobs import job_table
from rero.study.tokens import audited_eps_tokens, eps_tokens, merged_eps_tokens
from tests.helpers.index_files import PAPER_ROWS, write_radimagenet_csvs, write_radimagenet_images
from tests.helpers.paper import PAPER_CONFIG, paper_config
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

rule from_scratch:
    input:
        "results/data/{{dataset}}/meta.json",
        expand("results/privacy/{{{{dataset}}}}/eps_{{eps}}.json", eps=BOUND_EPS)
    output: "results/bounds/{{dataset}}_from_scratch.csv"
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
               eps=EPS, seed=SEEDS),
        "results/bounds/{{dataset}}_from_scratch.csv"
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
        expand("results/bounds/{{dataset}}_from_scratch.csv", dataset=DATASETS),
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


def dry_run(
    snakefile: Path, workdir: Path, env: dict[str, str], *extra: str
) -> tuple[float, dict[str, int]]:
    """Wall time of one ``snakemake -n`` in a fresh process (it must succeed), and its jobs (the
    job table is all it prints)."""
    command = [SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--dry-run", "--quiet", "rules", "host", "--cores", "1", *extra]
    command += ["--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm")]
    start = time.perf_counter()
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, planned_jobs(result)


def paper_scale_config(root: Path, rows: dict[str, int]) -> dict[str, Any]:
    """The paper config on generated data, RadImageNet with CSVs of ``rows`` and the paper's
    own RadImageNet settings (batch 3,328, imprint batches of 128 with 256 bins)."""
    config = paper_config(root)
    radimagenet = config["datasets"]["radimagenet"]
    write_radimagenet_csvs(Path(radimagenet["options"]["root"]), rows)
    write_radimagenet_images(Path(radimagenet["options"]["root"]), rows)
    shipped = yaml.safe_load(PAPER_CONFIG.read_text())["datasets"]["radimagenet"]
    radimagenet.update(training=shipped["training"], attack=shipped["attack"])
    return config


def check_config(study: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall time and output of ``python -m rero check-config paper.yaml`` in ``study``."""
    command = [sys.executable, "-m", "rero", "check-config", "paper.yaml"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=study, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, result.stdout


def command_env(root: Path, stub_scontrol: bool) -> dict[str, str]:
    """The environment of the timed commands: this checkout's ``src/`` first on PYTHONPATH and,
    with ``stub_scontrol``, a ``scontrol`` that fails at once first on PATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    if stub_scontrol:
        stub = root / "stub"
        stub.mkdir()
        (stub / "scontrol").write_text("#!/bin/sh\nexit 1\n")
        (stub / "scontrol").chmod(0o755)
        env["PATH"] = os.pathsep.join([str(stub), env["PATH"]])
    return env


def table_jobs(check_output: str) -> dict[str, int]:
    """Rule → jobs of the table ``check-config`` prints (its total left out)."""
    table = check_output.split("by rule:\n", 1)[1].splitlines()
    counts = {rule: int(jobs) for rule, jobs in map(str.split, table)}
    counts.pop("total")
    return counts


def main(rounds: int, rows: dict[str, int], stub_scontrol: bool) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        study, bare = root / "study", root / "bare"
        study.mkdir()
        bare.mkdir()
        env = command_env(root, stub_scontrol)
        config = paper_scale_config(root, rows)
        (study / "paper.yaml").write_text(yaml.safe_dump(config))
        (bare / "Snakefile").write_text(bare_snakefile(config))
        runs = {
            "rero, paper config": (
                REPO / "Snakefile",
                study,
                env,
                "--configfile",
                str(study / "paper.yaml"),
            ),
            "bare Snakefile": (bare / "Snakefile", bare, env),
        }
        time.sleep(SETTLE_SECONDS)  # files changed since are not cached: a download is older
        first, _ = dry_run(*runs["rero, paper config"])
        times: dict[str, list[float]] = {label: [] for label in runs}
        jobs: dict[str, dict[str, int]] = {}
        for _ in range(rounds):
            for label, arguments in runs.items():
                seconds, jobs[label] = dry_run(*arguments)
                times[label].append(seconds)
        check_seconds, check_output = check_config(study, env)
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
    if table_jobs(check_output) != study_jobs:
        raise SystemExit(f"check-config's job table differs from the dry run's:\n{check_output}")
    medians = {label: statistics.median(values) for label, values in times.items()}
    scontrol = "scontrol stubbed" if stub_scontrol else "scontrol as installed"
    print(
        f"snakemake -n of the paper config, RadImageNet CSVs of {sum(rows.values()):,} rows, "
        f"SLURM profile, {scontrol}; {os.cpu_count()} cores, load average (1 min) "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"  first run (reads the CSVs, checks the images, fills the cache) {first:6.2f} s")
    print(f"  then {sum(study_jobs.values())} jobs in each, median of {rounds} rounds:")
    for label, median in medians.items():
        print(f"  {label:20s} {median:6.2f} s")
    ratio = medians["rero, paper config"] / medians["bare Snakefile"]
    verdict = "meets" if medians["rero, paper config"] <= TARGET_S else "misses"
    print(f"  ratio rero / bare    {ratio:6.2f}x   ({verdict} the target of {TARGET_S:.0f} s)")
    print(f"python -m rero check-config paper.yaml: {check_seconds:.2f} s, printing")
    print(check_output.rstrip())
    print(f"(its job table agrees with the dry run's:\n{job_table(study_jobs)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=5, help="default 5")
    parser.add_argument("--quick", action="store_true", help="one round, a tenth of the rows")
    parser.add_argument(
        "--stub-scontrol",
        action="store_true",
        help="a failing scontrol first on PATH (where scontrol is installed but no SLURM answers)",
    )
    arguments = parser.parse_args()
    quick = arguments.quick
    main(
        1 if quick else arguments.rounds,
        {split: count // 10 for split, count in PAPER_ROWS.items()} if quick else PAPER_ROWS,
        arguments.stub_scontrol,
    )
