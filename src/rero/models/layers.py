"""The layers every model shares, with their Opacus per-sample gradients registered where they are
defined (as Opacus registers its own).

:class:`Standardize` z-scores the raw ``[0, 1]`` input with the training set's per-channel mean
and standard deviation (``meta.json`` ``mean``/``std``); the two statistics are non-trainable
buffers, so they are part of the saved ``state_dict`` (``model.pt``): a model rebuilt with
:func:`rero.models.build_model` and loaded from ``model.pt`` takes raw images, exactly as training
fed them. :class:`WeightCentring` gives the weight-centred convolutions of Ziller et al. 2024.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from opacus.grad_sample import register_grad_sampler
from torch import nn

from rero.models.grad_samples import grouped_conv_grad_sample, uncentred


class Standardize(nn.Module):
    """``(x - mean) / std`` per channel, with the statistics stored as buffers (not trained)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_tensor = torch.as_tensor(list(mean), dtype=torch.float32).reshape(1, -1, 1, 1)
        std_tensor = torch.as_tensor(list(std), dtype=torch.float32).reshape(1, -1, 1, 1)
        if mean_tensor.numel() != std_tensor.numel():
            raise ValueError(f"mean has {mean_tensor.numel()} channels, std {std_tensor.numel()}")
        if torch.any(std_tensor <= 0):
            raise ValueError(
                f"std must be positive per channel, got {std_tensor.flatten().tolist()}"
            )
        self.register_buffer("mean", mean_tensor)
        self.register_buffer("std", std_tensor)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class WeightCentring:
    """Weight centring for a convolution class (mixed in before ``nn.ConvNd``): each filter's
    weights minus their mean over its fan-in (input channels x kernel) before the convolution,
    no rescaling (the "weight-centred" convolutions of Ziller et al. 2024; weight
    standardisation without the division, Qiao et al. 2019). The stored ``weight`` is the raw
    one; the convolution sees ``W - mean(W)``. Integer zero padding only (the per-sample
    gradient samplers fold it into one grouped convolution)."""

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.padding, str) or self.padding_mode != "zeros":
            raise ValueError(
                f"{type(self).__name__}: expected integer zero padding, got padding "
                f"{self.padding!r}, padding_mode {self.padding_mode!r}"
            )

    def centred_weight(self) -> torch.Tensor:
        """The weight the convolution uses: every filter with its fan-in mean subtracted."""
        fan_in = tuple(range(1, self.weight.dim()))
        return self.weight - self.weight.mean(dim=fan_in, keepdim=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(images, self.centred_weight(), self.bias)


class CentredConv2d(WeightCentring, nn.Conv2d):
    """``Conv2d`` with :class:`WeightCentring`. Its Opacus per-sample gradient is
    :func:`centred_conv2d_grad_sample`."""


@register_grad_sampler(CentredConv2d)
def centred_conv2d_grad_sample(
    layer: CentredConv2d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a :class:`CentredConv2d`, on any device.

    The layer convolves with ``W' = W - mean(W)`` (mean over each filter's fan-in); the grouped
    convolution of :func:`rero.models.grad_samples.grouped_conv_grad_sample` gives the
    per-sample gradient with respect to ``W'``. The centring is linear with the symmetric
    Jacobian ``I - 11^T/n``, so the gradient with respect to ``W`` is that of ``W'`` minus its
    mean over the fan-in. (Opacus' own im2col sampler accepts plain ``Conv2d`` only.) Checked
    against ``torch.func`` in the tests.
    """
    grads = grouped_conv_grad_sample(layer, activations[0], backprops)
    uncentred(grads, layer.weight)
    return grads
