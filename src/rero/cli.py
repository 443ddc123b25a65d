"""``python -m rero <subcommand> --named-flags``: a thin command line over the package's functions.

Each subcommand lives in ``rero.commands.<module>``, which provides ``register(subparsers)``; the
handler it registers, ``run_<subcommand>(args) -> None``, reads the flags, calls one typed function
and writes its outputs. A ValueError or FileNotFoundError is the user's mistake: printed as one
line, exit status 2. Every run opens its log (stderr) with the code it runs and ends it with its
outcome and time, so a job's log says which copy of the package ran and whether it finished.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import rero
from rero.runtime.subcommands import SUBCOMMANDS

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
    code = Path(rero.__file__).parent
    print(f"rero {args.command}: rero {rero.__version__} from {code}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        args.handler(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"rero {args.command}: error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"rero {args.command}: done in {elapsed:.1f} s", file=sys.stderr)
    return 0
