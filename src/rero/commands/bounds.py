"""``python -m rero bound`` (one setting, every method) and ``bounds`` (a CSV of privacy plans)."""

from __future__ import annotations

import argparse

from rero.privacy.plan import read_plan
from rero.privacy.rero.methods import METHODS, all_bounds
from rero.privacy.rero.table import bounds_table, membership_table
from rero.runtime.io import atomic_path, dumps_json
from rero.study.tokens import parse_kappa


def run_bound(args: argparse.Namespace) -> None:
    """Print every method's gamma for one (sigma, q, T, kappa), as a table or JSON."""
    label, kappa = parse_kappa(args.kappa)
    if kappa is None:
        raise ValueError("--kappa 1/N needs a plan; give '1/<integer>' or a number here")
    results = all_bounds(
        sigma=args.sigma, sample_rate=args.sample_rate, steps=args.steps, kappa=kappa
    )
    if args.json:
        fields = {
            name: {"bound": b.value, "kind": b.kind, "note": b.note} for name, b in results.items()
        }
        print(dumps_json(fields))
        return
    print(f"ReRo bound, sigma={args.sigma:g} q={args.sample_rate:g} T={args.steps} kappa={label}")
    print(f"{'method':<10} {'kind':<14} {'bound':>12}  note")
    for name, b in results.items():
        print(f"{name:<10} {b.kind:<14} {b.value:>12.6g}  {b.note}")


def run_bounds(args: argparse.Namespace) -> None:
    """Write the bounds table of the given plans as a CSV (atomically)."""
    plans = [read_plan(path) for path in args.plans]
    kappas = [parse_kappa(spec) for spec in args.kappa or ["1/N"]]
    table = bounds_table(plans, kappas, args.methods)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(table)} rows")
    if args.membership_out:
        membership = membership_table(plans)
        with atomic_path(args.membership_out) as tmp:
            membership.to_csv(tmp, index=False)
        print(f"wrote {args.membership_out}: {len(membership)} rows")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bound`` and ``bounds`` subcommands."""
    one = subparsers.add_parser("bound", help="ReRo bounds for one (sigma, q, T, kappa)")
    one.add_argument("--sigma", type=float, required=True, help="noise multiplier (0: non-private)")
    one.add_argument("--sample-rate", type=float, required=True, help="Poisson sampling rate q")
    one.add_argument("--steps", type=int, required=True, help="number of DP-SGD steps T")
    one.add_argument("--kappa", required=True, help="prior baseline: '1/<integer>' or a number")
    one.add_argument(
        "--json", action="store_true", help="print JSON: method -> {bound, kind, note}"
    )
    one.set_defaults(handler=run_bound)

    table = subparsers.add_parser(
        "bounds", help="ReRo bounds per privacy plan, as a CSV (dataset column from each plan)"
    )
    table.add_argument("--plans", nargs="+", required=True, help="privacy-plan JSON files")
    table.add_argument(
        "--kappa",
        action="append",
        help="prior: '1/N' (N = plan's dataset_size), '1/<integer>' or a number; repeatable "
        "(default 1/N)",
    )
    table.add_argument("--out", required=True, help="CSV to write (atomically)")
    table.add_argument(
        "--membership-out", help="also write the membership-inference bounds per plan (CSV)"
    )
    table.add_argument(
        "--methods", nargs="+", default=list(METHODS), help=f"subset of {', '.join(METHODS)}"
    )
    table.set_defaults(handler=run_bounds)
