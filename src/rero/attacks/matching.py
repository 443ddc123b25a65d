"""Match reconstructions to the true images and score reconstruction success.

Procedure of Ziller et al. 2024 (matching step of their attack evaluation): images are clipped to
[0, 1] and min-max normalised per image; for each true image the closest reconstruction of its batch
is found all-vs-all, by SSIM and by MSE; success at threshold eta is "best SSIM >= eta", and the
share of images within each distance gives the whole curve, so no single eta decides the story.

SSIM is the Gaussian-window SSIM of Wang et al. 2004 (window 11, sigma 1.5, K1 = 0.01, K2 = 0.03,
data range 1, population covariance, border of the filter radius cropped) and equals
``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1.0)``, channels averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5: the 11-tap window of Wang et al. 2004
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DEFAULT_MAX_CHUNK_BYTES = 64 * 2**20


def normalise_for_matching(images: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], then min-max normalise each image to [0, 1] (constant images become 0).

    This is the paper's post-processing of reconstructions before matching; it is applied to the
    true images too, so that an exact reconstruction has SSIM 1 and MSE 0.
    """
    array = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    flat = array.reshape(array.shape[0], -1)
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    safe_span = np.where(span > 0, span, 1.0)
    return ((flat - low) / safe_span).reshape(array.shape)


def _gaussian_taps() -> torch.Tensor:
    """The 1-D Gaussian filter of ``scipy.ndimage.gaussian_filter`` (sigma 1.5, truncate 3.5)."""
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return torch.from_numpy(taps / taps.sum())


def _band_matrix(length: int, taps: torch.Tensor) -> torch.Tensor:
    """(length, length - w + 1) matrix whose column j holds the w taps at rows j .. j + w - 1, so
    that ``signal @ band`` is the 'valid' correlation of a signal with the taps."""
    width = taps.numel()
    outputs = length - width + 1
    band = torch.zeros((length, outputs), dtype=taps.dtype)
    columns = torch.arange(outputs)
    for offset in range(width):
        band[columns + offset, columns] = taps[offset]
    return band


def _valid_gaussian_filter(images: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of (P, H, W) images where the window fits (the part kept),
    as two banded matrix products (faster on CPU than a float64 convolution)."""
    taps = _gaussian_taps().to(images.dtype)
    rows = _band_matrix(images.shape[-2], taps)
    columns = _band_matrix(images.shape[-1], taps)
    return rows.T @ (images @ columns)


def _check_pair(originals: np.ndarray, reconstructions: np.ndarray) -> None:
    if originals.ndim != 4 or reconstructions.ndim != 4:
        raise ValueError(
            "originals and reconstructions must be (n, C, H, W) arrays; got shapes "
            f"{originals.shape} and {reconstructions.shape}"
        )
    if originals.shape[1:] != reconstructions.shape[1:]:
        raise ValueError(
            f"originals {originals.shape[1:]} and reconstructions {reconstructions.shape[1:]} "
            "must have the same (C, H, W)"
        )
    window = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1
    if min(originals.shape[2:]) < window:
        raise ValueError(f"images must be at least {window}x{window} for SSIM")


def ssim_matrix(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> np.ndarray:
    """All-vs-all SSIM, shape (n, m), for images (n, C, H, W) and (m, C, H, W) in [0, 1].

    Vectorised over pairs in float64; the cross term is computed in chunks of originals so that a
    chunk's pair products stay under ``max_chunk_bytes``.
    """
    x = torch.from_numpy(np.ascontiguousarray(originals, dtype=np.float64))
    y = torch.from_numpy(np.ascontiguousarray(reconstructions, dtype=np.float64))
    _check_pair(originals, reconstructions)
    n, channels, height, width = x.shape
    m = y.shape[0]
    c1, c2 = SSIM_K1**2, SSIM_K2**2

    def moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = images.reshape(-1, height, width)
        mean = _valid_gaussian_filter(flat)
        var = _valid_gaussian_filter(flat * flat) - mean * mean
        shape = (images.shape[0], channels, *mean.shape[1:])
        return mean.reshape(shape), var.reshape(shape)

    mean_x, var_x = moments(x)
    mean_y, var_y = moments(y)
    bytes_per_original = max(1, m * channels * height * width * 8 * 3)
    chunk = max(1, int(max_chunk_bytes // bytes_per_original))
    result = torch.empty((n, m), dtype=torch.float64)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        products = x[start:stop, None] * y[None]  # (c, m, C, H, W)
        cross = _valid_gaussian_filter(products.reshape(-1, height, width))
        cross = cross.reshape(stop - start, m, channels, *cross.shape[1:])
        mx, my = mean_x[start:stop, None], mean_y[None]
        covariance = cross - mx * my
        numerator = (2 * mx * my + c1) * (2 * covariance + c2)
        denominator = (mx * mx + my * my + c1) * (var_x[start:stop, None] + var_y[None] + c2)
        result[start:stop] = (numerator / denominator).mean(dim=(2, 3, 4))
    return result.numpy()


def mse_matrix(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> np.ndarray:
    """All-vs-all pixel mean squared error, shape (n, m), computed from differences in chunks."""
    if originals.shape[1:] != reconstructions.shape[1:]:
        raise ValueError(
            f"originals {originals.shape[1:]} and reconstructions {reconstructions.shape[1:]} "
            "must have the same shape per image"
        )
    x = np.asarray(originals, dtype=np.float64).reshape(originals.shape[0], -1)
    y = np.asarray(reconstructions, dtype=np.float64).reshape(reconstructions.shape[0], -1)
    chunk = max(1, int(max_chunk_bytes // max(1, y.size * 8)))
    result = np.empty((x.shape[0], y.shape[0]))
    for start in range(0, x.shape[0], chunk):
        difference = x[start : start + chunk, None, :] - y[None]
        result[start : start + chunk] = np.mean(difference * difference, axis=2)
    return result


@dataclass(frozen=True)
class BestMatches:
    """For each true image: its best reconstruction by SSIM (index, value) and by MSE."""

    ssim: np.ndarray
    ssim_index: np.ndarray
    mse: np.ndarray
    mse_index: np.ndarray


def best_matches(originals: np.ndarray, reconstructions: np.ndarray) -> BestMatches:
    """Best-matching reconstruction per true image, by highest SSIM and by lowest MSE.

    Both sets must already be normalised (see :func:`normalise_for_matching`).
    """
    if reconstructions.shape[0] == 0:
        raise ValueError("no reconstructions to match against")
    similarity = ssim_matrix(originals, reconstructions)
    distance = mse_matrix(originals, reconstructions)
    ssim_index = similarity.argmax(axis=1)
    mse_index = distance.argmin(axis=1)
    rows = np.arange(originals.shape[0])
    return BestMatches(
        ssim=similarity[rows, ssim_index],
        ssim_index=ssim_index,
        mse=distance[rows, mse_index],
        mse_index=mse_index,
    )


def share_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Share of ``values`` that are >= each threshold (the SSIM success curve)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    below = np.searchsorted(ordered, thresholds, side="left")
    return (ordered.size - below) / max(1, ordered.size)


def share_at_most(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Share of ``values`` that are <= each threshold (the MSE success curve)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return np.searchsorted(ordered, thresholds, side="right") / max(1, ordered.size)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial confidence interval for a success probability."""
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    interval = stats.binomtest(successes, trials).proportion_ci(level, method="exact")
    return float(interval.low), float(interval.high)
