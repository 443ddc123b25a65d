"""Prepared split files: ``{split}_images.npy``, ``{split}_labels.npy``, ``{split}_{key}.npy``,
and for a segmentation task ``{split}_masks.npy`` (uint8, a class per pixel or voxel).

Each file is a plain ``.npy`` written through :func:`numpy.lib.format.open_memmap` into a
temporary file beside the target and renamed into place when complete; its SHA-256 is computed
from the bytes as they are written. The temporary file's blocks are allocated before any is
mapped, so a full disk is a clear error there, never a SIGBUS half-way through the writes. Only
one chunk is mapped at a time, so neither memory nor the resident set grows with the split.
Readers memory-map the images (:func:`load_split`) and convert each gathered batch with
:func:`unit_float`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from rero.data.base import SPLIT_NAMES, Chunk, Moments, Split, rows_per_chunk
from rero.data.files import load_npy
from rero.runtime.io import atomic_path, require_free_space

SPLIT_FORMAT = (
    "{split}_images.npy (N, C, H, W) or (N, C, D, H, W) uint8, or float32 in [0, 1], and "
    "{split}_labels.npy int64 (N,), written by `python -m rero prepare-data`"
)
NPY_HEADER_BYTES = 4096  # a .npy header and the file system's last partial block, at most
MASKS_FORMAT = "{split}_masks.npy uint8 (N, H, W) or (N, D, H, W), one class per pixel or voxel"


def split_file(data_dir: str | os.PathLike[str], split: str, key: str) -> Path:
    """The path of array ``key`` ("images", "labels" or an extra) of ``split``."""
    return Path(data_dir) / f"{split}_{key}.npy"


def write_rows(
    path: Path,
    dtype: np.dtype,
    row_shape: tuple[int, ...],
    planned: int,
    chunks: Iterable[np.ndarray],
) -> tuple[int, str]:
    """Write the arrays of ``chunks`` one after another as rows of a ``.npy`` at ``path``.

    Room is made for ``planned`` rows; when fewer arrive (skipped images) the file is rewritten
    with the rows it got. Returns (rows written, SHA-256 of the file).
    """
    with atomic_path(path) as tmp:
        open_memmap(tmp, mode="w+", dtype=dtype, shape=(planned, *row_shape)).flush()
        allocate(tmp, path)
        with open(tmp, "rb") as handle:
            digest = hashlib.sha256(handle.read(header_length(tmp)))
        rows = 0
        window = rows_per_chunk(row_shape, dtype)
        for chunk in chunks:
            for start in range(0, len(chunk), window):
                block = np.ascontiguousarray(chunk[start : start + window], dtype=dtype)
                mapped = open_memmap(tmp, mode="r+")
                mapped[rows : rows + len(block)] = block
                del mapped  # unmapped: the written pages leave this process's resident set
                digest.update(memoryview(block).cast("B"))
                rows += len(block)
        if rows < planned:
            return rows, shrunk_copy(tmp, rows)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
    return rows, digest.hexdigest()


def allocate(tmp: Path, target: Path) -> None:
    """Give the (sparse) file ``tmp`` all its blocks on disk, so writes to its memory map never
    meet a full disk (SIGBUS); a ValueError naming the folder and the space ``target`` needs
    when they are not free. File systems without allocation rely on the check before writing
    (:func:`split_bytes`)."""
    size = tmp.stat().st_size
    if size == 0 or not hasattr(os, "posix_fallocate"):
        return
    with open(tmp, "rb+") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                require_free_space(target.parent, size, target.name)
            elif error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise


def split_bytes(part: Split, task: str) -> int:
    """The bytes the files of ``part`` take once written (images, labels, extras and, for
    segmentation, masks; headers included)."""
    source = part.source()
    count = len(source)
    arrays = [np.asarray(part.labels), *(np.asarray(array) for array in part.extras.values())]
    sizes = [count * int(np.prod(source.shape)) * np.dtype(source.dtype).itemsize]
    sizes += [array.nbytes for array in arrays]
    if task == "segmentation":
        sizes.append(count * int(np.prod(source.shape[1:])))
    return sum(sizes) + NPY_HEADER_BYTES * len(sizes)


def header_length(path: Path) -> int:
    """Bytes before the data of the ``.npy`` at ``path``."""
    return int(open_memmap(path, mode="r").offset)


def shrunk_copy(path: Path, rows: int) -> str:
    """Replace the ``.npy`` at ``path`` by its first ``rows`` rows; the new file's SHA-256."""
    source = np.load(path, mmap_mode="r")
    return write_rows(path, source.dtype, source.shape[1:], rows, [source[:rows]])[1]


@dataclass(frozen=True)
class WrittenSplit:
    """What writing a split gives: its meta entry and its pixel moments."""

    meta: dict[str, Any]
    moments: Moments


