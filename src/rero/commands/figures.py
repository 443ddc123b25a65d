"""``python -m rero figures``: the study's figures as PNG and PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from rero.reporting.figures.draw import draw_all


def run_figures(args: argparse.Namespace) -> None:
    """Draw every figure of the study into --out-dir, as PNG and PDF."""
    draw_all(
        args.summary,
        args.metrics,
        args.bounds,
        args.recon,
        args.imprint,
        Path(args.out_dir),
        args.from_scratch,
    )
    print(f"figures written to {args.out_dir}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``figures`` subcommand."""
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
    draw.add_argument(
        "--from-scratch",
        nargs="*",
        default=[],
        help="from-scratch bound .csv files (bounds/<dataset>_from_scratch.csv); without them "
        "the risk figure draws no from-scratch bound",
    )
    draw.add_argument("--out-dir", required=True, help="folder for the PNG and PDF files")
    draw.set_defaults(handler=run_figures)
