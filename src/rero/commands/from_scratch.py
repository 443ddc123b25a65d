"""``python -m rero from-scratch``: the from-scratch bound of a dataset's privacy plans over the
images of its training split (Riess et al. 2024; :mod:`rero.privacy.rero.from_scratch_table`),
as a CSV; the time the curves take over every image is logged."""

from __future__ import annotations

import argparse
import time

from rero.data.store import load_split
from rero.privacy.plan import read_plan
from rero.privacy.rero.from_scratch_table import (
    ScratchCriterion,
    from_scratch_table,
    split_norms,
    unique_criteria,
)
from rero.runtime.io import atomic_path


def run_from_scratch(args: argparse.Namespace) -> None:
    """Write the from-scratch bound table of the given plans (atomically)."""
    criteria = unique_criteria(args.criterion)
    plans = [read_plan(path) for path in args.plans]
    images, _ = load_split(args.data_dir, "train")
    norms, dimension = split_norms(images)
    start = time.perf_counter()
    table = from_scratch_table(plans, norms, dimension, criteria, args.clip_norm)
    seconds = time.perf_counter() - start
    print(
        f"from-scratch curves: {len(plans)} budgets x {len(norms)} training images (N = "
        f"{dimension}) x {len(criteria)} criteria in {seconds:.3f} s"
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(table)} rows")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``from-scratch`` subcommand."""
    parser = subparsers.add_parser(
        "from-scratch",
        help="the from-scratch reconstruction bound per plan, criterion and norm, as a CSV",
    )
    parser.add_argument("--plans", nargs="+", required=True, help="the dataset's plan .json files")
    parser.add_argument(
        "--data-dir", required=True, help="prepared dataset folder (its train split)"
    )
    parser.add_argument(
        "--criterion",
        type=ScratchCriterion.parse,
        action="append",
        required=True,
        help="success: psnr:<dB> (PSNR >= it, data range 1) or mse:<eta> (MSE <= it); repeatable",
    )
    parser.add_argument(
        "--clip-norm",
        type=float,
        required=True,
        help="the training's clip norm C (clipping_active)",
    )
    parser.add_argument("--out", required=True, help="CSV to write (atomically)")
    parser.set_defaults(handler=run_from_scratch)
