"""``python -m rero translate``: the tight ε of the σ that RDP calibration gives per budget."""

from __future__ import annotations

import argparse

import pandas as pd

from rero.commands.schedule_flags import add_schedule_flags, schedule_from_args
from rero.privacy.translation import translate_budgets
from rero.runtime.io import atomic_path
from rero.study.tokens import parse_eps_token

COLUMNS = (
    "target_epsilon",
    "rdp_sigma",
    "rdp_epsilon",
    "tight_epsilon",
    "tight_epsilon_lower",
    "tight_accountant",
    "rdp_overstatement",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``translate`` subcommand."""
    parser = subparsers.add_parser(
        "translate",
        help="the tight ε of the σ that RDP calibration gives for each budget",
        description=(
            "For each target ε: the noise multiplier σ that RDP calibration gives (the paper's "
            "calibration: Opacus' RDP accountant), its RDP ε, and the tight ε of that σ at the "
            "same δ (certified upper and lower bound, and the accountant), with the ratio RDP ε "
            "/ tight ε. The schedule is given as for `calibrate`. Prints the table; --out writes "
            "it as CSV."
        ),
    )
    parser.add_argument(
        "--eps", required=True, nargs="+", help="target ε values (positive numbers; inf skipped)"
    )
    add_schedule_flags(parser)
    parser.add_argument("--out", help="also write the table to this CSV file (atomically)")
    parser.set_defaults(handler=run_translate)


def translation_table(args: argparse.Namespace) -> pd.DataFrame:
    """The table of :func:`translate_budgets` for the flags (``inf`` targets are skipped)."""
    schedule = schedule_from_args(args)
    targets = [parse_eps_token(token) for token in args.eps]
    finite = [target for target in targets if target != float("inf")]
    if not finite:
        raise ValueError(f"--eps {' '.join(args.eps)}: no finite target ε to translate")
    dataset_size = schedule.get("dataset_size")
    if dataset_size is not None and not args.delta < 1 / dataset_size:
        raise ValueError(f"delta={args.delta} must be smaller than 1/N = {1 / dataset_size:.3g}")
    rows = translate_budgets(finite, schedule["sample_rate"], schedule["steps"], args.delta)
    table = pd.DataFrame(
        [
            (
                row.target_epsilon,
                row.rdp_sigma,
                row.rdp_epsilon,
                row.epsilon,
                row.epsilon_lower,
                row.accountant,
                row.overstatement,
            )
            for row in rows
        ],
        columns=COLUMNS,
    )
    table.insert(0, "dataset", schedule.get("dataset"))
    for name in ("sample_rate", "steps"):
        table[name] = schedule[name]
    table["delta"] = args.delta
    return table


def run_translate(args: argparse.Namespace) -> None:
    """Print the translation table and write it to --out if given."""
    table = translation_table(args)
    if args.out:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
    with pd.option_context("display.width", 160, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.6g}"))
