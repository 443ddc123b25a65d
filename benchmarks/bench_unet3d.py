"""DP-SGD step time of the 3-D U-Net relative to a non-private step, on CPU (or ``--device``).

One step = forward, soft Dice loss (Milletari et al. 2016), backward, optimiser step (Adam),
zero_grad. The DP step clips and noises in Opacus' DP optimiser (σ = 1, C = 1, summed loss);
its variants are the per-sample-gradient engines that run the model: the hooks mode with rero's
grouped-convolution samplers (registered by ``rero.models.unet3d``) and the backward pass w.r.t.
layer outputs only (``LayerOutputBackward``, rero's default) or ``loss.backward()``, the hooks
mode with Opacus' own samplers (torch.func for ``CentredConv3d``, which it does not know, unfold
for the head's ``Conv3d``), the functorch mode and ghost clipping (expanded weights cannot run
the centred convolutions). All variants run side by side, interleaved
round by round, so background load hits them alike; the script prints medians and the ratio
DP / non-private.

Settings: a CPU-sized UNet3d (3 levels, base 8 channels, batch 2 of 32^3 volumes, 3 classes);
the paper's layout (4 levels, base 16 channels, 5.3 M parameters; the model the shipped 3-D study
trains) on the shipped 3-D study's physical batch, read from ``workflow/configs/mni152_seg.yaml``
(12 cubes of 32^3, 4 classes), then, with 3 classes (MSD Liver's), on 24 cubes of 16^3, on
4 cubes of 32^3 and on one 48x48x16 volume (``--skip-paper`` skips these). Adam throughout
(the shipped 3-D study trains with NAdam and the mean loss).
The per-sample gradients cost B x parameters whatever the volume, the convolutions B x voxels, so
the ratio falls as the volumes grow: on 16^3 cubes the per-sample gradients dominate, on the
paper's 128 x 128 x 50 volumes the convolutions do. ``--quick``: one timed round, the CPU-sized
net on 2 cubes of 16^3 and the paper's layout on one, one thread unless ``--threads``.
Run: ``.venv/bin/python benchmarks/bench_unet3d.py [--rounds 10] [--device cuda] [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import warnings
from collections.abc import Callable

import torch
from opacus import PrivacyEngine
from opacus.grad_sample import GradSampleModule
from opacus.grad_sample.conv import compute_conv_grad_sample
from step_timing import StepTiming, time_interleaved
from study_settings import SEGMENTATION_STUDY, study_config, training_size
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rero.data.mni152_seg import CLASS_NAMES
from rero.data.registry import loader_options
from rero.models.unet3d import (
    CentredConv3d,
    UNet3d,
    centred_conv3d_grad_sample,
    conv3d_grad_sample,
)
from rero.training.dice import DiceLoss
from rero.training.speedups import LayerOutputBackward, keep_freed_memory_in_process

NUM_CLASSES = 3
QUICK_SIDE = 16
#: (label, Opacus grad_sample_mode, rero's grouped samplers?, backward w.r.t. outputs only?)
VARIANTS = (
    ("hooks, grouped samplers", "hooks", True, True),
    ("hooks, grouped, loss.backward", "hooks", True, False),
    ("hooks, Opacus' samplers", "hooks", False, False),
    ("functorch", "functorch", True, False),
    ("ghost clipping", "ghost", True, False),
)


def _use_samplers(grouped: bool) -> None:
    """Opacus' process-wide registry: rero's grouped samplers, or Opacus' defaults (unfold for
    ``nn.Conv3d``; ``CentredConv3d`` unregistered, so torch.func)."""
    if grouped:
        GradSampleModule.GRAD_SAMPLERS[nn.Conv3d] = conv3d_grad_sample
        GradSampleModule.GRAD_SAMPLERS[CentredConv3d] = centred_conv3d_grad_sample
    else:
        GradSampleModule.GRAD_SAMPLERS[nn.Conv3d] = compute_conv_grad_sample
        GradSampleModule.GRAD_SAMPLERS.pop(CentredConv3d, None)


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    grouped: bool | None = None,
    backward: Callable[[torch.Tensor], None] | None = None,
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(volumes: torch.Tensor, masks: torch.Tensor) -> None:
        if grouped is not None:
            _use_samplers(grouped)
        loss = criterion(model(volumes), masks)
        if backward is None:
            loss.backward()
        else:
            backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if volumes.is_cuda:
            torch.cuda.synchronize()

    return step


def _private_step(
    base: nn.Module, mode: str, grouped: bool, output_backward: bool, volumes: torch.Tensor
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """A DP step of a copy of ``base`` with Opacus' ``mode``, clipping and noise (σ = 1, C = 1)."""
    _use_samplers(grouped)  # make_private looks up the registered layer types once
    model = copy.deepcopy(base)
    criterion = DiceLoss(reduction="sum")
    masks = torch.zeros(volumes.shape[:1] + volumes.shape[2:], dtype=torch.long)
    loader = DataLoader(TensorDataset(volumes.cpu(), masks), batch_size=len(volumes))
    private = PrivacyEngine(accountant="rdp").make_private(
        module=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        data_loader=loader,
        criterion=criterion,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        poisson_sampling=False,
        loss_reduction="sum",
        grad_sample_mode=mode,
    )
    dp_model, optimizer = private[0], private[1]
    if mode == "ghost":
        criterion = private[2]  # the wrapped loss runs both backward passes
    backward = LayerOutputBackward(dp_model) if output_backward else None
    return _step(dp_model, optimizer, criterion, grouped, backward)


