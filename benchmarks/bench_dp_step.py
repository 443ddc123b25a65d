"""DP-SGD step time relative to a non-private step, per Opacus grad-sample mode.

Default model (small_cnn), 28x28x1 inputs, 3 classes, batch 256, Adam. One step = forward,
backward, optimiser step, zero_grad. All variants run side by side in one process, interleaved
round by round, so background load hits them alike; the script prints medians and the ratio
DP / non-private for each mode. rero's training loop runs "hooks" with the grouped-convolution
sampler, the backward pass w.r.t. layer outputs only (``LayerOutputBackward``) and glibc keeping
freed memory (``keep_freed_memory_in_process``); ``--default-allocator`` leaves glibc's default
behaviour, to measure what that setting is worth (it is process-wide, so it needs its own run).

A second table times the paper's setting: ResNet-9 (weight-centred convolutions) on 64x64x3
inputs, one logit, summed loss, NAdam, augmentation multiplicity K = 4 (flips and shifts; the
DP step averages each sample's K view gradients before clipping), DP against the non-private
step on the same K views, for each grad-sample mode that runs it (ew cannot differentiate the
weight centring; ghost clipping cannot average views). ``--device cuda`` runs it on a GPU.
Run: ``.venv/bin/python benchmarks/bench_dp_step.py [--default-allocator] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rero.models.grad_samples import use_fast_conv_grad_sampler
from rero.models.registry import build_model
from rero.privacy.plan import PrivacyPlan, sampling_schedule
from rero.training.augment import Augmentation, average_views
from rero.training.config import TrainConfig
from rero.training.loss import ClassificationLoss
from rero.training.run import TrainingRun
from rero.training.speedups import LayerOutputBackward, keep_freed_memory_in_process

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
    loader = DataLoader(TensorDataset(images, labels), batch_size=BATCH_SIZE)
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
) -> dict:
    """Time every variant ``rounds`` times, interleaved; print and return medians and ratios."""
    kept = keep_freed_memory and keep_freed_memory_in_process()
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = torch.rand(BATCH_SIZE, *IMAGE_SHAPE)
    labels = torch.randint(0, NUM_CLASSES, (BATCH_SIZE,))
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
    for _ in range(3):  # warm-up
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
        f"small_cnn, batch {BATCH_SIZE}, {'x'.join(map(str, IMAGE_SHAPE))}, "
        f"{threads} thread(s), {rounds} interleaved rounds, medians, "
        f"glibc keeps freed memory: {kept}"
    )
    print_fn(f"  non-private: {reference * 1e3:7.1f} ms/step")
    for name, value in medians.items():
        if name != "non-private":
            print_fn(f"  DP {name:20s}: {value * 1e3:7.1f} ms/step  ratio {value / reference:.2f}x")
    use_fast_conv_grad_sampler(True)
    loop = _training_loop_ratio(print_fn, rounds=max(3, rounds // 6))
    return {
        "median_s": medians,
        "ratio": {n: v / reference for n, v in medians.items()},
        "training_loop_ratio": loop,
    }


def _long_plan(private: bool, num_examples: int, epochs: int = 10**5) -> PrivacyPlan:
    """A plan of expected batch BATCH_SIZE and many epochs (σ = 1 given, not calibrated)."""
    sample_rate, steps = sampling_schedule(num_examples, BATCH_SIZE, epochs)
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
        batch_size=BATCH_SIZE,
        epochs=epochs,
        note="benchmark plan: sigma given, not calibrated",
    )


def _training_loop_ratio(print_fn: Callable[[str], None], rounds: int, steps: int = 4) -> float:
    """Whole logical steps of rero's training loop (Poisson loader, BatchMemoryManager, default
    TrainConfig) against its non-private loop, interleaved; returns the median ratio."""
    num_examples = BATCH_SIZE * 10
    images = torch.rand(num_examples, *IMAGE_SHAPE)
    labels = torch.randint(0, NUM_CLASSES, (num_examples,))
    meta = {"shape": list(IMAGE_SHAPE), "num_classes": NUM_CLASSES, "mean": [0.5], "std": [0.25]}
    runs = {}
    for private in (False, True):
        plan = _long_plan(private, num_examples)
        run = TrainingRun(
            plan,
            TrainConfig(clip_norm=1.0 if private else None),
            0,
            meta,
            images.numpy(),
            labels.numpy(),
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
RESNET9_SHAPE = (3, 64, 64)
RESNET9_MULTIPLICITY = 4
PAPER_AUGMENTATION = Augmentation(RESNET9_MULTIPLICITY, flip_probability=0.2, max_shift=4)


def _resnet9_step(
    model: nn.Module, mode: str | None, output_backward: bool, batch: int
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One step of ResNet-9 on the K views of a batch: DP under ``mode``, or non-private."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.NAdam(model.parameters(), lr=2e-3)
    criterion = ClassificationLoss(single_logit=True, reduction="sum")
    generator = torch.Generator().manual_seed(0)
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward
    if mode is not None:
        images = torch.zeros(batch, *RESNET9_SHAPE)
        loader = DataLoader(TensorDataset(images, torch.zeros(batch)), batch_size=batch)
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
    print_fn: Callable[[str], None] = print, rounds: int = 5, batch: int = 8, device: str = "cpu"
) -> dict[str, float]:
    """DP / non-private step time of ResNet-9 at 64 px with K = 4, every working mode side by
    side, interleaved; prints and returns the median ratio per mode."""
    if rounds < 1:
        raise ValueError(f"rounds: expected an integer >= 1, got {rounds}")
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    use_fast_conv_grad_sampler(True)
    torch.manual_seed(0)
    images = torch.rand(batch, *RESNET9_SHAPE, device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    base = build_model("resnet9", RESNET9_SHAPE[0], 2, RESNET9_SHAPE[1:], single_logit=True)
    base = base.to(device)
    steps = {"non-private": _resnet9_step(base, None, False, batch)}
    for label, mode, output_backward in RESNET9_VARIANTS:
        steps[label] = _resnet9_step(base, mode, output_backward, batch)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_index in range(rounds + 1):  # round 0 warms up
        for name, step in steps.items():
            start = time.perf_counter()
            step(images, labels)
            if round_index:
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians["non-private"]
    print_fn(
        f"resnet9, batch {batch} x K={RESNET9_MULTIPLICITY} views, "
        f"{'x'.join(map(str, RESNET9_SHAPE))}, one logit, summed loss, NAdam, {device}, "
        f"{torch.get_num_threads()} thread(s), {rounds} interleaved rounds, medians"
    )
    print_fn(f"  non-private: {reference * 1e3:7.1f} ms/step")
    for name, value in medians.items():
        if name != "non-private":
            print_fn(f"  DP {name:20s}: {value * 1e3:7.1f} ms/step  ratio {value / reference:.2f}x")
    print_fn("  DP ew: not usable (expanded weights cannot differentiate the weight centring)")
    print_fn("  DP ghost: not usable (it computes per-sample norms only; views need averaging)")
    return {name: value / reference for name, value in medians.items()}


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
    arguments = parser.parse_args()
    if not arguments.skip_small_cnn:
        run(rounds=arguments.rounds, keep_freed_memory=not arguments.default_allocator)
    resnet9_multiplicity(
        rounds=arguments.resnet9_rounds, batch=arguments.resnet9_batch, device=arguments.device
    )
