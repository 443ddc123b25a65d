"""Imprint attack of a malicious server on one DP-SGD update (Fowl et al. 2022, "Robbing the Fed").

The server puts an imprint block in front of the model (Fowl et al. 2022, section 3; the same
threat model as Boenisch et al. 2023, "When the Curious Abandon Honesty", which Ziller et al. 2024
use): a linear layer of K rows that all compute the same image statistic h(x) = <w, x> (here the
mean brightness, Fowl et al.'s ``avg`` query) with biases -c_1 < ... , ReLU, and a read-out layer
with identical columns that adds the result back to the input. Row i fires iff h(x) > c_i, and each
sample's gradient on row i is g(x) x (weights) and g(x) (bias), with one g(x) for all rows. So the
difference of adjacent rows holds only the images with c_i < h(x) <= c_{i+1}, and

    x_hat_i = (dW_i - dW_{i+1}) / (db_i - db_{i+1})

is exact for an image alone in its bin. The per-sample clip factor multiplies both terms and
cancels; the DP noise (sigma C per coordinate on the sum) does not. Thresholds are quantiles of h
on data the server plausibly holds (a split it does not attack), so each bin holds about 1/K of
the images. Reconstructions are matched to the images after the paper's normalisation
(:mod:`rero.attacks.matching`); the matched one is also measured raw, as read out, in the image's
units (:mod:`rero.attacks.fidelity`), and success is counted by the paper's SSIM criterion and
any others (:mod:`rero.attacks.success`).

Splits may be memory-mapped (uint8 or float32 storage): only the attacked batches are gathered and
converted (``rero.data.unit_float``), the reference statistic is computed in chunks. The model, the
per-sample gradients, the noise, the read-out and the matching run on one torch device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rero.attacks.dp_step import DEFAULT_MAX_CHUNK_BYTES, check_labels, dp_sgd_gradient
from rero.attacks.fidelity import raw_metrics
from rero.attacks.matching import (
    best_matches,
    normalise_for_matching,
    share_at_least,
    share_at_most,
)
from rero.attacks.success import SuccessCriterion
from rero.data.store import unit_float

STATISTIC = "mean brightness"
# Below the mean brightness of any image in [0, 1]: the first row fires for every image.
FIRST_THRESHOLD = -1.0
CURVE_POINTS = 101
# Rows compute gain * (h(x) - c_i) and the read-out multiplies by 1 / (gain K), as in breaching's
# ImprintBlock (gain 1e-3): the block's output does not depend on the gain, but the imprint rows'
# gradients scale with 1 / gain and the read-out's with gain, so the imprint rows carry almost all
# of each sample's gradient norm, the server's best choice against per-sample clipping.
IMPRINT_GAIN = 1e-3
# The parameters the server reads; the rest of the release (independent noise) is not drawn.
IMPRINT_PARAMETERS = ("imprint.weight", "imprint.bias")


def mean_brightness(images: np.ndarray) -> np.ndarray:
    """The imprint statistic h(x): mean over all pixels and channels of each image."""
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1).mean(axis=1)


def reference_brightness(
    reference_images: np.ndarray, max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
) -> np.ndarray:
    """h of every image of a (memory-mapped) split, gathered and converted a chunk at a time."""
    image_bytes = 16 * int(np.prod(reference_images.shape[1:]))  # gathered, float32, float64
    chunk = max(1, int(max_chunk_bytes // max(1, image_bytes)))
    return np.concatenate(
        [
            mean_brightness(unit_float(reference_images[start : start + chunk]))
            for start in range(0, len(reference_images), chunk)
        ]
    )


def imprint_thresholds(
    reference_images: np.ndarray,
    num_bins: int,
    *,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> np.ndarray:
    """K ascending row thresholds: FIRST_THRESHOLD, then the i/K quantiles of h on the reference.

    Under the reference distribution every bin then holds 1/K of the images (Fowl et al. 2022).
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be at least 2, got {num_bins}")
    if len(reference_images) < num_bins:
        raise ValueError(
            f"the reference set has {len(reference_images)} images; need at least num_bins="
            f"{num_bins} to estimate the bin quantiles"
        )
    levels = np.arange(1, num_bins) / num_bins
    quantiles = np.quantile(reference_brightness(reference_images, max_chunk_bytes), levels)
    return np.concatenate([[FIRST_THRESHOLD], quantiles])


