"""``python -m rero docs``: render the docs' generated pages (the README, the pages of
``docs/templates/`` and the configuration reference) from the committed snapshot and the schema;
``--check`` fails naming each page that is not what rendering gives. ``snapshot``: copy a finished
run's numbers from ``results/`` into ``docs/snapshot/``, record the documented ``advise`` example
and render the docs. ``compare-summary``: a run's ``summary.csv`` against the snapshot's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from rero.reporting.docs.render import SNAPSHOT, stale_pages, write_pages
from rero.reporting.docs.snapshot import summary_differences, take_snapshot
from rero.runtime.io import write_json

#: the ``advise`` example the docs show, run by ``snapshot`` for its answer
ADVISE_EXAMPLE = [
    "advise",
    "--sample-rate",
    "0.005",
    "--steps",
    "1000",
    "--delta",
    "1e-5",
    "--kappa",
    "0.01",
    "--max-risk",
    "0.05",
]
#: relative tolerance of ``compare-summary``: the default study is deterministic on a CPU (two
#: runs of one commit here gave byte-identical tables); 1e-6 leaves room for the last bits a
#: different vector unit may round otherwise (FFTs of the accountants), while every number the
#: docs show, at 3 or 4 significant digits, must stay as rendered
RTOL = 1e-6


def run_docs(args: argparse.Namespace) -> None:
    """Render the generated pages, or check that the committed ones are current."""
    if args.check:
        stale = stale_pages(args.repo)
        if stale:
            names = ", ".join(str(path.relative_to(args.repo)) for path in stale)
            raise ValueError(f"not what the snapshot and schema render: {names}; run make docs")
        print("every generated page is current")
        return
    for path in write_pages(args.repo):
        print(f"rendered {path.relative_to(args.repo)}")


def run_snapshot(args: argparse.Namespace) -> None:
    """Copy the run's numbers into the snapshot, record the advise example, render the docs."""
    out = args.repo / SNAPSHOT
    for dataset in take_snapshot(args.results, out):
        print(f"snapshot of {dataset}: {out / dataset}")
    answer = subprocess.run(
        [sys.executable, "-m", "rero", *ADVISE_EXAMPLE],
        capture_output=True,
        text=True,
        check=True,
    )
    example = {"command": ADVISE_EXAMPLE, "output": json.loads(answer.stdout)}
    write_json(out / "examples" / "advise.json", example)
    for path in write_pages(args.repo):
        print(f"rendered {path.relative_to(args.repo)}")


def run_compare_summary(args: argparse.Namespace) -> None:
    """Fail naming every difference of the run's summary from the snapshot's."""
    problems = summary_differences(args.summary, args.snapshot, args.rtol)
    if problems:
        shown = "\n  ".join(problems[:40])
        raise ValueError(
            f"{args.summary} differs from {args.snapshot} in {len(problems)} place(s) "
            f"(relative tolerance {args.rtol:g}):\n  {shown}\nA change that moves a number "
            "refreshes the snapshot in the same commit: make run, then make snapshot."
        )
    print(f"{args.summary} matches {args.snapshot} (relative tolerance {args.rtol:g})")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``docs``, ``snapshot`` and ``compare-summary`` subcommands."""
    docs = subparsers.add_parser(
        "docs", help="render the docs' generated pages from the snapshot", description=__doc__
    )
    docs.add_argument("--repo", type=Path, default=Path("."), help="the rero checkout")
    docs.add_argument("--check", action="store_true", help="fail if a page is not current")
    docs.set_defaults(handler=run_docs)
    snapshot = subparsers.add_parser(
        "snapshot", help="copy a finished run's numbers into docs/snapshot/, render the docs"
    )
    snapshot.add_argument("--results", type=Path, default=Path("results"), help="the run")
    snapshot.add_argument("--repo", type=Path, default=Path("."), help="the rero checkout")
    snapshot.set_defaults(handler=run_snapshot)
    compare = subparsers.add_parser(
        "compare-summary", help="a run's summary.csv against the snapshot's"
    )
    compare.add_argument("summary", type=Path, help="the run's summary.csv")
    compare.add_argument("snapshot", type=Path, help="the snapshot's summary.csv")
    compare.add_argument("--rtol", type=float, default=RTOL, help="relative tolerance")
    compare.set_defaults(handler=run_compare_summary)
