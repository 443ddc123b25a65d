"""First run on a GPU: the paper's DP-SGD steps, imprint attacks and a few training steps, a table.

The paper's settings are read from ``workflow/configs/paper.yaml`` (``study_settings``). Parts, each
in a fresh process under its own wall-clock guard (:data:`PARTS`, 570 s together, so the whole
check ends within 10 minutes; a part still running at its guard is killed with its children and
named in the table):

1. ``resnet9``: ResNet-9 at HAM10000's 224 px and physical batch (16) with augmentation
   multiplicity K = 4, the DP step of every grad-sample mode that can run it against the
   non-private step on the same views (``bench_dp_step.resnet9_multiplicity``), 10 interleaved
   rounds after a warm-up.
2. ``unet3d``: the paper's 3-D U-Net (4 levels, base 16) on MSD Liver's 128 x 128 x 50 volumes at
   its physical batch (1), 3 classes, every engine against the non-private step
   (``bench_unet3d.compare``), 5 interleaved rounds.
3. ``attacks``: the imprint attack with its matching at HAM10000's and RadImageNet's paper
   settings (batch 16 / 32 bins, batch 128 / 256 bins, 5 batches, 224 px) and the matching of 128
   originals against 256 reconstructions at 224 x 224 x 3, each in a fresh process
   (``bench_attacks.bench_paper_scale``, without the prior-aware attack).
4. ``train``: ``python -m rero train`` (``rero.cli.main``, in this process) with HAM10000's
   training flags on a generated 224 px RGB dataset (256 training images, written as a MedMNIST
   file and prepared by ``rero.data.prepare.prepare_dataset``) for one epoch of expected batch 64
   (4 logical steps of physical batches of 16): an untimed non-private warm-up run (imports,
   CUDA's context), then non-private and under a plan calibrated to ε = 8
   (``rero.privacy.calibration``, the paper's δ and accountant).

Each row: the part, its setting, the ratio of DP to non-private time per image where there is
one, the peak of ``torch.cuda.max_memory_allocated`` (the steps' rows: over that variant's steps,
every variant's model resident) and images per second: images through the model, so per-sample
gradients where the step is DP, what ``rero.study.resources.ASSUMED_THROUGHPUT`` counts
(ResNet-9: the K views of the batch's samples per median step; U-Net: volumes per median step;
train: views per second of the command's own ``wall_time_s``, data loading, model setup and
evaluation included; an attack: images attacked per second of the job; matching: originals
matched per second). Above it: the card, torch, CUDA, cuDNN and the date.

Without a CUDA device it prints one line saying why it skipped and exits 0. ``--quick``: every
part at toy sizes (16 px, 16^3 volumes, 32 px attack splits, 32 training images), one round, no
training warm-up, on the CPU unless ``--device cuda``. Exit status 1 when a part failed or hit
its guard.

Usage: scripts/gpu_check.sh [--quick] [--device cuda|cpu]
       (= .venv/bin/python benchmarks/gpu_check.py ...)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from study_settings import PAPER_STUDY, study_config

from rero.cli import main as rero_main
from rero.data.prepare import prepare_dataset
from rero.data.registry import loader_options
from rero.privacy.accounting.base import sampling_schedule
from rero.privacy.calibration import calibrate
from rero.privacy.plan import write_plan
from rero.runtime.io import read_json
from rero.study.checks import dataset_settings

ROW_MARK = "gpu_check row: "
#: the generated training set of the train part: (side px, training images, expected batch,
#: epochs) at full size and with --quick; val and test hold 16 images each
TRAIN_SIZES = {False: (224, 256, 64, 1), True: (16, 32, 8, 1)}
EVAL_IMAGES = 16


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    part: str
    setting: str
    ratio: float | None = None  # DP / non-private time per image
    peak_mib: float | None = None  # torch.cuda.max_memory_allocated
    images_per_s: float | None = None


def _peak_mib(timing_bytes: int | None) -> float | None:
    return None if timing_bytes is None else timing_bytes / 2**20


def _paper_settings(dataset: str) -> tuple[dict, dict, dict]:
    """The paper config's training and privacy settings and loader options of ``dataset``."""
    config = study_config(PAPER_STUDY)
    entry = config["datasets"][dataset]
    return (
        dataset_settings(config, dataset, "training"),
        dataset_settings(config, dataset, "privacy"),
        loader_options(entry["loader"], entry.get("options", {})),
    )


