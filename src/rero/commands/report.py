"""``aggregate`` (the summary table) and ``figures``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rero import figures
from rero.io import atomic_path
from rero.summary import summarise


def run_aggregate(args: argparse.Namespace) -> None:
    """Build the summary table from the per-job outputs and write it as CSV."""
    table = summarise(
        args.metrics,
        args.plans,
        args.bounds,
        args.imprint,
        args.prior_aware,
        args.membership,
        args.transitions,
        args.audits,
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


def run_figures(args: argparse.Namespace) -> None:
    """Draw every figure of the study into --out-dir, as PNG and PDF."""
    figures.draw_all(
        args.summary, args.metrics, args.bounds, args.recon, args.imprint, Path(args.out_dir)
    )
    print(f"figures written to {args.out_dir}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``aggregate`` and ``figures`` subcommands."""
    aggregate = subparsers.add_parser("aggregate", help="one summary row per dataset and ε")
    aggregate.add_argument(
        "--metrics", nargs="+", required=True, help="training metrics.json files"
    )
    aggregate.add_argument("--plans", nargs="+", required=True, help="privacy plan .json files")
    aggregate.add_argument("--bounds", nargs="*", default=[], help="bounds .csv files")
    aggregate.add_argument(
        "--membership", nargs="*", default=[], help="membership-inference bounds .csv files"
    )
    aggregate.add_argument(
        "--transitions", nargs="*", default=[], help="imprint transition.json files"
    )
    aggregate.add_argument("--imprint", nargs="*", default=[], help="imprint.json files")
    aggregate.add_argument("--prior-aware", nargs="*", default=[], help="prior_aware.json files")
    aggregate.add_argument("--audits", nargs="*", default=[], help="audit .json files")
    aggregate.add_argument("--out", required=True, help="summary .csv to write")
    aggregate.set_defaults(handler=run_aggregate)

    draw = subparsers.add_parser("figures", help="the study's figures as PNG and PDF")
    draw.add_argument("--summary", required=True, help="summary.csv from `aggregate`")
    draw.add_argument("--metrics", nargs="+", required=True, help="training metrics.json files")
    draw.add_argument("--bounds", nargs="+", required=True, help="bounds .csv files")
    draw.add_argument("--recon", nargs="+", required=True, help="attack recon.npz files")
    draw.add_argument(
        "--imprint",
        nargs="+",
        required=True,
        help="imprint.json files of every budget attacked (they state the SSIM threshold η)",
    )
    draw.add_argument("--out-dir", required=True, help="folder for the PNG and PDF files")
    draw.set_defaults(handler=run_figures)