def shipped_batch() -> tuple[int, ...]:
    """(B, 1, p, p, p): the physical batch of cubes the shipped 3-D study trains on."""
    config = study_config(SEGMENTATION_STUDY)
    (name,) = config["datasets"]
    entry = config["datasets"][name]
    side = loader_options(entry["loader"], entry.get("options", {}))["patch_size"]
    batch = min(config["training"]["physical_batch_size"], training_size(config, name))
    return (batch, 1, side, side, side)


def compare(
    shape: tuple[int, ...],
    levels: int,
    base_channels: int,
    rounds: int,
    device: str = "cpu",
    print_fn: Callable[[str], None] = print,
    num_classes: int = NUM_CLASSES,
) -> dict[str, StepTiming]:
    """Median step time of every variant on (B, 1, D, H, W) = ``shape`` volumes, interleaved;
    prints the ratio DP / non-private of each and returns each one's timing."""
    torch.manual_seed(0)
    volumes = torch.rand(*shape, device=device)
    masks = torch.randint(0, num_classes, shape[:1] + shape[2:], device=device)
    base = UNet3d(shape[1], num_classes, [0.5], [0.25], base_channels, levels).to(device)
    plain = copy.deepcopy(base)
    steps = {"non-private": _step(plain, torch.optim.Adam(plain.parameters(), lr=1e-3), DiceLoss())}
    for label, mode, grouped, output_backward in VARIANTS:
        steps[f"DP {label}"] = _private_step(base, mode, grouped, output_backward, volumes)
    timings = time_interleaved(steps, (volumes, masks), rounds)
    _use_samplers(True)
    medians = {name: timing.median_s for name, timing in timings.items()}
    reference = medians["non-private"]
    parameters = sum(p.numel() for p in base.parameters())
    print_fn(
        f"UNet3d levels {levels}, base {base_channels} ({parameters:,} parameters), input "
        f"{'x'.join(map(str, shape))}, {num_classes} classes, Dice loss, Adam, {device}, "
        f"{torch.get_num_threads()} thread(s), {rounds} interleaved rounds, medians"
    )
    print_fn(f"  non-private: {reference * 1e3:9.1f} ms/step")
    for name, value in medians.items():
        if name != "non-private":
            print_fn(f"  {name:32s}: {value * 1e3:9.1f} ms/step  ratio {value / reference:.2f}x")
    return timings


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-paper", action="store_true", help="only the CPU-sized UNet3d")
    parser.add_argument("--quick", action="store_true", help="one round on 16^3 cubes")
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error(f"--rounds: expected an integer >= 1, got {arguments.rounds}")
    if arguments.threads or arguments.quick:
        torch.set_num_threads(arguments.threads or 1)
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    keep_freed_memory_in_process()
    if arguments.quick:
        compare((2, 1, QUICK_SIDE, QUICK_SIDE, QUICK_SIDE), 3, 8, 1, arguments.device)
        if not arguments.skip_paper:
            compare((1, 1, QUICK_SIDE, QUICK_SIDE, QUICK_SIDE), 4, 16, 1, arguments.device)
    else:
        compare((2, 1, 32, 32, 32), 3, 8, arguments.rounds, arguments.device)
        if not arguments.skip_paper:
            compare(
                shipped_batch(),
                4,
                16,
                arguments.rounds,
                arguments.device,
                num_classes=len(CLASS_NAMES),
            )
            for shape in ((24, 1, 16, 16, 16), (4, 1, 32, 32, 32), (1, 1, 48, 48, 16)):
                compare(shape, 4, 16, arguments.rounds, arguments.device)
