"""Types shared by the dataset loaders, and checks of loader options and outputs."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    ``images``: float32 (N, C, H, W) in [0, 1]; ``labels``: int64 (N,);
    ``extras``: per-sample arrays of length N saved beside them (e.g. where a patch was cut).
    """

    images: np.ndarray
    labels: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSplits:
    """What every loader returns: three splits, class names, a readable origin, the options used."""

    train: Split
    val: Split
    test: Split
    class_names: list[str]
    source: str
    options: dict[str, Any]

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train", "val" or "test")."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {name!r}")
        return getattr(self, name)


def require_int(option: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum], or a ValueError naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"option {option!r} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"option {option!r} must be >= {minimum}{upper}, got {value}")
    return int(value)


def check_splits(splits: DatasetSplits) -> None:
    """Raise ValueError unless ``splits`` follows the data contract (dtypes, shapes, ranges)."""
    num_classes = len(splits.class_names)
    if num_classes < 2:
        raise ValueError(f"a dataset needs at least 2 classes, got {splits.class_names}")
    shape = splits.train.images.shape[1:]
    for name in SPLIT_NAMES:
        part = splits.split(name)
        images, labels = part.images, part.labels
        if images.dtype != np.float32 or images.ndim != 4:
            raise ValueError(
                f"{name} images must be float32 (N, C, H, W), got {images.dtype} {images.shape}"
            )
        if images.shape[1:] != shape:
            raise ValueError(f"{name} images have shape {images.shape[1:]}, train has {shape}")
        if len(images) == 0:
            raise ValueError(f"{name} split is empty")
        if labels.dtype != np.int64 or labels.shape != (len(images),):
            raise ValueError(
                f"{name} labels must be int64 of shape ({len(images)},), "
                f"got {labels.dtype} {labels.shape}"
            )
        if float(images.min()) < 0.0 or float(images.max()) > 1.0:
            raise ValueError(f"{name} images must lie in [0, 1]")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}")
        for key, array in part.extras.items():
            if key in ("images", "labels") or len(array) != len(images):
                raise ValueError(f"{name} extra array {key!r} must have one entry per sample")


def read_npz(path: Path, expected: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file; a ValueError naming ``path`` and ``expected`` otherwise."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not named arrays")
        with loaded as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz ({error}); expected {expected}") from error
