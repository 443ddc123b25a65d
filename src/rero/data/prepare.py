"""Prepare a dataset: run its loader and write ``results/data/{dataset}/`` in the layout of the
data contract (``rero.data.store``); :func:`read_meta` reads its ``meta.json`` back."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import SPLIT_NAMES, check_splits
from rero.data.registry import LOADERS, loader_options
from rero.data.store import write_split
from rero.runtime.io import provenance, read_json, write_json

META_KEYS = (
    "dataset",
    "loader",
    "task",
    "source",
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
    name: str, loader: str, options: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Run ``loader`` and write every split's ``.npy`` files, then ``meta.json``, into ``out_dir``.

    The images stream from the loader into the files chunk by chunk. Every file is written
    atomically; an old ``meta.json`` is removed first and the new one written last, so its
    presence means the splits beside it are complete. Returns the meta dict.
    """
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise ValueError(
            f"dataset name must be letters, digits, '_', '.', '-' (not starting with a "
            f"punctuation mark), got {name!r}"
        )
    loader_options(loader, options)
    splits = LOADERS[loader].load(**options)
    check_splits(splits)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)
    num_classes = len(splits.class_names)
    written = {
        split: write_split(out, split, splits.split(split), num_classes, splits.task)
        for split in SPLIT_NAMES
    }
    mean, std = written["train"].moments.mean_std()
    train = splits.train.source()
    meta = {
        "dataset": name,
        "loader": loader,
        "task": splits.task,
        "source": splits.source,
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
    write_json(out / "meta.json", meta)
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
