"""Validation of the from-scratch law (Riess et al. 2024, arXiv:2402.12861) against real Opacus
DP-SGD releases inverted analytically (``rero.attacks.linear_inversion``).

Each image is released alone through an Opacus ``DPOptimizer`` step on a bias-free linear trap
(M = 2 rows, loss sum(y), clip norm C = 1, noise σC) and reconstructed by the unbiased linear
inversion. Per σ: the KS test of the probability-integral transform F_X(MSE) (each image's own
Gamma law) against U(0, 1), the mean MSE over the law's mean σ²||X||², and the fraction below the
law's median. A last case turns clipping off (C = 100, so M < (C/||X||)^2): the noise is then
σC/√M per pixel and the law, which assumes σ||X||, errs high (its mean ratio is printed beside
the predicted one). The images are the default study's MNI152 training patches (N = 784);
``--quick``: 100 synthetic 64-pixel images, two σ.

Published operating points: the authors' repository (TUM-AIMED/FromMeanToExtreme) writes its
numbers under a git-ignored ``results/`` and its figures at run time; none is readable there,
so none is reproduced here.

Usage: .venv/bin/python benchmarks/bench_from_scratch_validation.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from rero.attacks.linear_inversion import invert_releases
from rero.privacy.rero.from_scratch import mse_law

SIGMAS, QUICK_SIGMAS = (0.003, 0.01, 0.05), (0.01, 0.05)
IMAGES, QUICK_IMAGES, INACTIVE_IMAGES = 1000, 100, 200
ROWS, CLIP_NORM, INACTIVE_CLIP_NORM = 2, 1.0, 100.0


def validation_images(quick: bool) -> np.ndarray:
    """(n, N) float64 images in [0, 1]: MNI152 training patches, or synthetic with --quick."""
    if quick:
        return np.random.default_rng(0).uniform(0, 1, (QUICK_IMAGES, 64))
    from rero.data.mni152 import load_mni152

    images = np.asarray(load_mni152().train.images[:IMAGES])
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return images.reshape(len(images), -1).astype(np.float64) / scale


def compare(images: np.ndarray, sigma: float, clip_norm: float, seed: int) -> dict[str, float]:
    """KS p-value, mean MSE ratio to the law's mean and fraction below the law's median."""
    norms = np.linalg.norm(images, axis=1)
    dimension = images.shape[1]
    recons = invert_releases(images, sigma=sigma, clip_norm=clip_norm, rows=ROWS, seed=seed)
    mse = ((recons - images) ** 2).mean(axis=1)
    laws = [mse_law(sigma, dimension, norm) for norm in norms]
    levels = np.array([law.cdf(value) for law, value in zip(laws, mse, strict=True)])
    medians = np.array([law.median() for law in laws])
    return {
        "ks_p": float(stats.kstest(levels, "uniform").pvalue),
        "mean_ratio": float(mse.mean() / np.mean((sigma * norms) ** 2)),
        "below_median": float(np.mean(mse <= medians)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 synthetic images, two sigmas")
    args = parser.parse_args()
    images = validation_images(args.quick)
    norms = np.linalg.norm(images, axis=1)
    print(
        f"{len(images)} images, N = {images.shape[1]}, ||X|| in [{norms.min():.3f}, "
        f"{norms.max():.3f}], M = {ROWS}, C = {CLIP_NORM:g} (clipping active: M >= (C/||X||)^2 "
        f"for {np.mean((CLIP_NORM / norms) ** 2 <= ROWS):.0%} of them)"
    )
    print(f"{'sigma':>8} {'KS p':>8} {'mean MSE / law':>15} {'P(MSE <= median)':>17} {'s':>6}")
    for seed, sigma in enumerate(QUICK_SIGMAS if args.quick else SIGMAS):
        start = time.perf_counter()
        result = compare(images, sigma, CLIP_NORM, seed)
        elapsed = time.perf_counter() - start
        print(
            f"{sigma:>8g} {result['ks_p']:>8.3f} {result['mean_ratio']:>15.4f} "
            f"{result['below_median']:>17.3f} {elapsed:>6.1f}"
        )
    subset = images[:INACTIVE_IMAGES]
    inactive = compare(subset, 0.01, INACTIVE_CLIP_NORM, seed=99)
    predicted = INACTIVE_CLIP_NORM**2 / ROWS / np.mean((subset**2).sum(axis=1))
    print(
        f"clipping inactive (C = {INACTIVE_CLIP_NORM:g}): mean MSE / law = "
        f"{inactive['mean_ratio']:.4g} (predicted (C^2/M) / mean ||X||^2: {predicted:.4g}), "
        f"P(MSE <= law median) = {inactive['below_median']:.3f}: the law errs high"
    )
    print("published operating points: none readable in the authors' repository")


if __name__ == "__main__":
    main()
