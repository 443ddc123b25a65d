"""Attack matching speed and the time of one default attack job, in one run.

The attack settings are those the workflow's attack jobs get, read from its config files with its
own code (``study_settings``, ``rero.study.checks.dataset_settings``).

1. All-vs-all SSIM of one imprint batch (16 originals x 64 reconstructions, 28x28 grayscale):
   the vectorised ``ssim_matrix`` against a Python loop over ``skimage`` pairs, interleaved
   round by round so background load hits both alike; prints the median time per 1,000 pairs
   and the ratio, and the largest difference between the two.
2. One attack job (``rero.attacks.job.run_attacks``, what ``python -m rero attack`` calls) with the
   shipped default study's settings (``config.yaml``: imprint 4 batches of 16, 64 bins; prior-aware
   M = 8, |D-| = 32, 1,000 trials, T = 20, q = 1) on a dataset of the default study's sizes
   (8,000 train / 1,000 val / 2,000 test images, 28x28x1) at epsilon = 8 with its schedule
   (batch 256, 8 epochs, delta 1e-5): the handler's wall time in this process, per attack, plus
   the import time of a fresh interpreter; the default study runs one such job per budget (5).
3. Paper-scale imprint jobs at 224 px (``run_imprint_attack`` on uint8 memory-mapped splits, as
   prepared) with the imprint settings and clip norms of ``workflow/configs/paper.yaml``:
   HAM10000 (3 channels, batch 16, 32 bins, 5 batches, 2 classes, C = 9) and RadImageNet
   (1 channel, batch 128, 256 bins, 5 batches, 165 classes, C = 5.66; on the CPU batch 32 with
   64 bins unless ``--full``), each in a fresh process: wall time, peak RSS above the process's
   start (imports, mapped splits) and, on CUDA, the peak of allocated GPU memory; beside each,
   the prior-aware attack with that dataset's settings (the schema's defaults) on the same split.
4. Matching memory: ``best_matches`` of 128 originals against reconstructions at 224 x 224 x 3
   (256 of them with ``--full`` or on CUDA, else 8) in a fresh process: peak RSS above the inputs.

``--quick`` runs every part at small sizes (:data:`QUICK`): 4 x 8 SSIM pairs, one round; a job on
240 / 60 / 60 images, batch 60, one epoch, 2 imprint batches of 8, 8 prior-aware trials of 3
steps; HAM10000 only at paper scale, 32 px splits, one batch of 4; 4 reconstructions matched;
on the CPU unless ``--device``.

Usage: .venv/bin/python benchmarks/bench_attacks.py [--device auto|cpu|cuda] [--full]
       [--only matching|job|paper] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity
from study_settings import DEFAULT_STUDY, PAPER_STUDY, schedules, study_config

from rero.attacks.imprint import run_imprint_attack, summarise_imprint
from rero.attacks.job import (
    ATTACKS,
    CalibrationPolicy,
    ImprintSettings,
    PriorAwareSettings,
    run_attacks,
)
from rero.attacks.matching import best_matches, normalise_for_matching, ssim_matrix
from rero.attacks.prior_aware import run_prior_aware_attack
from rero.attacks.success import SuccessCriterion
from rero.data.prepare import prepare_dataset
from rero.data.registry import expected_split_sizes
from rero.privacy.accounting.base import sampling_schedule
from rero.privacy.calibration import calibrate
from rero.runtime.device import DEVICES, resolve_device
from rero.study.checks import dataset_settings

SIDE = 28
DEFAULT_DATASET = "mni152"
# name in the paper config: channels, classes, the CPU's reduced physical batch
PAPER_JOBS = {"ham10000": (3, 2, 16), "radimagenet": (1, 165, 32)}
MATCHING_ORIGINALS = 128


@dataclass(frozen=True)
class Scale:
    """The sizes every part runs at; None or empty: the shipped configs' own."""

    ssim_originals: int = 16
    ssim_reconstructions: int = 64
    rounds: int = 5
    dataset_sizes: dict[str, int] | None = None
    schedule: tuple[int, int] | None = None  # (batch, epochs)
    imprint: dict[str, int] = dataclasses.field(default_factory=dict)
    prior_aware: dict[str, int] = dataclasses.field(default_factory=dict)
    paper_side: int = 224
    paper_train: int = 700
    paper_reference: int = 1024
    paper_batches: int | None = None
    paper_batch: int | None = None  # every paper job's physical batch (None: paper or CPU's)
    paper_jobs: int | None = None  # the first of PAPER_JOBS only (None: all)
    paper_prior_aware: bool = True  # the prior-aware attack beside each paper-scale imprint job
    matching_reconstructions: tuple[int, int] = (256, 8)  # (with --full or on CUDA, else)


