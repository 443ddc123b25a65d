"""Per-sample gradients for Opacus: the weight-centred convolution's sampler, and speed-ups
for DP-SGD on CPU, none of which changes a number.

DP-SGD needs every example's gradient before clipping (Abadi et al. 2016). Opacus computes them
in backward hooks; these helpers make that cheaper: a grouped-convolution sampler for ``Conv2d``,
a backward pass that skips the batch-summed weight gradients DP-SGD discards, and glibc keeping
freed per-sample buffers for reuse. ``benchmarks/bench_dp_step.py`` measures each.
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Sequence
from typing import Any

import torch
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from torch import nn

from rero.grad_samples import grouped_conv_grad_sample, uncentred
from rero.models import CentredConv2d
from rero.unet3d import register_unet3d_grad_samplers

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def conv2d_grad_sample(
    layer: nn.Conv2d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a ``Conv2d``, with the batch folded into convolution groups.

    The weight gradient of sample i is the convolution of its input with its output gradient; a
    single ``convolution_backward`` over inputs reshaped to (1, B*C_in, H, W) with B*groups
    groups computes all B of them at once. On CPU this is 2-3x faster than Opacus' default
    (im2col + batched matmul) for the small CNN's layers. Other devices, padding modes and empty
    batches use Opacus' implementation. Checked against ``torch.func`` in the tests.
    """
    inputs = activations[0]
    if (
        inputs.device.type != "cpu"
        or inputs.shape[0] == 0
        or isinstance(layer.padding, str)
        or layer.padding_mode != "zeros"
    ):
        return compute_conv_grad_sample(layer, list(activations), backprops)
    return grouped_conv_grad_sample(layer, inputs, backprops)


def centred_conv2d_grad_sample(
    layer: CentredConv2d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a :class:`rero.models.CentredConv2d`, on any device.

    The layer convolves with ``W' = W - mean(W)`` (mean over each filter's fan-in); the grouped
    convolution of :func:`conv2d_grad_sample` gives the per-sample gradient with respect to
    ``W'``. The centring is linear with the symmetric Jacobian ``I - 11^T/n``, so the gradient
    with respect to ``W`` is that of ``W'`` minus its mean over the fan-in. (Opacus' own im2col
    sampler accepts plain ``Conv2d`` only.) Checked against ``torch.func`` in the tests.
    """
    grads = grouped_conv_grad_sample(layer, activations[0], backprops)
    uncentred(grads, layer.weight)
    return grads


def use_fast_conv_grad_sampler(enabled: bool = True) -> None:
    """Make Opacus use :func:`conv2d_grad_sample` (or, with ``enabled=False``, its own
    im2col version) for ``nn.Conv2d`` per-sample gradients, and
    :func:`centred_conv2d_grad_sample` for ``CentredConv2d``, and the 3-D U-Net's samplers
    (:func:`rero.unet3d.register_unet3d_grad_samplers`).

    Opacus keeps one registry per process, looked up at every backward pass; the hooks mode uses
    it (ghost clipping uses it only for layers without a norm sampler). It must be called before
    ``make_private``, which looks up the registered layer types once.
    """
    register_grad_sampler(nn.Conv2d)(conv2d_grad_sample if enabled else compute_conv_grad_sample)
    register_grad_sampler(CentredConv2d)(centred_conv2d_grad_sample)
    register_unet3d_grad_samplers()


class LayerOutputBackward:
    """The backward pass of a DP step, without the summed weight gradients that DP discards.

    ``loss.backward()`` makes autograd compute every parameter's ordinary (batch-summed)
    gradient, which DP-SGD never uses: Opacus' optimiser replaces ``p.grad`` with the clipped,
    noised sum of the per-sample gradients. This object records the output of every layer with
    trainable parameters during the forward pass and differentiates the loss with respect to
    those outputs only. Autograd then skips the weight-gradient kernels but still runs the
    Opacus backward hooks, which receive the same output gradients and produce bit-identical
    per-sample gradients (checked in the tests). A forward pass in training mode with gradients
    enabled must be followed by a call of this object.
    """

    def __init__(self, model: nn.Module) -> None:
        self.outputs: list[torch.Tensor] = []
        for module in model.modules():
            if any(parameter.requires_grad for parameter in module.parameters(recurse=False)):
                module.register_forward_hook(self._record)

    def _record(self, module: nn.Module, _inputs: Any, output: Any) -> None:
        if (
            module.training
            and torch.is_grad_enabled()
            and isinstance(output, torch.Tensor)
            and output.requires_grad
        ):
            self.outputs.append(output)

    def __call__(self, loss: torch.Tensor) -> None:
        """Run the backward pass of ``loss`` (per-sample gradients land in ``p.grad_sample``)."""
        outputs, self.outputs = self.outputs, []
        if outputs:
            torch.autograd.grad(loss, outputs, allow_unused=True)
        else:
            loss.backward()


def keep_freed_memory_in_process(
    mmap_threshold: int = 32 * 2**20, trim_threshold: int = 2**30
) -> bool:
    """Let glibc's allocator keep freed blocks of up to ``mmap_threshold`` bytes for reuse.

    A DP step allocates per-sample gradients of tens of MB and frees them at ``zero_grad``. By
    default glibc returns such blocks to the operating system, so every step page-faults and
    zero-fills them again; on the small CNN this costs about as much as the per-sample gradient
    kernels themselves (``benchmarks/bench_dp_step.py``). 32 MiB is glibc's largest allowed
    mmap threshold. Changes only speed. Returns False (doing nothing) on other C libraries.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
