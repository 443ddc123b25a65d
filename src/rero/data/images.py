"""Image files as an :class:`~rero.data.base.ImageSource`: decoded with Pillow in a process pool.

Each image is converted to RGB or grayscale, its shorter side resized to S (bilinear, as
torchvision's ``Resize(S)`` with the PIL backend, which the paper's code used) unless it is
already S, then centre-cropped to S x S (``CenterCrop(S)``). Files are decoded in tasks of about
``CHUNK_BYTES`` of output, at most two tasks per worker in flight, so the memory of preparation
does not grow with the number of images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from rero.data.base import (
    ON_UNREADABLE,
    Chunk,
    Moments,
    Split,
    in_order,
    require_choice,
    require_int,
    require_workers,
    rows_per_chunk,
)

MODES = {"RGB": 3, "L": 1}


def square_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to ``size`` (torchvision's rounding)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Shorter side resized to ``size`` (bilinear) unless it is already, then centre-cropped."""
    width, height = image.size
    if min(width, height) != size:
        width, height = square_size(width, height, size)
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    if (width, height) == (size, size):
        return image
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def decode_image(path: str, mode: str, size: int) -> np.ndarray:
    """The image at ``path`` as uint8 (C, size, size)."""
    with Image.open(path) as image:
        fitted = fit_square(image.convert(mode), size)
        pixels = np.asarray(fitted)
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


@dataclass(frozen=True)
class DecodeSpec:
    """How a task decodes its files (sent to the worker with each task)."""

    mode: str
    size: int
    on_unreadable: str
    expected: str


def decode_task(spec: DecodeSpec, start: int, paths: tuple[str, ...]) -> Chunk:
    """Decode ``paths`` (positions ``start``...) into one chunk; a missing file is an error, an
    unreadable one is an error or, with ``on_unreadable="skip"``, left out and named."""
    images = np.empty((len(paths), MODES[spec.mode], spec.size, spec.size), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[str] = []
    for offset, path in enumerate(paths):
        try:
            images[len(kept)] = decode_image(path, spec.mode, spec.size)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: file not found; {spec.expected}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            message = f"{path}: unreadable image ({error})"
            if spec.on_unreadable == "error":
                raise ValueError(
                    f"{message}; expected a readable image of {spec.expected} "
                    "(or set the option on_unreadable: skip to leave such files out)"
                ) from None
            skipped.append(message)
            continue
        kept.append(start + offset)
    images = images[: len(kept)]
    return Chunk(np.asarray(kept, dtype=np.int64), images, Moments.of(images), tuple(skipped))


@dataclass(frozen=True)
class FileImageSource:
    """Image files decoded to uint8 (C, size, size) by ``workers`` processes, in order.

    ``mode`` is "RGB" or "L"; ``expected`` describes the dataset's layout for error messages.
    """

    paths: tuple[str, ...]
    mode: str
    size: int
    on_unreadable: str
    workers: int
    expected: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (MODES[self.mode], self.size, self.size)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.paths)

    def chunks(self) -> Iterator[Chunk]:
        spec = DecodeSpec(self.mode, self.size, self.on_unreadable, self.expected)
        step = rows_per_chunk(self.shape, self.dtype)
        tasks = [
            (spec, start, self.paths[start : start + step]) for start in range(0, len(self), step)
        ]
        yield from in_order(decode_task, tasks, self.workers)


@dataclass(frozen=True)
class Decoding:
    """How a dataset's image files become arrays (:class:`FileImageSource`): the square
    ``size``, what an unreadable file does (``on_unreadable``), the decoding processes."""

    size: int
    on_unreadable: str
    workers: int

    @classmethod
    def checked(cls, size: Any, on_unreadable: Any, workers: Any) -> Decoding:
        """The loader options, each checked (a ValueError names the option)."""
        return cls(
            size=require_int("size", size, 8, 4096),
            on_unreadable=require_choice("on_unreadable", on_unreadable, ON_UNREADABLE),
            workers=require_workers(workers),
        )

    def split(
        self, paths: tuple[str, ...], mode: str, labels: np.ndarray, rows: np.ndarray, layout: str
    ) -> Split:
        """A split decoded from ``paths`` in PIL ``mode``; ``rows`` (each sample's CSV row) is
        stored as the extra ``source_row``."""
        source = FileImageSource(paths, mode, self.size, self.on_unreadable, self.workers, layout)
        return Split(source, labels, {"source_row": rows.astype(np.int64)})