def bin_of(images: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Index of the bin each image falls in: the last row i with c_i < h(x)."""
    return np.searchsorted(thresholds, mean_brightness(images), side="left") - 1


class ImprintedClassifier(nn.Module):
    """Imprint block (Fowl et al. 2022) added to the input of a linear classifier head."""

    def __init__(self, thresholds: np.ndarray, image_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        if np.any(np.diff(thresholds) < 0):
            raise ValueError("imprint thresholds must be in ascending order")
        num_pixels = int(np.prod(image_shape))
        num_bins = len(thresholds)
        self.imprint = nn.Linear(num_pixels, num_bins)
        self.readout = nn.Linear(num_bins, num_pixels)
        self.head = nn.Linear(num_pixels, num_classes)
        with torch.no_grad():
            self.imprint.weight.fill_(IMPRINT_GAIN / num_pixels)  # every row: mean brightness
            self.imprint.bias.copy_(-IMPRINT_GAIN * torch.as_tensor(thresholds))
            # identical columns: one g(x) for all rows; the added term is the mean of (h - c_i)_+
            self.readout.weight.fill_(1.0 / (IMPRINT_GAIN * num_bins))
            self.readout.bias.zero_()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.flatten(1)
        imprinted = torch.relu(self.imprint(pixels))
        return self.head(pixels + self.readout(imprinted))


def reconstruct_from_imprint(
    weight_gradient: torch.Tensor, bias_gradient: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Server read-out: per bin, (dW_i - dW_{i+1}) / (db_i - db_{i+1}); the last bin uses row K.

    Returns the float64 reconstructions of bins whose bias difference is non-zero, and those bins'
    indices, on the gradients' device.
    """
    weights = weight_gradient.to(torch.float64)
    biases = bias_gradient.to(torch.float64)
    weight_bins = weights - torch.cat([weights[1:], torch.zeros_like(weights[:1])])
    bias_bins = biases - torch.cat([biases[1:], torch.zeros_like(biases[:1])])
    nonempty = torch.nonzero(bias_bins != 0).flatten()
    return weight_bins[nonempty] / bias_bins[nonempty, None], nonempty


@dataclass(frozen=True)
class ImprintResult:
    """Per attacked image: normalised original, best reconstruction by SSIM (both float32),
    best SSIM and MSE (normalised), and the raw metrics of the best-SSIM reconstruction as read
    out against the image in [0, 1] (:data:`rero.attacks.fidelity.RAW_METRICS`)."""

    originals: np.ndarray
    reconstructions: np.ndarray
    ssim: np.ndarray
    mse: np.ndarray
    raw_mse: np.ndarray
    raw_psnr: np.ndarray
    raw_ncc: np.ndarray
    raw_ssim: np.ndarray
    batch_index: np.ndarray
    alone_in_bin: np.ndarray
    num_reconstructions: int


def _noise_seed(seed: int, batch: int) -> int:
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


@dataclass(frozen=True)
class _Release:
    """One attacked update: the imprinted model, the DP-SGD noise, the device and memory budget."""

    model: ImprintedClassifier
    thresholds: np.ndarray
    sigma: float
    clip_norm: float | None
    device: torch.device
    max_chunk_bytes: int


def _attack_batch(
    release: _Release, images: np.ndarray, labels: np.ndarray, noise_seed: int
) -> tuple[dict[str, np.ndarray], int]:
    """Release one noised update of ``images``, read out the bins, match; the per-image arrays
    and the number of reconstructions."""
    device = release.device
    inputs = torch.from_numpy(images).to(device)
    gradients = dp_sgd_gradient(
        release.model,
        inputs,
        torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device),
        sigma=release.sigma,
        clip_norm=release.clip_norm,
        generator=torch.Generator(device=device).manual_seed(noise_seed),
        released=IMPRINT_PARAMETERS,
        max_chunk_bytes=release.max_chunk_bytes,
    )
    flat, _ = reconstruct_from_imprint(gradients["imprint.weight"], gradients["imprint.bias"])
    del gradients
    raw = flat.reshape(-1, *images.shape[1:])
    candidates = normalise_for_matching(raw)
    originals = normalise_for_matching(inputs)
    matches = best_matches(originals, candidates, max_chunk_bytes=release.max_chunk_bytes)
    chosen = torch.from_numpy(matches.ssim_index).to(device)
    best = candidates[chosen]
    bins = bin_of(images, release.thresholds)
    arrays = {
        "originals": originals.cpu().numpy().astype(np.float32),
        "reconstructions": best.cpu().numpy().astype(np.float32),
        "ssim": matches.ssim,
        "mse": matches.mse,
        **raw_metrics(inputs, raw[chosen]),
        "alone_in_bin": np.bincount(bins, minlength=len(release.thresholds))[bins] == 1,
    }
    return arrays, len(candidates)


