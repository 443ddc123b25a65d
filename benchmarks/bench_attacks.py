"""Attack matching speed and the time of one default attack job, in one run.

1. All-vs-all SSIM of one imprint batch (16 originals x 64 reconstructions, 28x28 grayscale):
   the vectorised ``ssim_matrix`` against a Python loop over ``skimage`` pairs, interleaved
   round by round so background load hits both alike; prints the median time per 1,000 pairs
   and the ratio, and the largest difference between the two.
2. One attack job (``rero.attacks.job.run_attacks``, what ``python -m rero attack`` calls) with the
   config schema's defaults (imprint: 4 batches of 16, 64 bins; prior-aware: M = 8, |D-| = 32,
   1,000 trials, T = 20, q = 1) on a default-sized
   dataset (8,000 train / 1,000 val images, 28x28x1) at epsilon = 8 with the default study's
   schedule (batch 256, 8 epochs, delta 1e-5): the handler's wall time in this process, per
   attack, plus the import time of a fresh interpreter; the default study runs 5 such jobs.

Usage: .venv/bin/python benchmarks/bench_attacks.py
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from rero import config as study_config
from rero.attacks.job import ATTACKS, ImprintSettings, PriorAwareSettings, run_attacks
from rero.attacks.matching import normalise_for_matching, ssim_matrix
from rero.data import prepare_dataset
from rero.privacy.calibration import calibrate

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"

NUM_ORIGINALS, NUM_RECONSTRUCTIONS, SIDE = 16, 64, 28
ROUNDS = 5
DATASET_SIZES = {"train": 8000, "val": 1000, "test": 1000}
STUDY_BATCH, STUDY_EPOCHS, STUDY_DELTA, STUDY_JOBS = 256, 8, 1e-5, 5


def _smooth_images(count: int, rng: np.random.Generator) -> np.ndarray:
    fields = ndimage.gaussian_filter(rng.standard_normal((count, SIDE, SIDE)), sigma=(0, 2, 2))
    low = fields.min(axis=(1, 2), keepdims=True)
    fields = (fields - low) / (fields.max(axis=(1, 2), keepdims=True) - low)
    contrast = rng.uniform(0.3, 0.7, (count, 1, 1))
    return (rng.uniform(0.0, 1.0 - contrast) + contrast * fields)[:, None].astype(np.float32)


def _skimage_loop(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    return np.array(
        [
            [
                structural_similarity(
                    x[0],
                    y[0],
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                    data_range=1.0,
                )
                for y in reconstructions
            ]
            for x in originals
        ]
    )


def bench_matching(print_fn: Callable[[str], None]) -> dict[str, float]:
    """Median seconds per 1,000 SSIM pairs, vectorised and skimage loop, side by side."""
    rng = np.random.default_rng(0)
    originals = normalise_for_matching(_smooth_images(NUM_ORIGINALS, rng))
    reconstructions = normalise_for_matching(_smooth_images(NUM_RECONSTRUCTIONS, rng))
    pairs = NUM_ORIGINALS * NUM_RECONSTRUCTIONS
    times: dict[str, list[float]] = {"vectorised": [], "skimage loop": []}
    for _ in range(ROUNDS):
        for name, function in (("vectorised", ssim_matrix), ("skimage loop", _skimage_loop)):
            start = time.perf_counter()
            function(originals, reconstructions)
            times[name].append((time.perf_counter() - start) / pairs * 1000)
    difference = np.abs(
        ssim_matrix(originals, reconstructions) - _skimage_loop(originals, reconstructions)
    ).max()
    medians = {name: statistics.median(values) for name, values in times.items()}
    print_fn(f"SSIM all-vs-all, {NUM_ORIGINALS} x {NUM_RECONSTRUCTIONS} pairs of {SIDE}x{SIDE}:")
    for name, value in medians.items():
        print_fn(f"  {name:<13} {value * 1000:8.1f} ms per 1,000 pairs")
    ratio = medians["skimage loop"] / medians["vectorised"]
    print_fn(f"  speed-up {ratio:.1f}x; max |difference| {difference:.1e}")
    return medians


def _prepare_default_sized_dataset(folder: Path) -> Path:
    """A MedMNIST-layout file of smooth images, prepared by the real ``prepare_dataset``."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in DATASET_SIZES.items():
        arrays[f"{split}_images"] = np.round(_smooth_images(count, rng)[:, 0] * 255).astype(
            np.uint8
        )
        arrays[f"{split}_labels"] = (np.arange(count) % 3).astype(np.uint8)
    np.savez(folder / "source.npz", **arrays)
    prepare_dataset("benchmark", "medmnist", {"path": str(folder / "source.npz")}, folder / "data")
    return folder / "data"


def default_attack_settings() -> tuple[int, ImprintSettings, PriorAwareSettings]:
    """The attack settings of the config schema's defaults (the seed and both attacks)."""
    config: dict = {"attack": {}}
    study_config.fill_defaults(config, study_config.load_schema(SCHEMA))
    attack = config["attack"]
    return (
        attack["seed"],
        ImprintSettings(**attack["imprint"]),
        PriorAwareSettings(**attack["prior_aware"]),
    )


def bench_job(print_fn: Callable[[str], None]) -> dict[str, float]:
    """Wall time of one default attack job (in process) and of the imports."""
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = _prepare_default_sized_dataset(Path(scratch))
        num_train = DATASET_SIZES["train"]
        plan = calibrate(
            8.0,
            sample_rate=STUDY_BATCH / num_train,
            steps=STUDY_EPOCHS * math.ceil(num_train / STUDY_BATCH),
            delta=STUDY_DELTA,
            dataset_size=num_train,
        )
        seed, imprint, prior_aware = default_attack_settings()
        start = time.perf_counter()
        records = run_attacks(
            data_dir,
            plan,
            Path(scratch) / "out",
            attacks=ATTACKS,
            imprint=imprint,
            prior_aware=prior_aware,
            seed=seed,
        )
        job = time.perf_counter() - start
        per_attack = {name: record["wall_time_s"] for name, record in records.items()}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rero.commands.attack"], check=True)
    imports = time.perf_counter() - start
    print_fn(f"Default attack job at epsilon 8 ({torch.get_num_threads()} torch threads):")
    for name, seconds in per_attack.items():
        print_fn(f"  {name:<12} {seconds:6.2f} s")
    print_fn(f"  whole job    {job:6.2f} s in process, + {imports:.2f} s imports in a new process")
    total = STUDY_JOBS * (job + imports)
    print_fn(f"  default study ({STUDY_JOBS} epsilon values, one after another): {total:.0f} s")
    return {"job_s": job, "imports_s": imports, **per_attack}


def run(print_fn: Callable[[str], None] = print) -> dict[str, object]:
    """Both measurements; returns their numbers."""
    torch.set_num_threads(1)
    return {"matching": bench_matching(print_fn), "job": bench_job(print_fn)}


if __name__ == "__main__":
    run(print_fn=print)
