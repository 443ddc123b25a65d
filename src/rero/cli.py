"""``python -m rero <subcommand> --named-flags``: a thin command line over the package's functions.

Each subcommand lives in ``rero.commands.<module>`` and provides ``register(subparsers)``;
the handler it registers parses nothing itself and calls one typed function.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "rero.commands.data",
    "rero.commands.privacy",
    "rero.commands.train",
    "rero.commands.bounds",
    "rero.commands.attack",
    "rero.commands.report",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m rero",
        description="DP-SGD privacy/accuracy study: data, calibration, training, bounds, attacks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except (CliError, FileNotFoundError, ValueError) as error:
        print(f"rero {args.command}: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)
