"""``python -m rero <subcommand> --named-flags``: a thin command line over the package's functions.

Each subcommand lives in ``rero.commands.<module>``, which provides ``register(subparsers)``; the
handler it registers, ``run_<subcommand>(args) -> None``, reads the flags, calls one typed function
and writes its outputs. A ValueError or FileNotFoundError is the user's mistake: printed as one
line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand -> the module that registers it; only that module is imported to run it,
# so `calibrate` or `bound` start without loading torch.
SUBCOMMANDS = {
    "prepare-data": "rero.commands.data",
    "calibrate": "rero.commands.privacy",
    "train": "rero.commands.train",
    "bound": "rero.commands.bounds",
    "bounds": "rero.commands.bounds",
    "attack": "rero.commands.attack",
    "transition": "rero.commands.attack",
    "aggregate": "rero.commands.report",
    "figures": "rero.commands.report",
    "check-config": "rero.commands.check",
    "advise": "rero.commands.advise",
    "advice": "rero.commands.advise",
    "report-pages": "rero.commands.publish",
    "provenance": "rero.commands.publish",
    "results-readme": "rero.commands.publish",
}
COMMAND_MODULES = tuple(dict.fromkeys(SUBCOMMANDS.values()))


def build_parser(subcommand: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``subcommand`` registered, or every subcommand when it is None/unknown."""
    parser = argparse.ArgumentParser(
        prog="python -m rero",
        description="DP-SGD privacy/accuracy study: data, calibration, training, bounds, attacks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    modules = [SUBCOMMANDS[subcommand]] if subcommand in SUBCOMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"rero {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
