"""Types shared by the dataset loaders: splits, image sources streamed in chunks, option checks.

A loader returns a :class:`DatasetSplits`; each :class:`Split` holds its images either in memory
(an ndarray) or as an :class:`ImageSource` that yields them chunk by chunk, with N and the image
shape known up front, so preparing a split never holds all of it in memory.

The dataset's task is classification (one label per image, 2-D images (C, H, W)) or segmentation
(a class per pixel or voxel: 2-D (C, H, W) or 3-D (C, D, H, W) images, each with a uint8 mask of
its spatial shape, streamed beside the images in the same chunks).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from rero.data.tasks import TASKS

SPLIT_NAMES = ("train", "val", "test")
IMAGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))
CHUNK_BYTES = 8 << 20  # bytes of stored images per decoding task and per mapped write window
ON_UNREADABLE = ("error", "skip")
TASKS_PER_WORKER = 2  # tasks in flight per worker in a decoding pool: busy, bounded memory
T = TypeVar("T")


@dataclass(frozen=True)
class Moments:
    """Per-channel pixel count, mean and (population) variance, float64 in [0, 1] units.

    Chunks merge with Chan, Golub and LeVeque's pairwise update (Am. Stat. 37:242, 1983), so
    the statistics of a split are computed streaming.
    """

    n: int
    mean: np.ndarray
    var: np.ndarray

    @staticmethod
    def of(images: np.ndarray) -> Moments:
        """The moments of a (n, C, H, W) or (n, C, D, H, W) batch of uint8 or float32 [0, 1]
        images.

        uint8 pixels are counted in a 256-bin histogram per channel (a block of rows at a
        time) and the moments taken over the float32 values ``unit_float`` gives; float32 ones
        are numpy's float64 mean and variance of the batch.
        """
        channels = images.shape[1]
        n = int(images.shape[0] * np.prod(images.shape[2:]))
        if n == 0:
            return Moments(0, np.zeros(channels), np.zeros(channels))
        if images.dtype != np.uint8:
            axes = (0, *range(2, images.ndim))
            mean = images.mean(axis=axes, dtype=np.float64)
            return Moments(n, mean, images.var(axis=axes, dtype=np.float64))
        counts = np.zeros((channels, 256), dtype=np.int64)
        step = rows_per_chunk(images.shape[1:], images.dtype)
        for start in range(0, len(images), step):
            block = images[start : start + step]
            for channel in range(channels):
                counts[channel] += np.bincount(block[:, channel].reshape(-1), minlength=256)
        values = (np.arange(256, dtype=np.float32) / np.float32(255)).astype(np.float64)
        mean = counts @ values / n
        var = (counts * (values[np.newaxis] - mean[:, np.newaxis]) ** 2).sum(axis=1) / n
        return Moments(n, mean, var)

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of pixels together."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.var * self.n + other.var * other.n + delta**2 * (self.n * other.n / n)
        return Moments(n, mean, m2 / n)

    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and (population) standard deviation."""
        return self.mean.tolist(), np.sqrt(self.var).tolist()


@dataclass(frozen=True)
class Chunk:
    """Consecutive images of a source: ``images`` (n, C, *spatial) are the source's images at
    the ascending positions ``index``; ``masks`` (n, *spatial) uint8 their segmentation masks
    (None for classification); ``skipped`` names the unreadable files left out (with why)."""

    index: np.ndarray
    images: np.ndarray
    moments: Moments
    skipped: tuple[str, ...] = ()
    masks: np.ndarray | None = None


