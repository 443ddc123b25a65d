"""How close each matched reconstruction is, in the image's own units: the raw metrics.

The imprint attack matches reconstructions to images after the paper's display normalisation
(:func:`rero.attacks.matching.normalise_for_matching`: clip to [0, 1], min-max per image), which
changes their units. The from-scratch bound of Riess et al. 2024 (arXiv:2402.12861) is stated for
the reconstruction as the server inverts it, with no data prior: P(MSE ≤ η), P(PSNR ≥ τ) on data
range 1, and NCC. So the raw metrics compare the true image (in [0, 1]) with its matched
reconstruction exactly as the read-out gives it: neither clipped to [0, 1] (knowing the data range
is a prior the bound does not grant) nor normalised. Each is one value per (image,
reconstruction) pair:

- ``raw_mse``: mean over pixels (and channels, slices) of the squared difference.
- ``raw_psnr``: 10 log10(R² / MSE) dB with data range R = 1 (the definition of
  ``skimage.metrics.peak_signal_noise_ratio``); +∞ for an exact reconstruction (MSE 0), not capped.
- ``raw_ncc``: uncentred normalised cross-correlation <x, x̂> / (‖x‖ ‖x̂‖), the cosine of the
  pixel vectors: for x̂ = x + σ‖x‖z it concentrates at 1 / √(1 + Nσ²), the form of Riess et al.'s
  NCC bound. 1 when both images are zero, 0 when only one is (no direction to compare).
- ``raw_ssim``: the SSIM of Wang et al. 2004 as the matching computes it (Gaussian window 11,
  σ 1.5, data range 1; volumes by their axial slices), on the raw values.
"""

from __future__ import annotations

import numpy as np
import torch

from rero.attacks.matching import ImageArray, paired_ssim

RAW_METRICS = ("raw_mse", "raw_psnr", "raw_ncc", "raw_ssim")
PSNR_DATA_RANGE = 1.0


def paired_mse(originals: ImageArray, reconstructions: ImageArray) -> np.ndarray:
    """Mean squared error of each pair (originals[i], reconstructions[i]), float64 on the CPU."""
    x, y = _flat_pairs(originals, reconstructions)
    difference = x - y
    return np.mean(difference * difference, axis=1)


def psnr_from_mse(mse: np.ndarray, data_range: float = PSNR_DATA_RANGE) -> np.ndarray:
    """PSNR in dB, 10 log10(R² / MSE); +∞ where the MSE is 0."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def paired_ncc(originals: ImageArray, reconstructions: ImageArray) -> np.ndarray:
    """Uncentred normalised cross-correlation <x, y> / (‖x‖ ‖y‖) of each pair (1 when both are
    zero, 0 when one is)."""
    x, y = _flat_pairs(originals, reconstructions)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    inner = np.sum(x * y, axis=1)
    both_zero = ~np.any(x, axis=1) & ~np.any(y, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, inner / safe, np.where(both_zero, 1.0, 0.0))


def raw_metrics(originals: ImageArray, reconstructions: ImageArray) -> dict[str, np.ndarray]:
    """The four raw metrics (:data:`RAW_METRICS`) of each pair, as float64 arrays.

    ValueError when one is NaN (a reconstruction too large for float64): a broken computation
    is never reported.
    """
    mse = paired_mse(originals, reconstructions)
    metrics = {
        "raw_mse": mse,
        "raw_psnr": psnr_from_mse(mse),
        "raw_ncc": paired_ncc(originals, reconstructions),
        "raw_ssim": paired_ssim(originals, reconstructions).cpu().numpy(),
    }
    broken = [name for name, values in metrics.items() if np.isnan(values).any()]
    if broken:
        raise ValueError(
            f"raw metrics {broken} are NaN for some reconstruction: its values overflow float64"
        )
    return metrics


def _flat_pairs(
    originals: ImageArray, reconstructions: ImageArray
) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as (n, pixels) float64 numpy arrays, checked to pair up one to one."""
    x = torch.as_tensor(originals, dtype=torch.float64).cpu().numpy()
    y = torch.as_tensor(reconstructions, dtype=torch.float64).cpu().numpy()
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(
            "originals and reconstructions must pair up one to one with the same shape; got "
            f"{x.shape} and {y.shape}"
        )
    return x.reshape(len(x), -1), y.reshape(len(y), -1)
