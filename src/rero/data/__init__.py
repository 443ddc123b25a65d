"""Datasets behind a registry: prepare train/val/test split files and their ``meta.json``.

:data:`LOADERS` maps a loader's name to its :class:`Loader`: the function
``load(**options) -> DatasetSplits``, the function that tells the training-set size N from the
options without preparing anything (so the workflow checks δ < 1/N and B ≤ N before any job
starts), and the files it reads (so a changed one reruns the preparation).
:func:`prepare_dataset` runs a loader and writes ``results/data/{dataset}/`` in the layout of the
data contract (``rero.data.store``); :func:`load_split` and :func:`read_meta` read it back.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import (
    SPLIT_NAMES,
    TASKS,
    DatasetSplits,
    ImageSource,
    Split,
    check_splits,
)
from rero.data.ham10000 import ham10000_files, ham10000_split_sizes, load_ham10000
from rero.data.medmnist import load_medmnist, medmnist_files, medmnist_split_sizes
from rero.data.mni152 import load_mni152, mni152_split_sizes
from rero.data.mni152_seg import load_mni152_seg, mni152_seg_split_sizes
from rero.data.msd_liver import load_msd_liver, msd_liver_files, msd_liver_split_sizes
from rero.data.radimagenet import load_radimagenet, radimagenet_files, radimagenet_split_sizes
from rero.data.store import load_masks, load_split, unit_float, write_split
from rero.io import provenance, read_json, write_json

__all__ = [
    "LOADERS",
    "SPLIT_NAMES",
    "TASKS",
    "DatasetSplits",
    "ImageSource",
    "Loader",
    "Split",
    "expected_split_sizes",
    "load_masks",
    "load_split",
    "prepare_dataset",
    "read_meta",
    "source_files",
    "unit_float",
]


def no_files(options: dict[str, Any]) -> list[Path]:
    """For loaders that read nothing from the user's disk."""
    return []


@dataclass(frozen=True)
class Loader:
    """A registered dataset source: ``load(**options)``, ``split_sizes(options)`` -> the size of
    each split, and ``files(options)``, the files it reads (both take the options with defaults
    filled); ``task``, one of :data:`TASKS`, is known before any data is read."""

    load: Callable[..., DatasetSplits]
    split_sizes: Callable[[dict[str, Any]], dict[str, int]]
    files: Callable[[dict[str, Any]], list[Path]] = no_files
    task: str = "classification"


LOADERS: dict[str, Loader] = {
    "mni152": Loader(load_mni152, mni152_split_sizes),
    "mni152_seg": Loader(load_mni152_seg, mni152_seg_split_sizes, task="segmentation"),
    "medmnist": Loader(load_medmnist, medmnist_split_sizes, medmnist_files),
    "ham10000": Loader(load_ham10000, ham10000_split_sizes, ham10000_files),
    "radimagenet": Loader(load_radimagenet, radimagenet_split_sizes, radimagenet_files),
    "msd_liver": Loader(load_msd_liver, msd_liver_split_sizes, msd_liver_files, "segmentation"),
}

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


def loader_options(loader: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the loader's defaults filled in; clear errors for an unknown loader,
    unknown or missing options."""
    if loader not in LOADERS:
        raise ValueError(f"unknown loader {loader!r}; known loaders: {', '.join(sorted(LOADERS))}")
    if not isinstance(options, dict):
        raise ValueError(f"loader options must be a JSON object (dict), got {options!r}")
    parameters = inspect.signature(LOADERS[loader].load).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(
            f"loader {loader!r}: unknown option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(parameters)}"
        )
    missing = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise ValueError(f"loader {loader!r}: missing required option(s) {', '.join(missing)}")
    defaults = {
        name: parameter.default
        for name, parameter in parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {**defaults, **options}


def expected_split_sizes(loader: str, options: dict[str, Any]) -> dict[str, int]:
    """The size of each split ``loader`` will produce (train: N), known without preparing."""
    return LOADERS[loader].split_sizes(loader_options(loader, options))


def source_files(loader: str, options: dict[str, Any]) -> list[str]:
    """The files ``loader`` reads its splits from (the CSVs or the ``.npz``; not every image),
    so the workflow reruns the preparation when one changes. Checks nothing on disk."""
    return [str(path) for path in LOADERS[loader].files(loader_options(loader, options))]


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
