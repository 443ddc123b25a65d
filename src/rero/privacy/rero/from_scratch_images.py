"""The from-scratch reconstruction law (``rero.privacy.rero.from_scratch``; Riess et al. 2024,
arXiv:2402.12861) over the images of a training split: each image's data norm ||X||, the
summary norms, and the success curves on a grid of sigma for every image at once.

The law depends on an image only through ||X|| (in the pixel units of the MSE threshold: [0, 1]
for prepared splits, converted with ``rero.data.store.unit_float``) and on the run through sigma
||X||. Reading a split is the caller's job; these functions take arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rero.privacy.rero.from_scratch import single_release_success, whole_run_success


def image_norms(images: ArrayLike) -> NDArray[np.float64]:
    """||X||_2 of each image of a batch (n, ...) over all its pixels and channels.

    Raises:
        ValueError: fewer than two axes, no image, or a non-finite pixel.
    """
    array = np.asarray(images)
    if array.ndim < 2 or len(array) == 0:
        raise ValueError(f"images: got shape {array.shape}, expected (n >= 1, pixels...)")
    flat = array.reshape(len(array), -1).astype(np.float64)
    if not np.isfinite(flat).all():
        raise ValueError("images: got a non-finite pixel, expected finite values")
    return np.linalg.norm(flat, axis=1)


def image_dimension(images: ArrayLike) -> int:
    """N, the number of values (pixels x channels) per image of a batch (n, ...)."""
    shape = np.shape(images)
    if len(shape) < 2:
        raise ValueError(f"images: got shape {shape}, expected (n, pixels...)")
    return math.prod(shape[1:])


@dataclass(frozen=True)
class NormSummary:
    """The data norms that set the curves: the smallest (the most exposed image), the 5 %
    quantile and the median, over ``count`` images."""

    smallest: float
    quantile_5: float
    median: float
    count: int


def summarise_norms(norms: ArrayLike) -> NormSummary:
    """The smallest, 5 %-quantile (linear interpolation) and median of the image norms.

    Raises:
        ValueError: no norm, or a negative, NaN or infinite one.
    """
    values = np.asarray(norms, dtype=np.float64).reshape(-1)
    if len(values) == 0 or not (np.isfinite(values).all() and (values >= 0).all()):
        raise ValueError("norms: expected at least one finite norm >= 0")
    low, median = np.quantile(values, [0.05, 0.5])
    return NormSummary(float(values.min()), float(low), float(median), len(values))


@dataclass(frozen=True)
class ImageCurves:
    """P(MSE <= eta) per (sigma, image), shape (len(sigmas), len(norms)): one release and the
    whole run (every inclusion averaged)."""

    single_release: NDArray[np.float64]
    whole_run: NDArray[np.float64]

    def mean_over_images(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(single release, whole run): the success probability averaged over the images, per
        sigma: the chance that the attack succeeds on a training image drawn at random."""
        return self.single_release.mean(axis=1), self.whole_run.mean(axis=1)


def curves_over_images(
    mse_threshold: float,
    *,
    sigmas: ArrayLike,
    norms: ArrayLike,
    dimension: int,
    sample_rate: float,
    steps: int,
) -> ImageCurves:
    """The from-scratch success of every image (``norms``) at every sigma, one release and
    the whole run of T steps at sampling rate q.

    Raises:
        ValueError: as ``single_release_success`` and ``whole_run_success``.
    """
    grid = np.asarray(sigmas, dtype=np.float64).reshape(-1, 1)
    row = np.asarray(norms, dtype=np.float64).reshape(1, -1)
    single = single_release_success(mse_threshold, sigma=grid, dimension=dimension, data_norm=row)
    whole = whole_run_success(
        mse_threshold,
        sigma=grid,
        sample_rate=sample_rate,
        steps=steps,
        dimension=dimension,
        data_norm=row,
    )
    return ImageCurves(single, whole)
