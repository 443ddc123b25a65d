"""``python -m rero calibrate``: the privacy plan (σ for a target ε) as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from rero.config_tokens import parse_eps_token
from rero.data import read_meta
from rero.io import dumps_json
from rero.privacy.accounting import ACCOUNTANTS
from rero.privacy.calibration import calibrate
from rero.privacy.plan import sampling_schedule, write_plan


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand."""
    parser = subparsers.add_parser(
        "calibrate",
        help="noise multiplier σ for a target ε (the privacy plan)",
        description=(
            "Calibrate the DP-SGD noise multiplier so that the achieved ε (an accountant's upper "
            "bound) is at most the target and within --rel-tol of it. Give the schedule either "
            "as --sample-rate and --steps, or as --data-dir (its meta.json gives N) with "
            "--batch-size and --epochs (q = B/N, T = epochs * ceil(N/B)). Prints the plan as JSON."
        ),
    )
    parser.add_argument("--eps", required=True, help="target ε: a positive number or 'inf'")
    add_schedule_flags(parser)
    parser.add_argument("--accountant", choices=ACCOUNTANTS, default="auto")
    parser.add_argument("--rel-tol", type=float, default=0.01, help="ε ≥ (1 - rel_tol)·target")
    parser.add_argument("--out", help="also write the plan to this JSON file (atomically)")
    parser.set_defaults(handler=run_calibrate)


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


def run_calibrate(args: argparse.Namespace) -> None:
    """Calibrate σ, print the plan and write it to --out if given."""
    plan = calibrate(
        parse_eps_token(args.eps),
        delta=args.delta,
        accountant=args.accountant,
        rel_tol=args.rel_tol,
        **schedule_from_args(args),
    )
    if args.out:
        write_plan(args.out, plan)
    print(dumps_json(plan.to_dict()))
