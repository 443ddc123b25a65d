"""``python -m rero prepare-data``: write a dataset's train/val/test splits and meta.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rero.data.prepare import prepare_dataset
from rero.data.registry import LOADERS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prepare-data`` subcommand."""
    parser = subparsers.add_parser(
        "prepare-data",
        help="prepare a dataset: memory-mappable train/val/test arrays and meta.json",
        description="Run a dataset loader and write results/data/{dataset}/ (splits + meta.json).",
    )
    parser.add_argument("--dataset", required=True, help="dataset name, used in output paths")
    parser.add_argument(
        "--loader", required=True, help=f"dataset loader, one of: {', '.join(sorted(LOADERS))}"
    )
    parser.add_argument(
        "--options",
        default="{}",
        help="loader options as a JSON object, e.g. '{\"n_train\": 8000}'",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="decoding processes, for the loaders that take a workers option (it does not change "
        "the prepared data); the same as 'workers' in --options",
    )
    parser.add_argument("--out-dir", required=True, help="folder for the splits and meta.json")
    parser.add_argument(
        "--hash-cache",
        type=Path,
        help="folder of the cache of the source files' hashes (rero.data.file_hashes): an "
        "unchanged file is not read again; default: hash every file",
    )
    parser.set_defaults(handler=run_prepare_data)


def run_prepare_data(args: argparse.Namespace) -> None:
    """Parse the options, prepare the dataset, print a one-line summary."""
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"--options must be a JSON object, got {args.options!r} ({error})"
        ) from None
    if not isinstance(options, dict):
        raise ValueError(f"--options must be a JSON object, got {args.options!r}")
    if args.workers is not None:
        options["workers"] = args.workers
    meta = prepare_dataset(args.dataset, args.loader, options, args.out_dir, args.hash_cache)
    counts = ", ".join(f"{split} {info['n']}" for split, info in meta["splits"].items())
    print(
        f"prepared {meta['dataset']} ({meta['loader']}): {counts}; shape {meta['shape']}, "
        f"{meta['num_classes']} classes -> {args.out_dir}"
    )
