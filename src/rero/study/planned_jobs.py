"""The jobs the workflow plans for a study, counted from Snakemake's own DAG (``snakemake
--d3dag --forceall``: every job of the study, as if none had run), so a count printed here is
the count a run schedules, never a second computation beside the rules."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import rero

SNAKEFILE = Path(rero.__file__).resolve().parents[2] / "Snakefile"


def dag_command(configfiles: Sequence[Path], snakefile: Path = SNAKEFILE) -> list[str]:
    """The Snakemake command that prints the study's whole DAG as JSON (no job runs; no
    workflow profile: resources do not change which jobs there are)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--configfile",
        *map(str, configfiles),
        "--forceall",
        "--d3dag",
        "--workflow-profile",
        "none",
        "--cores",
        "1",
    ]


def rule_counts(dag_json: str) -> dict[str, int]:
    """Rule → jobs of the DAG that ``snakemake --d3dag`` printed, sorted by rule."""
    try:
        nodes = json.loads(dag_json)["nodes"]
        counts = Counter(node["value"]["rule"] for node in nodes)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"snakemake --d3dag printed no DAG ({error}): {dag_json[-500:]!r}"
        ) from error
    return dict(sorted(counts.items()))


def planned_jobs(
    configfiles: Sequence[Path], directory: Path | None = None, snakefile: Path = SNAKEFILE
) -> dict[str, int]:
    """Rule → jobs the workflow plans for the study of ``configfiles`` (merged in order, as
    ``--configfile`` merges them), planned in ``directory`` (default: here) as a run there
    would plan it. Snakemake's error, when planning fails, is the ValueError's message."""
    result = subprocess.run(
        dag_command(configfiles, snakefile), cwd=directory, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ValueError(f"snakemake could not plan the study: {result.stderr.strip()[-2000:]}")
    return rule_counts(result.stdout)


def job_table(counts: dict[str, int]) -> str:
    """The counts as lines ``  <rule> <jobs>``, then the total."""
    width = max(map(len, [*counts, "total"]))
    lines = [f"  {rule:<{width}} {jobs:>5}" for rule, jobs in counts.items()]
    return "\n".join([*lines, f"  {'total':<{width}} {sum(counts.values()):>5}"])
