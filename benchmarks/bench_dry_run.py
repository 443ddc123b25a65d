"""Planning the paper's study: ``snakemake -n`` of ``workflow/configs/paper.yaml``, against a bare
Snakefile that plans the same jobs.

The paper config is pointed at generated HAM10000 and RadImageNet folders in the official layout
(as its DAG test does; 161 jobs: 100 train, 34 calibrate, 20 attack, ...). The bare Snakefile has
the same rules, wildcards and job counts, each rule a ``touch``, and nothing else: no config
validation, no input functions, no code inputs. Both run side by side, interleaved round by
round, with the SLURM profile, in fresh processes. Prints the medians, their ratio and the target
(rero <= 5 s).

Snakemake imports every installed executor plugin at start; the SLURM plugin runs ``scontrol
show config`` then, which waits ~9 s when ``scontrol`` is installed but no controller answers.
Run it where SLURM answers (a cluster's login node, or after ``bash scripts/slurm_up.sh``).

Usage: .venv/bin/python benchmarks/bench_dry_run.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_paper_config import paper_config  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGET_S = 5.0

BARE_SNAKEFILE = """
DATASETS = ["ham10000", "radimagenet"]
EPS = ["1", "8", "32", "1e3", "1e6", "1e9", "1e12", "1e15", "1e18", "inf"]
SEEDS = ["10", "11", "100", "101", "110"]
BOUND_EPS = EPS + ["2", "4", "16", "64", "128", "256", "1e4"]  # the default bounds.extra_eps

rule all:
    input: "results/summary.csv", "results/figures/done"

rule prepare_data:
    output: "results/data/{dataset}/meta.json"
    shell: "touch {output}"

rule calibrate:
    input: "results/data/{dataset}/meta.json"
    output: "results/privacy/{dataset}/eps_{eps}.json"
    shell: "touch {output}"

rule train:
    input: "results/privacy/{dataset}/eps_{eps}.json"
    output: "results/train/{dataset}/eps_{eps}/seed_{seed}/metrics.json"
    shell: "touch {output}"

rule bounds:
    input: expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=BOUND_EPS)
    output: "results/bounds/{dataset}.csv"
    shell: "touch {output}"

rule attack:
    input: "results/privacy/{dataset}/eps_{eps}.json"
    output: "results/attack/{dataset}/eps_{eps}/imprint.json"
    shell: "touch {output}"

rule aggregate:
    input:
        expand("results/train/{dataset}/eps_{eps}/seed_{seed}/metrics.json",
               dataset=DATASETS, eps=EPS, seed=SEEDS),
        expand("results/attack/{dataset}/eps_{eps}/imprint.json", dataset=DATASETS, eps=EPS),
        expand("results/bounds/{dataset}.csv", dataset=DATASETS),
    output: "results/summary.csv"
    shell: "touch {output}"

rule figures:
    input: "results/summary.csv"
    output: "results/figures/done"
    shell: "touch {output}"
"""


def dry_run_seconds(snakefile: Path, workdir: Path, *extra: str) -> float:
    """Wall time of one ``snakemake -n`` in a fresh process (it must succeed)."""
    command = [SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir)]
    command += ["--dry-run", "--quiet", "--cores", "1", *extra]
    command += ["--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm")]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        study, bare = root / "study", root / "bare"
        study.mkdir()
        bare.mkdir()
        (study / "paper.yaml").write_text(yaml.safe_dump(paper_config(root)))
        (bare / "Snakefile").write_text(BARE_SNAKEFILE)
        times: dict[str, list[float]] = {"rero, paper config": [], "bare Snakefile": []}
        for _ in range(rounds):
            times["rero, paper config"].append(
                dry_run_seconds(
                    REPO / "Snakefile", study, "--configfile", str(study / "paper.yaml")
                )
            )
            times["bare Snakefile"].append(dry_run_seconds(bare / "Snakefile", bare))
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"snakemake -n, 161 jobs, median of {rounds} rounds, SLURM profile")
    for label, median in medians.items():
        print(f"  {label:20s} {median:6.2f} s")
    ratio = medians["rero, paper config"] / medians["bare Snakefile"]
    verdict = "meets" if medians["rero, paper config"] <= TARGET_S else "misses"
    print(f"  ratio rero / bare    {ratio:6.2f}x   ({verdict} the target of {TARGET_S:.0f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