def resnet9_rows(device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """ResNet-9 at HAM10000's size, K = 4, every usable grad-sample mode against non-private."""
    import bench_dp_step  # each part imports its benchmark in its own process only

    training, _, options = _paper_settings("ham10000")
    side, batch, rounds = (
        (bench_dp_step.QUICK_RESNET9_SIDE, bench_dp_step.QUICK_RESNET9_BATCH, 1)
        if quick
        else (options["size"], training["physical_batch_size"], 10)
    )
    timings = bench_dp_step.resnet9_multiplicity(log, rounds, batch, device, side)
    reference = timings["non-private"].median_s
    views = bench_dp_step.RESNET9_MULTIPLICITY
    return [
        Row(
            "resnet9",
            f"{side} px, batch {batch} x K={views} views, {name}",
            None if name == "non-private" else timing.median_s / reference,
            _peak_mib(timing.peak_bytes),
            batch * views / timing.median_s,
        )
        for name, timing in timings.items()
    ]


def unet3d_rows(device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """The paper's 3-D U-Net on MSD Liver's volumes, every engine against non-private."""
    import bench_unet3d

    training, _, options = _paper_settings("msd_liver")
    batch = training["physical_batch_size"]
    spatial = (16, 16, 16) if quick else (options["depth"], options["size"], options["size"])
    shape = (batch, 1, *spatial)
    timings = bench_unet3d.compare(shape, 4, 16, 1 if quick else 5, device, log)
    reference = timings["non-private"].median_s
    return [
        Row(
            "unet3d",
            f"{batch} x {'x'.join(map(str, spatial))}, {name}",
            None if name == "non-private" else timing.median_s / reference,
            _peak_mib(timing.peak_bytes),
            batch / timing.median_s,
        )
        for name, timing in timings.items()
    ]


def attack_rows(device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """The imprint attack with its matching at the paper's sizes, and the matching alone."""
    import bench_attacks

    scale = bench_attacks.QUICK if quick else bench_attacks.Scale()
    scale = dataclasses.replace(scale, paper_jobs=None, paper_prior_aware=False)
    results = bench_attacks.bench_paper_scale(log, device, True, scale)
    side = scale.paper_side
    rows = []
    for name, (channels, _, _) in bench_attacks.PAPER_JOBS.items():
        job = results[name]
        rows.append(
            Row(
                "imprint",
                f"{name}: {channels} ch {side} px, {job['batches']} x batch {job['batch']}, "
                f"{job['bins']} bins, with matching",
                None,
                job.get("cuda_peak_mb"),
                job["batch"] * job["batches"] / job["wall_s"],
            )
        )
    matching = results["matching"]
    rows.append(
        Row(
            "matching",
            f"{matching['originals']} originals x {matching['candidates']} reconstructions, "
            f"3 ch {side} px",
            None,
            matching.get("cuda_peak_mb"),
            matching["originals"] / matching["wall_s"],
        )
    )
    return rows


def _generated_dataset(folder: Path, side: int, num_train: int) -> Path:
    """A prepared 2-class RGB dataset of random ``side`` px images (a MedMNIST file, prepared by
    the real ``prepare_dataset``)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", num_train), ("val", EVAL_IMAGES), ("test", EVAL_IMAGES)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, side, side, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 2).astype(np.uint8)[:, None]
    np.savez(folder / "source.npz", **arrays)
    prepare_dataset("gpu_check", "medmnist", {"path": str(folder / "source.npz")}, folder / "data")
    return folder / "data"


def _training_flags(training: dict) -> list[str]:
    """The flags the workflow's train job gets from its training settings (``common.smk``)."""
    flags = {
        "model": "model",
        "optimizer": "optimizer",
        "learning-rate": "learning_rate",
        "physical-batch-size": "physical_batch_size",
        "grad-sample-mode": "grad_sample_mode",
        "loss-reduction": "loss_reduction",
        "augmentation-multiplicity": "augmentation_multiplicity",
        "flip-probability": "flip_probability",
        "max-shift": "max_shift",
    }
    logit = "--single-logit" if training["single_logit"] else "--no-single-logit"
    return [
        logit,
        *(part for flag, key in flags.items() for part in (f"--{flag}", str(training[key]))),
    ]


def _train_command(
    data: Path,
    plan_file: Path,
    out: Path,
    device: str,
    flags: list[str],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """``python -m rero train`` (in this process) under the plan in ``plan_file``; its metrics,
    with ``peak_bytes`` (CUDA's peak allocated memory during the command) added."""
    command = ["train", "--data-dir", str(data), "--plan", str(plan_file), "--seed", "0",
               "--out-dir", str(out), "--device", device, "--no-progress", *flags]  # fmt: skip
    log(f"python -m rero {' '.join(command)}")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if rero_main(command) != 0:
        raise RuntimeError(f"python -m rero {' '.join(command)} failed")
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return read_json(out / "metrics.json") | {"peak_bytes": peak}


def train_rows(device: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """``python -m rero train`` with HAM10000's flags, non-private and DP (ε = 8), after an
    untimed non-private warm-up run (imports, CUDA's context and kernels; not at ``quick``'s toy
    sizes); the time is the command's own ``wall_time_s`` (data, model setup, training,
    evaluation)."""
    training, privacy, _ = _paper_settings("ham10000")
    side, num_train, batch, epochs = TRAIN_SIZES[quick]
    training |= {"physical_batch_size": min(training["physical_batch_size"], batch // 2)}
    warm_up = {} if quick else {"warm-up": math.inf}
    runs = warm_up | {"non-private": math.inf, "DP, ε = 8": 8.0}
    views = training["augmentation_multiplicity"]
    metrics = {}
    with tempfile.TemporaryDirectory() as scratch:
        data = _generated_dataset(Path(scratch), side, num_train)
        for index, (label, epsilon) in enumerate(runs.items()):
            plan = calibrate(
                epsilon,
                *sampling_schedule(num_train, batch, epochs),
                privacy["delta"],
                accountant=privacy["accountant"],
                rel_tol=privacy["eps_tolerance"],
                dataset="gpu_check",
                dataset_size=num_train,
                batch_size=batch,
                epochs=epochs,
            )
            out = Path(scratch) / f"run-{index}"
            write_plan(out.with_suffix(".json"), plan)
            clip = ["--clip-norm", str(privacy["clip_norm"])] if plan.private else []
            flags = [*_training_flags(training), *clip]
            metrics[label] = _train_command(data, out.with_suffix(".json"), out, device, flags, log)
    seconds_per_image = {}
    rows = []
    for label in ("non-private", "DP, ε = 8"):
        run = metrics[label]
        samples = run["sampling"]["batch_size_mean"] * run["plan"]["steps"]
        seconds_per_image[label] = run["wall_time_s"] / (samples * views)
        setting = (
            f"{label}: {side} px, {run['plan']['steps']} steps of expected batch {batch} "
            f"(physical {training['physical_batch_size']}) x K={views} views, the job's wall time"
        )
        rows.append(
            Row("train", setting, None, _peak_mib(run["peak_bytes"]), 1 / seconds_per_image[label])
        )
    rows[1] = dataclasses.replace(
        rows[1], ratio=seconds_per_image["DP, ε = 8"] / seconds_per_image["non-private"]
    )
    return rows


#: part name: (its measurement, wall-clock guard in seconds)
PARTS: dict[str, tuple[Callable[[str, bool, Callable[[str], None]], list[Row]], int]] = {
    "resnet9": (resnet9_rows, 150),
    "unet3d": (unet3d_rows, 150),
    "attacks": (attack_rows, 150),
    "train": (train_rows, 120),
}


def run_part(name: str, device: str, quick: bool) -> None:
    """Measure one part in this process; its rows go to stdout, its log to stderr."""
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    if quick:
        torch.set_num_threads(1)
    measure, _ = PARTS[name]
    with contextlib.redirect_stdout(sys.stderr):  # the train command's summary line, too
        rows = measure(device, quick, lambda line: print(line, flush=True))
    for row in rows:
        print(ROW_MARK + json.dumps(dataclasses.asdict(row)), flush=True)


def _rows_in(output: str) -> list[Row]:
    return [
        Row(**json.loads(line[len(ROW_MARK) :]))
        for line in output.splitlines()
        if line.startswith(ROW_MARK)
    ]


def guarded_part(name: str, device: str, quick: bool) -> tuple[list[Row], bool]:
    """The rows of part ``name`` run in a fresh process under its guard, and whether it finished;
    at the guard the process and its children are killed."""
    guard = PARTS[name][1]
    command = [sys.executable, __file__, "--part", name, "--device", device]
    command += ["--quick"] if quick else []
    print(f"== {name} (guard {guard} s) ==", file=sys.stderr, flush=True)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, start_new_session=True
    ) as child:
        try:
            output, _ = child.communicate(timeout=guard)
        except BaseException as stopped:  # the guard, or an interrupt: stop the whole group
            with contextlib.suppress(ProcessLookupError):  # it ended at that moment
                os.killpg(child.pid, signal.SIGKILL)
            output, _ = child.communicate()
            if not isinstance(stopped, subprocess.TimeoutExpired):
                raise
            return [*_rows_in(output), Row(name, f"stopped at its {guard} s guard")], False
    rows = _rows_in(output)
    if child.returncode != 0:
        return [*rows, Row(name, f"failed (exit {child.returncode}; its log is above)")], False
    return rows, True


def _cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> list[str]:
    """The rows as a Markdown table."""
    lines = [
        "| part | setting | DP / non-private | peak GPU MiB | images/s |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {row.part} | {row.setting} | {_cell(row.ratio, 2)} | {_cell(row.peak_mib, 0)} | "
        f"{_cell(row.images_per_s, 1)} |"
        for row in rows
    ]
    return lines


def header(device: str) -> str:
    """The card (or CPU), torch, CUDA and cuDNN versions and today's date."""
    card = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {os.cpu_count()} cores"
    return (
        f"{card}; torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}; {datetime.date.today().isoformat()}"
    )


def main(device: str, quick: bool) -> int:
    """Every part under its guard, then the table; 1 if a part did not finish."""
    if device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: skipped: PyTorch {torch.__version__} (CUDA build: "
            f"{torch.version.cuda or 'none'}) sees no CUDA device here; "
            "`--device cpu --quick` runs every part at toy sizes on the CPU"
        )
        return 0
    started, machine = time.perf_counter(), header(device)
    rows, finished = [], True
    for name in PARTS:
        part_rows, part_finished = guarded_part(name, device, quick)
        rows += part_rows
        finished &= part_finished
    size = "toy sizes (--quick)" if quick else "the paper's sizes"
    print(f"gpu_check at {size}: {machine}; {time.perf_counter() - started:.0f} s in all")
    print("\n".join(table(rows)))
    return 0 if finished else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), help="default cuda (--quick: cpu)")
    parser.add_argument("--quick", action="store_true", help="every part at toy sizes")
    parser.add_argument("--part", choices=tuple(PARTS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    chosen = arguments.device or ("cpu" if arguments.quick else "cuda")
    if chosen == "cpu" and not arguments.quick:
        parser.error("--device cpu runs the paper's sizes for hours: add --quick")
    if arguments.part:
        run_part(arguments.part, chosen, arguments.quick)
    else:
        sys.exit(main(chosen, arguments.quick))
