"""Prepare a dataset: run its loader and write ``results/data/{dataset}/`` in the layout of the
data contract (``rero.data.store``), with the source's content digest in ``meta.json``;
:func:`read_meta` reads its ``meta.json`` back."""

from __future__ import annotations

import errno
import glob
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import SPLIT_NAMES, check_splits
from rero.data.fingerprint import source_digest
from rero.data.registry import LOADERS, loader_options
from rero.data.store import split_bytes, write_split
from rero.runtime.io import provenance, read_json, require_free_space, write_json

META_KEYS = (
    "dataset",
    "loader",
    "task",
    "source",
    "source_digest",
    "num_classes",
    "class_names",
    "shape",
    "dtype",
    "num_train",
    "splits",
    "skipped",
    "mean",
    "std",
    "options",
    "provenance",
)
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def prepare_dataset(
    name: str,
    loader: str,
    options: dict[str, Any],
    out_dir: str | os.PathLike[str],
    hash_cache: Path | None = None,
) -> dict[str, Any]:
    """Run ``loader`` and write every split's ``.npy`` files, then ``meta.json``, into ``out_dir``.

    The images stream from the loader into the files chunk by chunk. Every file is written
    atomically; the old ``meta.json`` and split files are removed first and the new meta.json
    written last, so its presence means the splits beside it are complete. ``meta.json`` records
    the source's content digest (``rero.data.fingerprint``; ``hash_cache``: its cache folder).
    The free space the splits need is checked before any is written. A failure leaves no split
    file behind and is one error naming the dataset (a ValueError, or FileNotFoundError for a
    missing file; a file that cannot be read or written is named with the reason). Returns the
    meta dict.
    """
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise ValueError(
            f"dataset name must be letters, digits, '_', '.', '-' (not starting with a "
            f"punctuation mark), got {name!r}"
        )
    out = Path(out_dir)
    try:
        return write_dataset(name, loader, options, out, hash_cache)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"dataset {name!r}: {error}") from None
    except OSError as error:
        raise ValueError(f"dataset {name!r}: {os_error_text(error, out)}") from None
    except ValueError as error:
        raise ValueError(f"dataset {name!r}: {error}") from None


def os_error_text(error: OSError, out: Path) -> str:
    """An OSError in words: the file and the reason (a full disk: the output folder)."""
    if error.errno == errno.ENOSPC:
        return f"{out}: no space left on the device while writing the prepared splits"
    if error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror or error}"


def remove_prepared(out: Path) -> None:
    """Delete the prepared dataset in ``out``: its meta.json and every split file."""
    (out / "meta.json").unlink(missing_ok=True)
    for split in SPLIT_NAMES:
        for path in out.glob(f"{glob.escape(split)}_*.npy"):
            path.unlink(missing_ok=True)


def write_dataset(
    name: str, loader: str, options: dict[str, Any], out: Path, hash_cache: Path | None
) -> dict[str, Any]:
    """:func:`prepare_dataset` once the name is checked: errors come as they are raised."""
    loader_options(loader, options)
    digest = source_digest(loader, options, hash_cache)
    splits = LOADERS[loader].load(**options)
    check_splits(splits)
    out.mkdir(parents=True, exist_ok=True)
    remove_prepared(out)
    needed = sum(split_bytes(splits.split(split), splits.task) for split in SPLIT_NAMES)
    require_free_space(out, needed, "the prepared splits")
    num_classes = len(splits.class_names)
    try:
        written = {
            split: write_split(out, split, splits.split(split), num_classes, splits.task)
            for split in SPLIT_NAMES
        }
    except BaseException:
        remove_prepared(out)
        raise
    mean, std = written["train"].moments.mean_std()
    train = splits.train.source()
    meta = {
        "dataset": name,
        "loader": loader,
        "task": splits.task,
        "source": splits.source,
        "source_digest": digest,
        "num_classes": num_classes,
        "class_names": list(splits.class_names),
        "shape": list(train.shape),
        "dtype": np.dtype(train.dtype).name,
        "num_train": written["train"].meta["n"],
        "splits": {split: result.meta for split, result in written.items()},
        "skipped": sum(result.meta["skipped"] for result in written.values()),
        "mean": mean,
        "std": std,
        "options": splits.options,
        "provenance": provenance(),
    }
    try:
        write_json(out / "meta.json", meta)
    except BaseException:
        remove_prepared(out)
        raise
    return meta


def read_meta(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta.json`` of a prepared dataset, checked to hold every key of the data contract."""
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: file not found (expected the dataset's meta.json, written by "
            "`python -m rero prepare-data`)"
        )
    meta = read_json(path)
    missing = [key for key in META_KEYS if key not in meta] if isinstance(meta, dict) else META_KEYS
    if missing:
        raise ValueError(
            f"{path}: not a dataset meta file, missing key(s) {', '.join(missing)}; "
            f"expected a JSON object with {', '.join(META_KEYS)}"
        )
    return meta