QUICK = Scale(
    ssim_originals=4,
    ssim_reconstructions=8,
    rounds=1,
    dataset_sizes={"train": 240, "val": 60, "test": 60},
    schedule=(60, 1),
    imprint={"batch_size": 8, "num_batches": 2, "num_bins": 16},
    prior_aware={"prior_size": 4, "trials": 8, "steps": 3},
    paper_side=32,
    paper_train=40,
    paper_reference=64,
    paper_batches=1,
    paper_batch=4,
    paper_jobs=1,
    matching_reconstructions=(4, 4),
)


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


def bench_matching(print_fn: Callable[[str], None], scale: Scale) -> dict[str, float]:
    """Median seconds per 1,000 SSIM pairs, vectorised and skimage loop, side by side."""
    rng = np.random.default_rng(0)
    num_originals, num_reconstructions = scale.ssim_originals, scale.ssim_reconstructions
    originals = normalise_for_matching(_smooth_images(num_originals, rng)).numpy()
    reconstructions = normalise_for_matching(_smooth_images(num_reconstructions, rng)).numpy()
    pairs = num_originals * num_reconstructions
    times: dict[str, list[float]] = {"vectorised": [], "skimage loop": []}
    for _ in range(scale.rounds):
        for name, function in (("vectorised", ssim_matrix), ("skimage loop", _skimage_loop)):
            start = time.perf_counter()
            function(originals, reconstructions)
            times[name].append((time.perf_counter() - start) / pairs * 1000)
    difference = np.abs(
        ssim_matrix(originals, reconstructions).numpy() - _skimage_loop(originals, reconstructions)
    ).max()
    medians = {name: statistics.median(values) for name, values in times.items()}
    print_fn(f"SSIM all-vs-all, {num_originals} x {num_reconstructions} pairs of {SIDE}x{SIDE}:")
    for name, value in medians.items():
        print_fn(f"  {name:<13} {value * 1000:8.1f} ms per 1,000 pairs")
    ratio = medians["skimage loop"] / medians["vectorised"]
    print_fn(f"  speed-up {ratio:.1f}x; max |difference| {difference:.1e}")
    return medians


