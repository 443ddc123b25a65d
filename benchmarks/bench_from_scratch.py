"""From-scratch reconstruction law (Riess et al. 2024, arXiv:2402.12861) on the default study:
the curves over the dense ε grid for every training image, timed.

The default study (``config.yaml``, read by ``study_settings``) is MNI152 patches, 28 x 28 in
[0, 1] (N = 784), q = 256 / 8,000, T = 256, δ = 1e-5; its dense ε grid is ``eps`` and
``bounds.extra_eps``, σ per ε calibrated with the config's accountant as the workflow does. The
images are the training split of the default loader (``rero.data.mni152.load_mni152``). It
times ``curves_over_images`` (one release and the whole run, P(PSNR ≥ 30 dB)) over every
(σ, image) pair, a per-image loop of the same functions on a subset (per image, the ratio), and
prints the success per ε at the smallest, 5 %-quantile and median norm and averaged over images.
``--quick``: 500 synthetic images, the first three budgets.

Usage: .venv/bin/python benchmarks/bench_from_scratch.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from study_settings import DEFAULT_STUDY, schedules, study_config

from rero.privacy.calibration import calibrate_grid
from rero.privacy.rero.from_scratch import psnr_to_mse, single_release_success, whole_run_success
from rero.privacy.rero.from_scratch_images import (
    curves_over_images,
    image_dimension,
    image_norms,
    summarise_norms,
)
from rero.study.checks import dataset_settings
from rero.study.tokens import merged_eps_tokens, parse_eps_token

PSNR_DB = 30.0
QUICK_IMAGES, QUICK_BUDGETS, LOOP_IMAGES = 500, 3, 200
TARGET_SECONDS = 2.0


def training_images(quick: bool) -> np.ndarray:
    """The default study's training images as floats in [0, 1] (synthetic ones with --quick)."""
    if quick:
        return np.random.default_rng(0).uniform(0, 1, (QUICK_IMAGES, 1, 28, 28))
    from rero.data.mni152 import load_mni152

    images = np.asarray(load_mni152().train.images)
    return images.astype(np.float64) / 255 if images.dtype == np.uint8 else images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="synthetic images, three budgets")
    args = parser.parse_args()
    config = study_config(DEFAULT_STUDY)
    name, schedule = next(iter(schedules(config).items()))
    tokens = merged_eps_tokens([str(e) for e in config["eps"]], config["bounds"]["extra_eps"])
    budgets = sorted(b for b in map(parse_eps_token, tokens) if math.isfinite(b))
    budgets = budgets[:QUICK_BUDGETS] if args.quick else budgets
    accountant = dataset_settings(config, name, "privacy")["accountant"]
    plans = calibrate_grid(
        budgets, schedule.sample_rate, schedule.steps, schedule.delta, accountant=accountant
    )
    sigmas = np.array([plan.sigma for plan in plans])
    images = training_images(args.quick)
    dimension, norms = image_dimension(images), image_norms(images)
    summary = summarise_norms(norms)
    threshold = float(psnr_to_mse(PSNR_DB))
    law = {"dimension": dimension, "sample_rate": schedule.sample_rate, "steps": schedule.steps}
    print(
        f"{name}: {len(norms)} training images, N = {dimension}, q = {schedule.sample_rate:g}, "
        f"T = {schedule.steps}, {len(sigmas)} budgets; norms: smallest {summary.smallest:.3f}, "
        f"5 % {summary.quantile_5:.3f}, median {summary.median:.3f}"
    )

    start = time.perf_counter()
    curves = curves_over_images(threshold, sigmas=sigmas, norms=norms, **law)
    vectorised = time.perf_counter() - start
    subset = norms[:LOOP_IMAGES]
    start = time.perf_counter()
    for norm in subset:
        single_release_success(threshold, sigma=sigmas, dimension=dimension, data_norm=norm)
        whole_run_success(threshold, sigma=sigmas, data_norm=norm, **law)
    looped = (time.perf_counter() - start) / len(subset)
    per_image = vectorised / len(norms)
    print(
        f"vectorised: {vectorised:.3f} s for {len(sigmas)} x {len(norms)} (target <= "
        f"{TARGET_SECONDS:g} s: {'met' if vectorised <= TARGET_SECONDS else 'MISSED'}); "
        f"per-image loop: {looped * 1e3:.2f} ms per image ({len(subset)} timed), "
        f"{looped / per_image:.0f}x the vectorised time per image"
    )

    mean_single, mean_whole = curves.mean_over_images()
    columns = {
        "smallest": summary.smallest,
        "5 %": summary.quantile_5,
        "median": summary.median,
    }
    print(
        f"\nP(PSNR >= {PSNR_DB:g} dB), one release | whole run (every inclusion averaged; "
        "errs high by <= 1e-12, the binomial mass left out)"
    )
    print(f"{'eps':>8} {'sigma':>10}" + "".join(f" {c:>21}" for c in [*columns, "mean"]))
    for row, (budget, sigma) in enumerate(zip(budgets, sigmas, strict=True)):
        cells = []
        for norm in columns.values():
            one = single_release_success(
                threshold, sigma=sigma, dimension=dimension, data_norm=norm
            )
            whole = whole_run_success(threshold, sigma=sigma, data_norm=norm, **law)
            cells.append(f"{float(one):9.3g} | {float(whole):9.3g}")
        cells.append(f"{mean_single[row]:9.3g} | {mean_whole[row]:9.3g}")
        print(f"{budget:>8g} {sigma:>10.4g}" + "".join(f" {cell:>21}" for cell in cells))


if __name__ == "__main__":
    main()
