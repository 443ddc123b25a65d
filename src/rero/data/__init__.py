"""Datasets behind a registry: prepare train/val/test ``.npz`` splits and their ``meta.json``.

:data:`LOADERS` maps a loader's name to its :class:`Loader`: the function
``load(**options) -> DatasetSplits`` and, beside it, the function that tells the training-set size N
from the options without preparing anything (so the workflow checks δ < 1/N and B ≤ N before any
job starts). :func:`prepare_dataset` runs a loader and writes ``results/data/{dataset}/`` in the
layout of the data contract; :func:`load_split` and :func:`read_meta` read it back.
"""

from __future__ import annotations

import hashlib
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
    DatasetSplits,
    Split,
    check_splits,
    read_npz,
)
from rero.data.medmnist import load_medmnist, medmnist_train_size
from rero.data.mni152 import load_mni152, mni152_train_size
from rero.io import provenance, read_json, save_npz, write_json

__all__ = [
    "LOADERS",
    "SPLIT_NAMES",
    "DatasetSplits",
    "Loader",
    "Split",
    "expected_num_train",
    "load_split",
    "prepare_dataset",
    "read_meta",
    "unit_float",
]


@dataclass(frozen=True)
class Loader:
    """A registered dataset source: ``load(**options)`` and ``train_size(options)`` -> N."""

    load: Callable[..., DatasetSplits]
    train_size: Callable[[dict[str, Any]], int]


LOADERS: dict[str, Loader] = {
    "mni152": Loader(load_mni152, mni152_train_size),
    "medmnist": Loader(load_medmnist, medmnist_train_size),
}

META_KEYS = (
    "dataset",
    "loader",
    "source",
    "num_classes",
    "class_names",
    "shape",
    "num_train",
    "splits",
    "mean",
    "std",
    "options",
    "provenance",
)
SPLIT_FORMAT = "a .npz with 'images' float32 (N, C, H, W) in [0, 1] and 'labels' int64 (N,)"
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def expected_num_train(loader: str, options: dict[str, Any]) -> int:
    """The training-set size N that ``loader`` will produce, known without preparing the data."""
    return LOADERS[loader].train_size(loader_options(loader, options))


def prepare_dataset(
    name: str, loader: str, options: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Run ``loader`` and write ``train/val/test.npz`` and ``meta.json`` into ``out_dir``.

    Every file is written atomically; ``meta.json`` comes last, so its presence means the
    splits beside it are complete. Returns the meta dict.
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
    num_classes = len(splits.class_names)
    split_meta = {}
    for split in SPLIT_NAMES:
        part = splits.split(split)
        path = out / f"{split}.npz"
        save_npz(path, images=part.images, labels=part.labels, **part.extras)
        split_meta[split] = {
            "n": len(part.labels),
            "sha256": file_sha256(path),
            "class_counts": np.bincount(part.labels, minlength=num_classes).tolist(),
        }
    train_images = splits.train.images
    meta = {
        "dataset": name,
        "loader": loader,
        "source": splits.source,
        "num_classes": num_classes,
        "class_names": list(splits.class_names),
        "shape": list(train_images.shape[1:]),
        "num_train": len(splits.train.labels),
        "splits": split_meta,
        "mean": train_images.mean(axis=(0, 2, 3), dtype=np.float64).tolist(),
        "std": train_images.std(axis=(0, 2, 3), dtype=np.float64).tolist(),
        "options": splits.options,
        "provenance": provenance(),
    }
    write_json(out / "meta.json", meta)
    return meta


def unit_float(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1] of a gathered batch: uint8 storage is divided by 255, float32
    storage (already in [0, 1]) is returned as it is. Gather from a memory-mapped split first
    (``images[indices]``), then convert, so only the batch is ever in memory as floats."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if images.dtype == np.float32:
        return np.asarray(images)
    raise ValueError(f"prepared images must be uint8 or float32, got {images.dtype}")


def load_split(data_dir: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one prepared split: float32 (N, C, H, W) and int64 (N,)."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: file not found (expected {SPLIT_FORMAT}, written by `python -m rero "
            "prepare-data`)"
        )
    arrays = read_npz(path, SPLIT_FORMAT)
    if not {"images", "labels"} <= set(arrays):
        raise ValueError(f"{path}: has keys {sorted(arrays)}; expected {SPLIT_FORMAT}")
    images, labels = arrays["images"], arrays["labels"]
    if (
        images.dtype != np.float32
        or images.ndim != 4
        or labels.dtype != np.int64
        or labels.shape != (len(images),)
    ):
        raise ValueError(
            f"{path}: images {images.dtype} {images.shape}, labels {labels.dtype} "
            f"{labels.shape}; expected {SPLIT_FORMAT}"
        )
    return images, labels


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
