"""Match reconstructions to the true images and score reconstruction success.

Procedure of Ziller et al. 2024 (matching step of their attack evaluation): images are clipped to
[0, 1] and min-max normalised per image; for each true image the closest reconstruction of its batch
is found all-vs-all, by SSIM and by MSE; success at threshold eta is "best SSIM >= eta", and the
share of images within each distance gives the whole curve, so no single eta decides the story.

SSIM is the Gaussian-window SSIM of Wang et al. 2004 (window 11, sigma 1.5, K1 = 0.01, K2 = 0.03,
data range 1, population covariance, border of the filter radius cropped) and equals
``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1.0)``, channels averaged. Volumes (n, C, D, H, W) are
scored by the 2-D SSIM of every axial slice, averaged over the slices (and channels): their D axis
is folded into the channels.

The matching runs in torch on the device of its inputs, in float64, over blocks of (original,
reconstruction) pairs whose temporaries stay under a byte budget, so a paper-scale batch (128
originals x 256 reconstructions of 224 x 224 x 3) needs the inputs plus the budget. Every pair's
value is computed by the same operations whatever the blocks (the tests check equality).
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
DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20
# float64 maps of one pair's (C, H, W) image that a block holds at once: the pair product and its
# two filter passes, then the SSIM map's terms (MSE: the difference and its square)
SSIM_PAIR_COPIES = 4
MSE_PAIR_COPIES = 2

ImageArray = np.ndarray | torch.Tensor


def normalise_for_matching(images: ImageArray) -> torch.Tensor:
    """Clip to [0, 1], then min-max normalise each image to [0, 1] (constant images become 0).

    This is the paper's post-processing of reconstructions before matching; it is applied to the
    true images too, so that an exact reconstruction has SSIM 1 and MSE 0. float64, on the device
    of ``images`` (numpy arrays: the CPU).
    """
    array = torch.as_tensor(images, dtype=torch.float64).clamp(0.0, 1.0)
    flat = array.reshape(array.shape[0], -1)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    safe_span = torch.where(span > 0, span, torch.ones_like(span))
    return ((flat - low) / safe_span).reshape(array.shape)


def _gaussian_taps(device: torch.device) -> torch.Tensor:
    """The 1-D Gaussian filter of ``scipy.ndimage.gaussian_filter`` (sigma 1.5, truncate 3.5)."""
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return torch.from_numpy(taps / taps.sum()).to(device)


def _band_matrix(length: int, taps: torch.Tensor) -> torch.Tensor:
    """(length, length - w + 1) matrix whose column j holds the w taps at rows j .. j + w - 1, so
    that ``signal @ band`` is the 'valid' correlation of a signal with the taps."""
    width = taps.numel()
    outputs = length - width + 1
    band = torch.zeros((length, outputs), dtype=taps.dtype, device=taps.device)
    columns = torch.arange(outputs, device=taps.device)
    for offset in range(width):
        band[columns + offset, columns] = taps[offset]
    return band


class _GaussianFilter:
    """Separable Gaussian filter of (P, H, W) images where the window fits (the part kept), as two
    banded matrix products (faster on CPU than a float64 convolution)."""

    def __init__(self, height: int, width: int, device: torch.device):
        taps = _gaussian_taps(device)
        self.rows = _band_matrix(height, taps).T
        self.columns = _band_matrix(width, taps)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.rows @ (images @ self.columns)

    def moments(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Local mean and population variance of (k, C, H, W) images, each (k, C, H', W')."""
        flat = images.reshape(-1, *images.shape[2:])
        mean = self(flat)
        var = self(flat * flat) - mean * mean
        shape = (images.shape[0], images.shape[1], *mean.shape[1:])
        return mean.reshape(shape), var.reshape(shape)