def run_imprint_attack(
    images: np.ndarray,
    labels: np.ndarray,
    reference_images: np.ndarray,
    *,
    num_classes: int,
    batch_size: int,
    num_batches: int,
    num_bins: int,
    sigma: float,
    clip_norm: float | None,
    seed: int,
    device: torch.device | str = "cpu",
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> ImprintResult:
    """Attack ``num_batches`` DP-SGD updates of ``batch_size`` training images each.

    The batches are a seeded choice without replacement from ``images`` that does not depend on
    sigma, so every privacy level attacks the same images; the noise is seeded per batch (the same
    on every run of one device type). ``images`` and ``reference_images`` may be memory-mapped
    uint8 or float32 (N, C, H, W) splits, or volumes (N, C, D, H, W) (the imprint block sees every
    voxel; matching scores the mean SSIM of the axial slices); per-sample gradients and the
    matching hold about ``max_chunk_bytes`` at a time.
    """
    if images.ndim not in (4, 5):
        raise ValueError(f"images must be (N, C, H, W) or (N, C, D, H, W), got {images.shape}")
    needed = batch_size * num_batches
    if batch_size < 1 or num_batches < 1 or needed > len(images):
        raise ValueError(
            f"batch_size={batch_size} x num_batches={num_batches} needs {needed} training images; "
            f"the split has {len(images)}"
        )
    check_labels(labels, num_classes)
    thresholds = imprint_thresholds(reference_images, num_bins, max_chunk_bytes=max_chunk_bytes)
    chosen = np.random.default_rng(seed).choice(len(images), needed, replace=False)
    with torch.random.fork_rng():  # seeded head initialisation, global RNG left as it was
        torch.manual_seed(seed)
        model = ImprintedClassifier(thresholds, images.shape[1:], num_classes)
    release = _Release(
        model.to(device), thresholds, sigma, clip_norm, torch.device(device), max_chunk_bytes
    )
    per_batch: list[dict[str, np.ndarray]] = []
    total_reconstructions = 0
    for batch, indices in enumerate(chosen.reshape(num_batches, batch_size)):
        arrays, count = _attack_batch(
            release, unit_float(images[indices]), labels[indices], _noise_seed(seed, batch)
        )
        per_batch.append(arrays | {"batch_index": np.full(batch_size, batch)})
        total_reconstructions += count
    stacked = {key: np.concatenate([part[key] for part in per_batch]) for key in per_batch[0]}
    return ImprintResult(**stacked, num_reconstructions=total_reconstructions)


def summarise_imprint(
    result: ImprintResult,
    ssim_threshold: float,
    criteria: Sequence[SuccessCriterion] = (),
) -> dict[str, object]:
    """Success at eta (SSIM >= eta, the paper's), its 95 % Clopper-Pearson CI (images as
    independent trials), the curves, and under ``criteria`` every criterion's rate and CI: the
    paper's first, then ``criteria``."""
    if not 0 < ssim_threshold <= 1:
        raise ValueError(f"ssim_threshold must be in (0, 1], got {ssim_threshold}")
    paper = SuccessCriterion("ssim", ssim_threshold)
    records = [
        criterion.record(getattr(result, criterion.metric)) for criterion in (paper, *criteria)
    ]
    headline = records[0]
    num_images = len(result.ssim)
    ssim_grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    mse_grid = np.concatenate([[0.0], np.logspace(-6, 0, CURVE_POINTS - 1)])
    return {
        "success_rate": headline["success_rate"],
        "successes": headline["successes"],
        "ci_low": headline["ci_low"],
        "ci_high": headline["ci_high"],
        "ssim_threshold": ssim_threshold,
        "criteria": records,
        "num_images": num_images,
        "num_reconstructions": result.num_reconstructions,
        "share_alone_in_bin": float(np.mean(result.alone_in_bin)),
        "mean_ssim": float(np.mean(result.ssim)),
        "median_mse": float(np.median(result.mse)),
        "curve": {
            "ssim": ssim_grid.tolist(),
            "share": share_at_least(result.ssim, ssim_grid).tolist(),
        },
        "curve_mse": {
            "mse": mse_grid.tolist(),
            "share": share_at_most(result.mse, mse_grid).tolist(),
        },
        "statistic": STATISTIC,
        "matching": "images clipped to [0, 1] and min-max normalised per image; best of the "
        "batch's reconstructions by Gaussian SSIM (window 11, sigma 1.5) and by MSE",
        "raw_metrics": "raw_mse, raw_psnr (dB, data range 1, inf for MSE 0), raw_ncc "
        "(uncentred) and raw_ssim of the best-SSIM reconstruction as read out (not clipped, not "
        "normalised) against the image in [0, 1]",
    }