class ImageSource(Protocol):
    """The images of one split, produced in order, chunk by chunk.

    ``len(source)`` images of ``shape`` (C, H, W) or (C, D, H, W) and ``dtype`` (uint8, or
    float32 in [0, 1]) are planned; a source may leave out unreadable ones (each chunk says which
    it kept). A segmentation source gives every chunk its ``masks``.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __len__(self) -> int: ...

    def chunks(self) -> Iterator[Chunk]: ...


def rows_per_chunk(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """How many images of ``shape`` and ``dtype`` make one chunk of about ``CHUNK_BYTES``."""
    return max(1, CHUNK_BYTES // (int(np.prod(shape)) * np.dtype(dtype).itemsize))


@dataclass(frozen=True)
class ArraySource:
    """An in-memory (N, C, *spatial) array (and its (N, *spatial) masks, for segmentation) as
    an :class:`ImageSource`."""

    array: np.ndarray
    masks: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def __len__(self) -> int:
        return len(self.array)

    def chunks(self) -> Iterator[Chunk]:
        """The whole array as one chunk (it is in memory already; the writer maps it in
        windows), so its moments are numpy's over the whole split."""
        index = np.arange(len(self.array))
        yield Chunk(index, self.array, Moments.of(self.array), masks=self.masks)


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    ``images``: (N, C, H, W) or (N, C, D, H, W) uint8, or float32 in [0, 1], in memory or as an
    :class:`ImageSource`; ``labels``: int64 (N,), the class of each image (segmentation: the
    largest class present in its mask, what stratified draws and the prior-aware attack use);
    ``masks``: for in-memory segmentation images, their uint8 (N, *spatial) masks (a source
    streams its own); ``extras``: per-sample arrays of length N saved beside them (e.g. where a
    patch was cut, which CSV row an image came from).
    """

    images: np.ndarray | ImageSource
    labels: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    masks: np.ndarray | None = None

    def source(self) -> ImageSource:
        """The images (and masks) as an :class:`ImageSource`."""
        if isinstance(self.images, np.ndarray):
            return ArraySource(self.images, self.masks)
        return self.images


@dataclass(frozen=True)
class DatasetSplits:
    """What every loader returns: three splits, class names (segmentation: of the mask values),
    a readable origin, the options used and the task (one of :data:`TASKS`)."""

    train: Split
    val: Split
    test: Split
    class_names: list[str]
    source: str
    options: dict[str, Any]
    task: str = "classification"

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


def require_choice(option: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, or a ValueError naming ``option``."""
    if value not in choices:
        raise ValueError(f"option {option!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def require_folder(option: str, value: Any, expected: str) -> Path:
    """``value`` as an existing folder; else an error naming ``option``, the ``expected`` layout."""
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError(f"option {option!r} must name a folder, got {value!r}; {expected}")
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder not found; {expected}")
    return folder


def default_workers() -> int:
    """The CPU cores this process may run on (a SLURM job's allocation, not the node's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def require_workers(value: Any) -> int:
    """The ``workers`` option: None means every core the job has."""
    return default_workers() if value is None else require_int("workers", value, 1)


def in_order(
    function: Callable[..., T], tasks: Sequence[tuple[Any, ...]], workers: int
) -> Iterator[T]:
    """``function(*task)`` for each task, in order; by a pool of ``workers`` processes (at most
    ``TASKS_PER_WORKER`` tasks each in flight, which bounds the memory) when there are more
    than one. The pool's forkserver imports ``function``'s module once, then forks."""
    workers = min(workers, len(tasks))
    if workers <= 1:
        for task in tasks:
            yield function(*task)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([function.__module__])  # if the forkserver is not running yet
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending = iter(tasks)
    try:
        in_flight: deque[Future[T]] = deque(
            executor.submit(function, *task)
            for task in itertools.islice(pending, TASKS_PER_WORKER * workers)
        )
        while in_flight:
            result = in_flight.popleft().result()
            task = next(pending, None)
            if task is not None:
                in_flight.append(executor.submit(function, *task))
            yield result
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def stratified_quota(counts: np.ndarray, total: int) -> np.ndarray:
    """``total`` split over classes of sizes ``counts`` in proportion (largest remainder)."""
    exact = counts * total / counts.sum()
    quota = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[: total - quota.sum()]] += 1
    return quota


def stratified_pick(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of round(fraction * n) items drawn at random, each class keeping its share."""
    classes, counts = np.unique(labels, return_counts=True)
    picked = np.zeros(len(labels), dtype=bool)
    quota = stratified_quota(counts, int(np.floor(fraction * len(labels) + 0.5)))
    for cls, count in zip(classes, quota, strict=True):
        picked[rng.choice(np.flatnonzero(labels == cls), size=count, replace=False)] = True
    return picked


def check_splits(splits: DatasetSplits) -> None:
    """Raise ValueError unless ``splits`` follows the data contract (task, dtypes, shapes,
    labels). Pixel ranges of float32 images, and segmentation masks, are checked chunk by chunk
    while they are written.
    """
    if splits.task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {splits.task!r}")
    num_classes = len(splits.class_names)
    if num_classes < 2:
        raise ValueError(f"a dataset needs at least 2 classes, got {splits.class_names}")
    ranks = (3, 4) if splits.task == "segmentation" else (3,)
    layout = "(N, C, H, W) or (N, C, D, H, W)" if splits.task == "segmentation" else "(N, C, H, W)"
    train = splits.train.source()
    for name in SPLIT_NAMES:
        part = splits.split(name)
        source, labels = part.source(), part.labels
        if np.dtype(source.dtype) not in IMAGE_DTYPES or len(source.shape) not in ranks:
            raise ValueError(
                f"{name} images must be uint8 or float32 {layout}, got {source.dtype} "
                f"(N, {', '.join(map(str, source.shape))})"
            )
        if tuple(source.shape) != tuple(train.shape) or source.dtype != train.dtype:
            raise ValueError(
                f"{name} images are {source.dtype} {tuple(source.shape)}, train has "
                f"{train.dtype} {tuple(train.shape)}"
            )
        if len(source) == 0:
            raise ValueError(f"{name} split is empty")
        if labels.dtype != np.int64 or labels.shape != (len(source),):
            raise ValueError(
                f"{name} labels must be int64 of shape ({len(source)},), "
                f"got {labels.dtype} {labels.shape}"
            )
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}")
        for key, array in part.extras.items():
            if key in ("images", "labels") or not key.isidentifier() or len(array) != len(labels):
                raise ValueError(f"{name} extra array {key!r} must have one entry per sample")
