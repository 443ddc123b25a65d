"""The flags of a DP-SGD schedule, shared by ``calibrate``, ``translate`` and ``advise``: δ, and q
and T given directly or derived from a prepared dataset, its batch size and epochs."""

from __future__ import annotations

import argparse
from typing import Any

from rero.data.prepare import read_meta
from rero.privacy.accounting.base import sampling_schedule


def add_schedule_flags(parser: argparse.ArgumentParser) -> None:
    """δ and the schedule flags: --sample-rate and --steps, or --data-dir with --batch-size and
    --epochs (read by :func:`schedule_from_args`)."""
    parser.add_argument("--delta", required=True, type=float, help="δ (must be < 1/N)")
    parser.add_argument("--sample-rate", type=float, help="Poisson sampling rate q")
    parser.add_argument("--steps", type=int, help="number of DP-SGD steps T")
    parser.add_argument(
        "--data-dir", help="prepared dataset folder (its meta.json gives the name and N)"
    )
    parser.add_argument("--batch-size", type=int, help="expected batch size B (with --data-dir)")
    parser.add_argument("--epochs", type=int, help="training epochs (with --data-dir)")


def schedule_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """q and T (plus the dataset, N, B, epochs in the workflow form) from the flags."""
    direct = (args.sample_rate, args.steps)
    workflow = (args.data_dir, args.batch_size, args.epochs)
    if all(value is not None for value in direct) and all(value is None for value in workflow):
        return {"sample_rate": args.sample_rate, "steps": args.steps}
    if all(value is not None for value in workflow) and all(value is None for value in direct):
        meta = read_meta(args.data_dir)
        num_train = meta["num_train"]
        if isinstance(num_train, bool) or not isinstance(num_train, int) or num_train < 1:
            raise ValueError(
                f"{args.data_dir}/meta.json: 'num_train' must be a positive integer, "
                f"got {num_train!r}"
            )
        sample_rate, steps = sampling_schedule(num_train, args.batch_size, args.epochs)
        return {
            "sample_rate": sample_rate,
            "steps": steps,
            "dataset": meta["dataset"],
            "dataset_size": num_train,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
        }
    raise ValueError(
        "give either --sample-rate and --steps, or --data-dir with --batch-size and --epochs"
    )
