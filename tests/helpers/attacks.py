"""Images and settings the attack tests share: smooth random fields in [0, 1], an imprint attack
on them, a prepared dataset of them and the attack command's flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from rero.attacks.imprint import run_imprint_attack
from tests.helpers import prepare_toy_dataset


def skimage_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """scikit-image's SSIM with Wang et al.'s Gaussian window (σ 1.5), data range 1, channels
    first: the independent reference for the attacks' own SSIM."""
    return structural_similarity(
        x,
        y,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=0,
    )


def realistic_images(count: int, seed: int, size: int = 28) -> np.ndarray:
    """Smooth random fields, varied brightness and contrast: (count, 1, size, size) in [0, 1]."""
    rng = np.random.default_rng(seed)
    fields = ndimage.gaussian_filter(rng.standard_normal((count, size, size)), sigma=(0, 2, 2))
    low = fields.min(axis=(1, 2), keepdims=True)
    fields = (fields - low) / (fields.max(axis=(1, 2), keepdims=True) - low)
    contrast = rng.uniform(0.3, 0.7, (count, 1, 1))
    offset = rng.uniform(0.0, 1.0 - contrast)
    return (offset + contrast * fields)[:, None].astype(np.float32)


def imprint_on_fields(sigma: float, clip_norm: float | None, seed: int = 0, **changes):
    """The imprint attack on 160 smooth fields (3 classes, 3 batches of 16, 32 bins), with
    ``changes`` to its settings."""
    images = realistic_images(160, seed=8)
    settings = {
        "num_classes": 3,
        "batch_size": 16,
        "num_batches": 3,
        "num_bins": 32,
        "sigma": sigma,
        "clip_norm": clip_norm,
        "seed": seed,
    }
    return run_imprint_attack(
        changes.pop("images", images),
        np.random.default_rng(9).integers(0, 3, len(images)),
        changes.pop("reference", realistic_images(800, seed=10)),
        **settings | changes,
    )


def prepared_fields(tmp_path: Path) -> Path:
    """120 training images (16x16 smooth fields, 2 classes), 60 val and test, prepared for real."""
    images = {
        split: np.round(realistic_images(count, seed=20 + index, size=16)[:, 0] * 255).astype(
            np.uint8
        )
        for index, (split, count) in enumerate((("train", 120), ("val", 60), ("test", 60)))
    }
    return prepare_toy_dataset(
        tmp_path / "data", name="tiny", num_classes=2, n_train=120, n_eval=60, images=images
    )


ATTACK_SETTINGS = {
    "--seed": "0",
    "--batch-size": "8",
    "--num-batches": "2",
    "--num-bins": "16",
    "--ssim-threshold": "0.95",
    "--noise-calibration": "full",
    "--reference-split": "val",
    "--prior-size": "8",
    "--known-size": "8",
    "--trials": "10",
    "--attack-steps": "3",
    "--attack-sample-rate": "1.0",
    "--attack-clip-norm": "0.1",
    "--attack-learning-rate": "0.1",
}
