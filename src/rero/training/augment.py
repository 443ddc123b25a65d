"""Augmentation multiplicity (De et al. 2022, "Unlocking high-accuracy differentially private
image classification through scale", section 3.1): K randomly augmented views of every sample.

Under DP-SGD a sample's gradient is the mean of its K view gradients, taken before the sample is
clipped, so one sample still moves the model by at most C and the privacy accounting is that of
K = 1 (:func:`average_views`). The augmentations are the paper's (Ziller et al. 2024): random
horizontal and vertical flips, each with its own probability draw, and random shifts of up to
``max_shift`` px per axis with reflected borders. The random draws come from a CPU generator,
so they do not depend on the device.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Augmentation:
    """K views per sample; flips with ``flip_probability`` per axis, shifts <= ``max_shift`` px."""

    multiplicity: int = 1
    flip_probability: float = 0.0
    max_shift: int = 0

    @property
    def active(self) -> bool:
        """Whether :meth:`views` changes its input (K > 1 or any augmentation)."""
        return self.multiplicity > 1 or self.flip_probability > 0 or self.max_shift > 0

    def check_image_size(self, height: int, width: int) -> None:
        """Refuse shifts that reflected padding cannot make (it needs ``max_shift`` < the side)."""
        if self.max_shift >= min(height, width):
            raise ValueError(
                f"max_shift: {self.max_shift} px needs images larger than that, got "
                f"{height}x{width}"
            )

    def views(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B*K, C, H, W): the K views of sample i are rows iK, ..., iK + K - 1."""
        views = images.repeat_interleave(self.multiplicity, dim=0)
        count = len(views)
        if self.flip_probability > 0:
            for dim in (-1, -2):  # horizontal, then vertical
                flip = torch.rand(count, generator=generator) < self.flip_probability
                views = torch.where(flip.to(views.device).view(-1, 1, 1, 1), views.flip(dim), views)
        if self.max_shift > 0:
            offsets = torch.randint(0, 2 * self.max_shift + 1, (count, 2), generator=generator)
            views = shift(views, offsets.to(views.device), self.max_shift)
        return views

    def labels(self, labels: torch.Tensor) -> torch.Tensor:
        """The labels of :meth:`views`."""
        return labels.repeat_interleave(self.multiplicity, dim=0)


def shift(images: torch.Tensor, offsets: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Image n moved by ``offsets[n] - max_shift`` px (rows, columns), borders reflected."""
    count, _, height, width = images.shape
    if count == 0:
        return images
    padded = nn.functional.pad(images, [max_shift] * 4, mode="reflect")
    rows = offsets[:, :1] + torch.arange(height, device=images.device)
    columns = offsets[:, 1:] + torch.arange(width, device=images.device)
    batch = torch.arange(count, device=images.device).view(-1, 1, 1)
    moved = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], columns[:, None, :]]
    # NCHW strides even for one channel (.contiguous() would keep the channels-last ones, which
    # torch's expanded weights cannot take)
    return moved.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)


def average_views(parameters: Iterable[nn.Parameter], multiplicity: int) -> None:
    """Replace every ``p.grad_sample`` of (B*K, ...) view gradients by their mean over each
    sample's K views, (B, ...): what the optimiser then clips is one gradient per sample."""
    if multiplicity == 1:
        return
    for parameter in parameters:
        grad_sample = getattr(parameter, "grad_sample", None)
        if grad_sample is not None:
            samples = len(grad_sample) // multiplicity
            views = grad_sample.view(samples, multiplicity, *grad_sample.shape[1:])
            parameter.grad_sample = views.mean(dim=1)
