"""Speed-ups for DP-SGD on CPU, none of which changes a number.

DP-SGD needs every example's gradient before clipping (Abadi et al. 2016). Opacus computes them
in backward hooks; these helpers make that cheaper: a backward pass that skips the batch-summed
weight gradients DP-SGD discards, and glibc keeping freed per-sample buffers for reuse (the
grouped-convolution samplers are in ``rero.models``). ``benchmarks/bench_dp_step.py`` measures
each.
"""

from __future__ import annotations

import ctypes
import platform
from typing import Any

import torch
from torch import nn

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


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
