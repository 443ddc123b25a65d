"""``python -m rero aggregate``: the summary table, one row per dataset and ε."""

from __future__ import annotations

import argparse

from rero.reporting.summary import summarise
from rero.runtime.io import atomic_path


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
        args.from_scratch,
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``aggregate`` subcommand."""
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
    aggregate.add_argument(
        "--from-scratch", nargs="*", default=[], help="from-scratch bound .csv files"
    )
    aggregate.add_argument("--out", required=True, help="summary .csv to write")
    aggregate.set_defaults(handler=run_aggregate)