def _prepare_dataset(folder: Path, sizes: dict[str, int]) -> Path:
    """A MedMNIST-layout file of smooth images, prepared by the real ``prepare_dataset``."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in sizes.items():
        arrays[f"{split}_images"] = np.round(_smooth_images(count, rng)[:, 0] * 255).astype(
            np.uint8
        )
        arrays[f"{split}_labels"] = (np.arange(count) % 3).astype(np.uint8)
    np.savez(folder / "source.npz", **arrays)
    prepare_dataset("benchmark", "medmnist", {"path": str(folder / "source.npz")}, folder / "data")
    return folder / "data"


def attack_settings(
    config: dict[str, Any], dataset: str, scale: Scale
) -> tuple[int, ImprintSettings, PriorAwareSettings]:
    """The seed and both attacks' settings a dataset's attack jobs get (the imprint attack at a
    private plan: the training's clip norm), with ``scale``'s sizes laid over them."""
    attack = dataset_settings(config, dataset, "attack")
    imprint = {**attack["imprint"], **scale.imprint}
    success = tuple(SuccessCriterion(**criterion) for criterion in imprint.pop("success", ()))
    return (
        attack["seed"],
        ImprintSettings(
            clip_norm=dataset_settings(config, dataset, "privacy")["clip_norm"],
            success=success,
            **imprint,
        ),
        PriorAwareSettings(**{**attack["prior_aware"], **scale.prior_aware}),
    )


def bench_job(print_fn: Callable[[str], None], scale: Scale) -> dict[str, float]:
    """Wall time of one default attack job (in process) and of the imports."""
    config = study_config(DEFAULT_STUDY)
    entry = config["datasets"][DEFAULT_DATASET]
    sizes = scale.dataset_sizes or expected_split_sizes(entry["loader"], entry.get("options", {}))
    schedule = schedules(config)[DEFAULT_DATASET]
    batch, epochs = scale.schedule or (schedule.batch_size, schedule.epochs)
    num_train = sizes["train"]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = _prepare_dataset(Path(scratch), sizes)
        plan = calibrate(
            8.0,
            *sampling_schedule(num_train, batch, epochs),
            delta=schedule.delta,
            dataset_size=num_train,
        )
        seed, imprint, prior_aware = attack_settings(config, DEFAULT_DATASET, scale)
        privacy = dataset_settings(config, DEFAULT_DATASET, "privacy")
        start = time.perf_counter()
        records = run_attacks(
            data_dir,
            plan,
            Path(scratch) / "out",
            attacks=ATTACKS,
            imprint=imprint,
            prior_aware=prior_aware,
            seed=seed,
            policy=CalibrationPolicy(privacy["accountant"], privacy["eps_tolerance"]),
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
    jobs = len(config["eps"])
    total = jobs * (job + imports)
    print_fn(f"  default study ({jobs} epsilon values, one after another): {total:.0f} s")
    return {"job_s": job, "imports_s": imports, **per_attack}


def _memory_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process's memory, MB, from
    /proc (Linux; ``ru_maxrss`` would count the parent's memory before ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _write_split(
    path: Path, count: int, channels: int, side: int, rng: np.random.Generator
) -> None:
    """Smooth ``side`` px images written as uint8 .npy, a hundred at a time (a prepared split)."""
    stored = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(count, channels, side, side)
    )
    for start in range(0, count, 100):
        size = min(100, count - start)
        fields = ndimage.gaussian_filter(
            rng.standard_normal((size * channels, side, side)), sigma=(0, 4, 4)
        )
        low = fields.min(axis=(1, 2), keepdims=True)
        fields = (fields - low) / (fields.max(axis=(1, 2), keepdims=True) - low)
        stored[start : start + size] = np.round(fields * 255).reshape(
            size, channels, *fields.shape[1:]
        )
    stored.flush()


def _child(spec: dict) -> dict[str, float]:
    """One measurement in this (fresh) process: a paper-scale imprint job or one matching."""
    device = resolve_device(spec["device"])
    torch.set_num_threads(1)
    folder = Path(spec["folder"])
    start_rss = _memory_mb("VmRSS")
    start = time.perf_counter()
    if spec["kind"] == "imprint":
        images = np.load(folder / "train_images.npy", mmap_mode="r")
        result = run_imprint_attack(
            images,
            np.arange(len(images)) % spec["classes"],
            np.load(folder / "val_images.npy", mmap_mode="r"),
            num_classes=spec["classes"],
            batch_size=spec["batch"],
            num_batches=spec["batches"],
            num_bins=spec["bins"],
            sigma=1.0,
            clip_norm=spec["clip_norm"],
            seed=0,
            device=device,
        )
        outcome = {"success": summarise_imprint(result, 0.95)["success_rate"]}
    elif spec["kind"] == "prior_aware":
        images = np.load(folder / "train_images.npy", mmap_mode="r")
        settings = PriorAwareSettings(**spec["prior_aware"])
        result = run_prior_aware_attack(
            images,
            np.arange(len(images)) % spec["classes"],
            num_classes=spec["classes"],
            prior_size=settings.prior_size,
            known_size=settings.known_size,
            trials=settings.trials,
            steps=settings.steps,
            sample_rate=settings.sample_rate,
            sigma=1.0,
            clip_norm=settings.clip_norm,
            learning_rate=settings.learning_rate,
            seed=0,
            device=device,
        )
        outcome = {"success": result.success_rate}
    else:
        rng = np.random.default_rng(0)
        shape = (3, spec["side"], spec["side"])
        originals = torch.from_numpy(rng.random((MATCHING_ORIGINALS, *shape))).to(device)
        candidates = torch.from_numpy(rng.random((spec["reconstructions"], *shape))).to(device)
        start_rss = _memory_mb("VmRSS")
        best_matches(originals, candidates)
        outcome = {}
    if device.type == "cuda":
        torch.cuda.synchronize()
        outcome["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return outcome | {
        "wall_s": time.perf_counter() - start,
        "rss_above_start_mb": _memory_mb("VmHWM") - start_rss,
    }


def _in_fresh_process(spec: dict) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench_paper_scale(
    print_fn: Callable[[str], None], device: str, full: bool, scale: Scale
) -> dict[str, dict[str, float]]:
    """Paper-scale imprint jobs and the matching's memory, each in a fresh process."""
    on_cuda = resolve_device(device).type == "cuda"
    config = study_config(PAPER_STUDY)
    side = scale.paper_side
    results = {}
    print_fn(f"Paper-scale imprint jobs at {side} px, on {device}:")
    with tempfile.TemporaryDirectory() as scratch:
        for name, (channels, classes, cpu_batch) in list(PAPER_JOBS.items())[: scale.paper_jobs]:
            _, imprint, prior_aware = attack_settings(config, name, scale)
            folder = Path(scratch) / name
            folder.mkdir()
            rng = np.random.default_rng(2)
            _write_split(folder / "train_images.npy", scale.paper_train, channels, side, rng)
            _write_split(folder / "val_images.npy", scale.paper_reference, channels, side, rng)
            batch = imprint.batch_size if full or on_cuda else cpu_batch
            batch = scale.paper_batch or batch
            bins = imprint.num_bins * batch // imprint.batch_size  # as many bins per image
            batches = scale.paper_batches or imprint.num_batches
            spec = {"kind": "imprint", "folder": str(folder), "device": device, "batch": batch,
                    "bins": bins, "batches": batches, "classes": classes,
                    "clip_norm": imprint.clip_norm,
                    "prior_aware": dataclasses.asdict(prior_aware)}  # fmt: skip
            measured = _in_fresh_process(spec)
            results[name] = measured | {"batch": batch, "batches": batches, "bins": bins}
            gpu = f", GPU peak {measured['cuda_peak_mb']:.0f} MB" if on_cuda else ""
            print_fn(
                f"  {name:<12} {channels} ch, {batches} x batch {batch:>3}, {bins:>3} bins: "
                f"{measured['wall_s']:7.1f} s, RSS +{measured['rss_above_start_mb']:.0f} MB{gpu}"
            )
            if not scale.paper_prior_aware:
                continue
            spec["kind"] = "prior_aware"
            results[f"{name} prior-aware"] = measured = _in_fresh_process(spec)
            print_fn(
                f"  {'':<12} prior-aware (the dataset's settings, pooled to 32 px):       "
                f"{measured['wall_s']:7.1f} s, RSS +{measured['rss_above_start_mb']:.0f} MB"
            )
        count = scale.matching_reconstructions[0 if full or on_cuda else 1]
        spec = {"kind": "matching", "folder": scratch, "device": device, "side": side,
                "reconstructions": count}  # fmt: skip
        measured = _in_fresh_process(spec)
        results["matching"] = measured | {"originals": MATCHING_ORIGINALS, "candidates": count}
    inputs = (MATCHING_ORIGINALS + count) * 3 * side**2 * 8 / 2**20
    gpu = f", GPU peak {measured['cuda_peak_mb']:.0f} MB" if on_cuda else ""
    print_fn(
        f"  matching {MATCHING_ORIGINALS} x {count} at {side}x{side}x3 (inputs "
        f"{inputs:.0f} MB): {measured['wall_s']:.1f} s, RSS +{measured['rss_above_start_mb']:.0f} "
        f"MB above the inputs{gpu}"
    )
    return results


def run(
    print_fn: Callable[[str], None] = print,
    *,
    device: str = "auto",
    full: bool = False,
    only: str | None = None,
    quick: bool = False,
) -> dict[str, object]:
    """The measurements (all, or ``only`` one), at :data:`QUICK` sizes when ``quick``; returns
    their numbers."""
    torch.set_num_threads(1)
    scale = QUICK if quick else Scale()
    benches = {
        "matching": lambda: bench_matching(print_fn, scale),
        "job": lambda: bench_job(print_fn, scale),
        "paper": lambda: bench_paper_scale(print_fn, device, full, scale),
    }
    return {name: bench() for name, bench in benches.items() if only in (None, name)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=DEVICES, help="default auto (--quick: cpu)")
    parser.add_argument("--full", action="store_true", help="paper batches on the CPU too")
    parser.add_argument("--only", choices=("matching", "job", "paper"))
    parser.add_argument("--quick", action="store_true", help="every part at small sizes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(_child(json.loads(arguments.child))))
    else:
        run(
            print_fn=print,
            device=arguments.device or ("cpu" if arguments.quick else "auto"),
            full=arguments.full,
            only=arguments.only,
            quick=arguments.quick,
        )
