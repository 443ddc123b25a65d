"""``python -m rero calibrate``: the privacy plan (σ for a target ε) as JSON."""

from __future__ import annotations

import argparse

from rero.commands.schedule_flags import add_schedule_flags, schedule_from_args
from rero.privacy.accounting.registry import ACCOUNTANTS
from rero.privacy.calibration import calibrate
from rero.privacy.plan import write_plan
from rero.runtime.io import dumps_json
from rero.study.tokens import parse_eps_token


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
