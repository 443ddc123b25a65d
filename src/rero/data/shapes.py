"""What a dataset poses, known before it is prepared: its task, number of classes and image shape,
from each loader's ``<loader>_shape(options)`` (``rero.data.registry.dataset_shape``), so that the
study checks its model and training settings against the data before any job.

A shape read from files (a MedMNIST file's headers, RadImageNet's training labels) is cached in
``.snakemake/rero/shapes/`` of the working directory: an entry, named by the loader, its options
and the source of the ``rero.data`` package, holds the shape with the status (size, mtime, ctime,
inode, device) of each file it was read from, and answers while they are unchanged (a write sets
the ctime, which no tool sets back). It is written only when no file changed within
``rero.data.file_hashes.SETTLE_SECONDS`` before the shape was read, so a change during the read
is never hidden.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rero.data.file_hashes import file_status, settled
from rero.data.planning_cache import package_source_hash
from rero.data.tasks import TASKS
from rero.runtime.io import write_json

#: the cache folder, relative to the working directory (the workflow's ``--directory``)
CACHE_FOLDER = Path(".snakemake") / "rero" / "shapes"


@dataclass(frozen=True)
class DatasetShape:
    """A dataset's ``task``, ``num_classes`` (of the labels, or of the mask values) and the shape
    of one image, ``image_shape``: (C, H, W) or, for volumes, (C, D, H, W)."""

    task: str
    num_classes: int
    image_shape: tuple[int, ...]

    @property
    def spatial(self) -> tuple[int, ...]:
        """The image's spatial sides: (H, W) or (D, H, W)."""
        return self.image_shape[1:]

    @property
    def sides_text(self) -> str:
        """The spatial sides as written in a message: 28x28, 50x128x128."""
        return "x".join(map(str, self.spatial))

    def as_json(self) -> dict[str, Any]:
        """The shape as a JSON object (what the planning cache stores)."""
        return {
            "task": self.task,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DatasetShape:
        """The shape :meth:`as_json` wrote."""
        return cls(value["task"], value["num_classes"], tuple(value["image_shape"]))


def valid_shape_json(value: Any) -> bool:
    """Whether ``value`` is a shape as :meth:`DatasetShape.as_json` writes it."""
    if not isinstance(value, dict) or set(value) != {"task", "num_classes", "image_shape"}:
        return False
    shape = value["image_shape"]
    return (
        value["task"] in TASKS
        and type(value["num_classes"]) is int
        and isinstance(shape, list)
        and len(shape) in (3, 4)
        and all(type(side) is int and side >= 1 for side in shape)
    )


def statuses(files: Sequence[Path]) -> dict[str, list[int]] | None:
    """path → ``file_status`` of each of ``files`` (as JSON lists); None when one cannot be
    stat-ed."""
    try:
        return {str(path): list(file_status(path)) for path in files}
    except OSError:
        return None


def entry_path(loader: str, options: dict[str, Any], cache: Path) -> Path:
    """The cache entry of ``loader`` with ``options`` (defaults filled) under this source."""
    key = json.dumps([loader, options, package_source_hash()], sort_keys=True, default=str)
    return cache / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def cached_shape(
    loader: str,
    options: dict[str, Any],
    files: Sequence[Path],
    compute: Callable[[dict[str, Any]], DatasetShape],
    cache: Path = CACHE_FOLDER,
) -> DatasetShape:
    """``compute(options)`` (defaults filled), from the cache in ``cache`` while each of
    ``files`` (those ``compute`` reads) keeps its status; a loader that reads no file computes
    it every time."""
    if not files:
        return compute(options)
    path = entry_path(loader, options, cache)
    with contextlib.suppress(OSError, ValueError):
        entry = json.loads(path.read_text())
        if (
            isinstance(entry, dict)
            and valid_shape_json(entry.get("shape"))
            and entry.get("statuses") == statuses(files)
        ):
            return DatasetShape.from_json(entry["shape"])
    started = time.time_ns()
    shape = compute(options)
    found = statuses(files)
    if found and all(settled(tuple(item), started) for item in found.values()):
        content = {"loader": loader, "shape": shape.as_json(), "statuses": found}
        with contextlib.suppress(OSError):  # an unwritable cache only costs the next call
            write_json(path, content)
    return shape