def _chunk_sizes(n: int, m: int, pair_bytes: int, max_chunk_bytes: int) -> tuple[int, int]:
    """(originals, reconstructions) per block of at most ``max_chunk_bytes // pair_bytes`` pairs
    (at least one): every pair at once where they fit, else chunks of reconstructions, each
    against as many originals as fit."""
    pairs = max(1, int(max_chunk_bytes // max(1, pair_bytes)))
    recon_chunk = max(1, min(m, pairs))
    return max(1, min(n, pairs // recon_chunk)), recon_chunk


def _as_pair(
    originals: ImageArray, reconstructions: ImageArray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as float64 tensors on the originals' device, checked to be (n, C, H, W) or
    (n, C, D, H, W) alike; volumes as (n, C·D, H, W) stacks of their axial slices."""
    x = torch.as_tensor(originals, dtype=torch.float64)
    y = torch.as_tensor(reconstructions, dtype=torch.float64, device=x.device)
    if x.dim() not in (4, 5) or y.dim() != x.dim():
        raise ValueError(
            "originals and reconstructions must both be (n, C, H, W) or (n, C, D, H, W) arrays; "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"originals {tuple(x.shape[1:])} and reconstructions {tuple(y.shape[1:])} "
            "must have the same shape"
        )
    if x.dim() == 5:
        x, y = x.flatten(1, 2), y.flatten(1, 2)
    return x, y


def _ssim_block(
    gaussian: _GaussianFilter,
    x: torch.Tensor,
    y: torch.Tensor,
    moments_y: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """SSIM of every pair of the originals ``x`` and reconstructions ``y``: (len(x), len(y)).

    In-place steps keep at most SSIM_PAIR_COPIES maps of each pair alive at once; doubling is
    exact in floating point, so ``2 * (mx * my)`` is the ``2 * mx * my`` of the formula.
    """
    mean_x, var_x = gaussian.moments(x)
    mean_y, var_y = moments_y
    products = x[:, None] * y[None]  # (c, m, C, H, W)
    cross = gaussian(products.reshape(-1, *products.shape[3:]))
    del products
    covariance = cross.reshape(len(x), len(y), *mean_x.shape[1:])
    mx, my = mean_x[:, None], mean_y[None]
    numerator = mx * my
    covariance.sub_(numerator)
    numerator.mul_(2).add_(SSIM_K1**2).mul_(covariance.mul_(2).add_(SSIM_K2**2))
    del covariance, cross
    denominator = (mx * mx + my * my).add_(SSIM_K1**2)
    denominator.mul_((var_x[:, None] + var_y[None]).add_(SSIM_K2**2))
    return numerator.div_(denominator).mean(dim=(2, 3, 4))


def _ssim_filter(images: torch.Tensor) -> _GaussianFilter:
    """The SSIM window's filter for (n, C, H, W) ``images``; ValueError where it does not fit."""
    height, width = images.shape[2:]
    window = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1
    if min(height, width) < window:
        raise ValueError(f"images must be at least {window}x{window} for SSIM")
    return _GaussianFilter(height, width, images.device)


def ssim_matrix(
    originals: ImageArray,
    reconstructions: ImageArray,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> torch.Tensor:
    """All-vs-all SSIM, shape (n, m), for images (n, C, H, W) and (m, C, H, W) in [0, 1] (or
    volumes (n, C, D, H, W): the mean SSIM of their axial slices).

    float64 on the originals' device, vectorised over the pairs of blocks that keep the
    temporaries under about ``max_chunk_bytes``.
    """
    x, y = _as_pair(originals, reconstructions)
    n, channels, height, width = x.shape
    gaussian = _ssim_filter(x)
    result = torch.empty((n, y.shape[0]), dtype=torch.float64, device=x.device)
    pair_bytes = SSIM_PAIR_COPIES * channels * height * width * 8
    original_chunk, recon_chunk = _chunk_sizes(n, y.shape[0], pair_bytes, max_chunk_bytes)
    for r in range(0, y.shape[0], recon_chunk):
        y_block = y[r : r + recon_chunk]
        moments_y = gaussian.moments(y_block)
        for o in range(0, n, original_chunk):
            block = _ssim_block(gaussian, x[o : o + original_chunk], y_block, moments_y)
            result[o : o + original_chunk, r : r + recon_chunk] = block
    return result


def paired_ssim(originals: ImageArray, reconstructions: ImageArray) -> torch.Tensor:
    """SSIM of each pair (originals[i], reconstructions[i]), shape (n,): the diagonal of
    :func:`ssim_matrix` (the same operations), one pair at a time, on the originals' device."""
    x, y = _as_pair(originals, reconstructions)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} originals and {len(y)} reconstructions do not pair up")
    gaussian = _ssim_filter(x)
    values = [
        _ssim_block(gaussian, x[i : i + 1], y[i : i + 1], gaussian.moments(y[i : i + 1]))[0, 0]
        for i in range(len(x))
    ]
    return torch.stack(values) if values else x.new_empty(0)


def _mean_square(difference: torch.Tensor) -> torch.Tensor:
    """Mean over the last axis of the squared differences: numpy's pairwise sums on the CPU (the
    numbers of the CPU-only releases), torch's reduction on other devices."""
    if difference.device.type == "cpu":
        values = difference.numpy()
        return torch.from_numpy(np.mean(values * values, axis=2))
    return (difference * difference).mean(dim=2)


def mse_matrix(
    originals: ImageArray,
    reconstructions: ImageArray,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> torch.Tensor:
    """All-vs-all pixel mean squared error, shape (n, m), from differences in blocks of pairs."""
    x, y = _as_pair(originals, reconstructions)
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    result = torch.empty((x.shape[0], y.shape[0]), dtype=torch.float64, device=x.device)
    pair_bytes = MSE_PAIR_COPIES * x.shape[1] * 8
    original_chunk, recon_chunk = _chunk_sizes(len(x), len(y), pair_bytes, max_chunk_bytes)
    for r in range(0, len(y), recon_chunk):
        for o in range(0, len(x), original_chunk):
            difference = x[o : o + original_chunk, None, :] - y[None, r : r + recon_chunk]
            result[o : o + original_chunk, r : r + recon_chunk] = _mean_square(difference)
    return result


@dataclass(frozen=True)
class BestMatches:
    """For each true image: its best reconstruction by SSIM (index, value) and by MSE."""

    ssim: np.ndarray
    ssim_index: np.ndarray
    mse: np.ndarray
    mse_index: np.ndarray


def best_matches(
    originals: ImageArray,
    reconstructions: ImageArray,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> BestMatches:
    """Best-matching reconstruction per true image, by highest SSIM and by lowest MSE.

    Both sets must already be normalised (see :func:`normalise_for_matching`); the matrices are
    computed on their device, the choices made in numpy (first index among ties).
    """
    if reconstructions.shape[0] == 0:
        raise ValueError("no reconstructions to match against")
    budget = {"max_chunk_bytes": max_chunk_bytes}
    similarity = ssim_matrix(originals, reconstructions, **budget).cpu().numpy()
    distance = mse_matrix(originals, reconstructions, **budget).cpu().numpy()
    ssim_index = similarity.argmax(axis=1)
    mse_index = distance.argmin(axis=1)
    rows = np.arange(similarity.shape[0])
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