def write_split(
    out: Path, name: str, part: Split, num_classes: int, task: str = "classification"
) -> WrittenSplit:
    """Write the images (streamed), labels, extras and, for segmentation, the masks of split
    ``name`` into ``out``. The masks of the streamed chunks are kept (uint8, a quarter of float32
    images) and written after the images."""
    source = part.source()
    kept: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    skipped = 0
    moments = Moments(0, np.zeros(source.shape[0]), np.zeros(source.shape[0]))

    def images() -> Iterable[np.ndarray]:
        nonlocal moments, skipped
        for chunk in source.chunks():
            if (
                chunk.images.dtype == np.float32
                and len(chunk.images)
                and not (float(chunk.images.min()) >= 0.0 and float(chunk.images.max()) <= 1.0)
            ):
                raise ValueError(f"{name} images must lie in [0, 1] (and not be NaN)")
            if task == "segmentation":
                masks.append(checked_masks(chunk, source.shape[1:], num_classes, name))
            for message in chunk.skipped:
                print(f"skipped {message}", file=sys.stderr)
            skipped += len(chunk.skipped)
            kept.append(chunk.index)
            moments = moments.merge(chunk.moments)
            yield chunk.images

    path = split_file(out, name, "images")
    count, images_hash = write_rows(path, source.dtype, source.shape, len(source), images())
    if count == 0:
        raise ValueError(
            f"{name} split is empty: every one of its {len(source)} images was skipped"
        )
    index = np.concatenate(kept)
    hashes = {path.name: images_hash}
    arrays = {"labels": part.labels, **part.extras}
    for key, array in arrays.items():
        rows = np.asarray(array)[index]
        path = split_file(out, name, key)
        hashes[path.name] = write_rows(path, rows.dtype, rows.shape[1:], len(rows), [rows])[1]
    if task == "segmentation":
        path = split_file(out, name, "masks")
        hashes[path.name] = write_rows(path, np.uint8, source.shape[1:], count, masks)[1]
    labels = part.labels[index]
    meta = {
        "n": count,
        "sha256": hashes,
        "class_counts": np.bincount(labels, minlength=num_classes).tolist(),
        "skipped": skipped,
    }
    return WrittenSplit(meta, moments)


def checked_masks(
    chunk: Chunk, spatial: tuple[int, ...], num_classes: int, split: str
) -> np.ndarray:
    """The masks of a segmentation chunk: uint8 (n, *spatial), classes below ``num_classes``."""
    masks = chunk.masks
    if masks is None or masks.dtype != np.uint8 or masks.shape != (len(chunk.images), *spatial):
        described = "none" if masks is None else f"{masks.dtype} {masks.shape}"
        raise ValueError(
            f"{split} masks must be uint8 of shape ({len(chunk.images)}, "
            f"{', '.join(map(str, spatial))}), got {described}"
        )
    if masks.size and int(masks.max()) >= num_classes:
        raise ValueError(f"{split} masks must hold classes 0..{num_classes - 1}, got {masks.max()}")
    return masks


def unit_float(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1] of a gathered batch: uint8 storage is divided by 255, float32
    storage (already in [0, 1]) is returned as it is. Gather from a memory-mapped split first
    (``images[indices]``), then convert, so only the batch is ever in memory as floats."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if images.dtype == np.float32:
        return np.asarray(images)
    raise ValueError(f"prepared images must be uint8 or float32, got {images.dtype}")


def load_split(data_dir: str | os.PathLike[str], split: str) -> tuple[np.memmap, np.ndarray]:
    """``(images, labels)`` of one prepared split: images a read-only memory map (N, C, H, W),
    uint8 or float32 (convert batches with :func:`unit_float`), labels int64 (N,) in memory."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    images_path, labels_path = (split_file(data_dir, split, key) for key in ("images", "labels"))
    expected = SPLIT_FORMAT.format(split=split)
    images = load_npy(images_path, expected, mmap=True)
    labels = load_npy(labels_path, expected, mmap=False)
    if images.dtype not in (np.uint8, np.float32) or images.ndim not in (4, 5):
        raise ValueError(
            f"{images_path}: images {images.dtype} {images.shape}; expected {expected}"
        )
    if labels.dtype != np.int64 or labels.shape != (len(images),):
        raise ValueError(
            f"{labels_path}: labels {labels.dtype} {labels.shape} for {len(images)} images; "
            f"expected {expected}"
        )
    return images, labels


def load_masks(data_dir: str | os.PathLike[str], split: str) -> np.memmap:
    """The masks of one prepared segmentation split, a read-only uint8 memory map (N, *spatial)
    matching the split's images."""
    images, _ = load_split(data_dir, split)
    path = split_file(data_dir, split, "masks")
    expected = MASKS_FORMAT.format(split=split)
    masks = load_npy(path, expected, mmap=True)
    if masks.dtype != np.uint8 or masks.shape != (len(images), *images.shape[2:]):
        raise ValueError(
            f"{path}: masks {masks.dtype} {masks.shape} for images {images.shape}; "
            f"expected {expected}"
        )
    return masks
