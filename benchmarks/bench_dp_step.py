"""DP-SGD step time relative to a non-private step, per Opacus grad-sample mode.

The shipped default study's model and batch (``config.yaml``): small_cnn on 28x28x1 inputs
(random, the MNI152 patches' shape), 3 classes, batch 256, Adam. One step = forward, backward,
optimiser step, zero_grad. All variants run side by side in one process, interleaved round by
round, so background load hits them alike; the script prints medians and the ratio
DP / non-private for each mode. rero's training loop runs "hooks" with the grouped-convolution
sampler, the backward pass w.r.t. layer outputs only (``LayerOutputBackward``) and glibc keeping
freed memory (``keep_freed_memory_in_process``); ``--default-allocator`` leaves glibc's default
behaviour, to measure what that setting is worth (it is process-wide, so it needs its own run).
The table ends with whole logical steps of rero's training loop (``TrainingRun``, default
``TrainConfig``) on a dataset of 10 batches prepared by ``prepare_dataset``
(``tests.helpers.prepare_toy_dataset``: band images, MedMNIST layout), DP against non-private.

A second table times the paper's HAM10000 recipe (``workflow/configs/paper.yaml``) at a CPU size:
ResNet-9 (weight-centred convolutions), one logit, summed loss, NAdam, augmentation multiplicity
K = 4 (flips with probability 0.2 and shifts up to 4 px; the DP step averages each sample's K view
gradients before clipping), on 64x64x3 inputs in batches of 8 (the paper: 224 px, physical batch
16), DP against the non-private step on the same K views, for each grad-sample mode that runs it
(ew cannot differentiate the weight centring; ghost clipping cannot average views).
``--device cuda`` runs it on a GPU. ``--quick``: one timed round of each, batch 32 for small_cnn
and 2 at 16 px for ResNet-9, one logical step of the loop, one thread.
Run: ``.venv/bin/python benchmarks/bench_dp_step.py [--default-allocator] [--device cuda]
[--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from opacus import PrivacyEngine
from step_timing import StepTiming, time_interleaved
from study_settings import REPO
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(REPO))

from rero.data.prepare import read_meta
from rero.data.store import load_split
from rero.models.grad_samples import use_fast_conv_grad_sampler
from rero.models.registry import build_model
from rero.privacy.accounting.base import sampling_schedule
from rero.privacy.plan import PrivacyPlan
from rero.training.augment import Augmentation, average_views
from rero.training.config import TrainConfig
from rero.training.loss import ClassificationLoss
from rero.training.run import TrainingRun
from rero.training.speedups import LayerOutputBackward, keep_freed_memory_in_process
from tests.helpers import prepare_toy_dataset

#: (label, Opacus grad_sample_mode, rero's grouped-convolution Conv2d sampler on?, backward
#: w.r.t. layer outputs only?)
VARIANTS = (
    ("hooks", "hooks", True, True),
    ("hooks, loss.backward", "hooks", True, False),
    ("hooks-im2col", "hooks", False, False),
    ("functorch", "functorch", False, False),
    ("ew", "ew", False, False),
    ("ghost", "ghost", True, False),
)
BATCH_SIZE = 256
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 3
QUICK_BATCH_SIZE, QUICK_RESNET9_BATCH, QUICK_RESNET9_SIDE = 32, 2, 16


def _make_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable,
    fast_conv: bool | None = None,
    backward: Callable | None = None,
) -> Callable:
    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        if fast_conv is not None:
            use_fast_conv_grad_sampler(fast_conv)
        loss = criterion(model(images), labels)
        if backward is None:
            loss.backward()
        else:
            backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _private_step(
    base: nn.Module,
    mode: str,
    fast_conv: bool,
    output_backward: bool,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> Callable:
    model = copy.deepcopy(base)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(images, labels), batch_size=len(images))
    engine = PrivacyEngine(accountant="rdp")
    wrapped = engine.make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        criterion=nn.CrossEntropyLoss(),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        poisson_sampling=False,
        grad_sample_mode=mode,
    )
    dp_model, dp_optimizer = wrapped[0], wrapped[1]
    criterion = wrapped[2] if mode == "ghost" else nn.CrossEntropyLoss()
    backward = LayerOutputBackward(dp_model) if output_backward else None
    return _make_step(dp_model, dp_optimizer, criterion, fast_conv, backward)


def run(
    print_fn: Callable[[str], None] = print,
    rounds: int = 30,
    threads: int = 1,
    keep_freed_memory: bool = True,
    quick: bool = False,
) -> dict:
    """Time every variant ``rounds`` times, interleaved; print and return medians and ratios.
    ``quick``: one warm-up and one timed round at batch ``QUICK_BATCH_SIZE``."""
    kept = keep_freed_memory and keep_freed_memory_in_process()
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch, warmup = (QUICK_BATCH_SIZE, 1) if quick else (BATCH_SIZE, 3)
    rounds = 1 if quick else rounds
    images = torch.rand(batch, *IMAGE_SHAPE)
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    base = build_model("small_cnn", IMAGE_SHAPE[0], NUM_CLASSES, IMAGE_SHAPE[1:])

    plain = copy.deepcopy(base)
    steps: dict[str, Callable] = {
        "non-private": _make_step(
            plain, torch.optim.Adam(plain.parameters(), lr=1e-3), nn.CrossEntropyLoss()
        )
    }
    for label, mode, fast_conv, output_backward in VARIANTS:
        try:
            step = _private_step(base, mode, fast_conv, output_backward, images, labels)
            step(images, labels)
        except Exception as error:  # a mode that fails is reported, not timed
            print_fn(f"{label}: not usable ({type(error).__name__}: {error})")
            continue
        steps[label] = step

    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(warmup):
        for step in steps.values():
            step(images, labels)
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step(images, labels)
            times[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians["non-private"]
    print_fn(
        f"small_cnn, batch {batch}, {'x'.join(map(str, IMAGE_SHAPE))}, "
        f"{threads} thread(s), {rounds} interleaved rounds, medians, "
        f"glibc keeps freed memory: {kept}"
    )
    print_fn(f"  non-private: {reference * 1e3:7.1f} ms/step")
    for name, value in medians.items():
        if name != "non-private":
            print_fn(f"  DP {name:20s}: {value * 1e3:7.1f} ms/step  ratio {value / reference:.2f}x")
    use_fast_conv_grad_sampler(True)
    loop_rounds, loop_steps = (1, 1) if quick else (max(3, rounds // 6), 4)
    loop = _training_loop_ratio(print_fn, batch, loop_rounds, loop_steps)
    return {
        "median_s": medians,
        "ratio": {n: v / reference for n, v in medians.items()},
        "training_loop_ratio": loop,
    }


def _long_plan(private: bool, num_examples: int, batch: int, epochs: int = 10**5) -> PrivacyPlan:
    """A plan of expected batch ``batch`` and many epochs (σ = 1 given, not calibrated)."""
    sample_rate, steps = sampling_schedule(num_examples, batch, epochs)
    target = 8.0 if private else math.inf
    return PrivacyPlan(
        target_epsilon=target,
        epsilon=target,
        epsilon_lower=None,
        sigma=1.0 if private else 0.0,
        sample_rate=sample_rate,
        steps=steps,
        delta=1e-5,
        accountant="rdp" if private else "none",
        dataset=None,
        dataset_size=num_examples,
        batch_size=batch,
        epochs=epochs,
        note="benchmark plan: sigma given, not calibrated",
    )


def _training_loop_ratio(
    print_fn: Callable[[str], None], batch: int, rounds: int, steps: int
) -> float:
    """Whole logical steps of rero's training loop (Poisson loader, BatchMemoryManager, default
    TrainConfig) on a prepared dataset of 10 expected batches against its non-private loop,
    interleaved; returns the median ratio."""
    with tempfile.TemporaryDirectory() as scratch:
        data = prepare_toy_dataset(
            Path(scratch) / "data",
            num_classes=NUM_CLASSES,
            n_train=batch * 10,
            n_eval=NUM_CLASSES,
            size=IMAGE_SHAPE[1],
        )
        meta = read_meta(data)
        images, labels = load_split(data, "train")
        runs = {}
        for private in (False, True):
            run = TrainingRun(
                _long_plan(private, len(labels), batch),
                TrainConfig(clip_norm=1.0 if private else None),
                0,
                meta,
                images,
                labels,
                torch.device("cpu"),
            )
            run.run_epoch(1)
            runs[private] = run
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for private, run in runs.items():
                start = time.perf_counter()
                run.run_epoch(steps)
                times[private].append((time.perf_counter() - start) / steps)
    private_s, plain_s = statistics.median(times[True]), statistics.median(times[False])
    print_fn(
        f"  training loop (default TrainConfig, {rounds} x {steps} logical steps): non-private "
        f"{plain_s * 1e3:.1f} ms/step, DP {private_s * 1e3:.1f} ms/step, "
        f"ratio {private_s / plain_s:.2f}x"
    )
    return private_s / plain_s


#: (label, Opacus grad_sample_mode, backward w.r.t. layer outputs only?) of the ResNet-9 table
RESNET9_VARIANTS = (
    ("hooks", "hooks", True),
    ("hooks, loss.backward", "hooks", False),
    ("functorch", "functorch", False),
)
RESNET9_CHANNELS, RESNET9_SIDE = 3, 64
RESNET9_MULTIPLICITY = 4
PAPER_AUGMENTATION = Augmentation(RESNET9_MULTIPLICITY, flip_probability=0.2, max_shift=4)


def _resnet9_step(
    model: nn.Module, mode: str | None, output_backward: bool, shape: tuple[int, ...]
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One step of ResNet-9 on the K views of a batch of ``shape``: DP under ``mode``, or
    non-private."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.NAdam(model.parameters(), lr=2e-3)
    criterion = ClassificationLoss(single_logit=True, reduction="sum")
    generator = torch.Generator().manual_seed(0)
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward
    if mode is not None:
        loader = DataLoader(
            TensorDataset(torch.zeros(shape), torch.zeros(shape[0])), batch_size=shape[0]
        )
        model, optimizer, _ = PrivacyEngine(accountant="rdp").make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            criterion=criterion,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=False,
            grad_sample_mode=mode,
            loss_reduction="sum",
        )
        if output_backward:
            backward = LayerOutputBackward(model)

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        views = PAPER_AUGMENTATION.views(images, generator)
        loss = criterion(model(views), PAPER_AUGMENTATION.labels(labels))
        if mode is None:
            backward(loss / RESNET9_MULTIPLICITY)  # the mean over each sample's views
        else:
            backward(loss)
            average_views(optimizer.params, RESNET9_MULTIPLICITY)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if images.is_cuda:
            torch.cuda.synchronize()

    return step


def resnet9_multiplicity(
    print_fn: Callable[[str], None] = print,
    rounds: int = 5,
    batch: int = 8,
    device: str = "cpu",
    side: int = RESNET9_SIDE,
) -> dict[str, StepTiming]:
    """DP / non-private step time of ResNet-9 at ``side`` px with K = 4, every working mode side
    by side, interleaved; prints the median ratio per mode and returns each one's timing."""
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    use_fast_conv_grad_sampler(True)
    torch.manual_seed(0)
    shape = (RESNET9_CHANNELS, side, side)
    images = torch.rand(batch, *shape, device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    base = build_model("resnet9", RESNET9_CHANNELS, 2, shape[1:], single_logit=True)
    base = base.to(device)
    steps = {"non-private": _resnet9_step(base, None, False, images.shape)}
    for label, mode, output_backward in RESNET9_VARIANTS:
        steps[label] = _resnet9_step(base, mode, output_backward, images.shape)
    timings = time_interleaved(steps, (images, labels), rounds)
    medians = {name: timing.median_s for name, timing in timings.items()}
    reference = medians["non-private"]
    print_fn(
        f"resnet9, batch {batch} x K={RESNET9_MULTIPLICITY} views, "
        f"{'x'.join(map(str, shape))}, one logit, summed loss, NAdam, {device}, "
        f"{torch.get_num_threads()} thread(s), {rounds} interleaved rounds, medians"
    )
    print_fn(f"  non-private: {reference * 1e3:7.1f} ms/step")
    for name, value in medians.items():
        if name != "non-private":
            print_fn(f"  DP {name:20s}: {value * 1e3:7.1f} ms/step  ratio {value / reference:.2f}x")
    print_fn("  DP ew: not usable (expanded weights cannot differentiate the weight centring)")
    print_fn("  DP ghost: not usable (it computes per-sample norms only; views need averaging)")
    return timings


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--default-allocator",
        action="store_true",
        help="do not let glibc keep freed memory (measures what that setting is worth)",
    )
    parser.add_argument("--resnet9-rounds", type=int, default=5)
    parser.add_argument("--resnet9-batch", type=int, default=8, help="samples (K = 4 views each)")
    parser.add_argument("--device", default="cpu", help="device of the ResNet-9 table")
    parser.add_argument("--skip-small-cnn", action="store_true", help="only the ResNet-9 table")
    parser.add_argument("--quick", action="store_true", help="one round of each at small batches")
    arguments = parser.parse_args()
    if arguments.quick:
        torch.set_num_threads(1)
    if not arguments.skip_small_cnn:
        run(
            rounds=arguments.rounds,
            keep_freed_memory=not arguments.default_allocator,
            quick=arguments.quick,
        )
    resnet9_multiplicity(
        rounds=1 if arguments.quick else arguments.resnet9_rounds,
        batch=QUICK_RESNET9_BATCH if arguments.quick else arguments.resnet9_batch,
        device=arguments.device,
        side=QUICK_RESNET9_SIDE if arguments.quick else RESNET9_SIDE,
    )
