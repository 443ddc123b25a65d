"""A 3-D U-Net for volumetric segmentation under DP-SGD, with its Opacus per-sample gradients.

:class:`UNet3d` is the encoder-decoder of Ronneberger et al. 2015 ("U-Net: convolutional
networks for biomedical image segmentation") in its volumetric form (Çiçek et al. 2016, "3D
U-Net: learning dense volumetric segmentation from sparse annotation"), made Opacus-compatible
as the paper's classifiers are (Ziller et al. 2024): weight-centred convolutions without bias
(:class:`CentredConv3d`), GroupNorm instead of BatchNorm, Mish, and trilinear upsampling followed
by a 1x1x1 convolution instead of a transposed convolution (Opacus has no per-sample gradient for
``ConvTranspose3d``). Every operation acts on one sample at a time, so per-sample gradients are
those of per-sample losses.

Importing this module registers, in Opacus' (process-wide) registry, the per-sample gradients of
``CentredConv3d`` and ``nn.Conv3d`` by one grouped convolution each (without them Opacus would use
its unfold-based sampler for ``Conv3d`` and ``torch.func`` for ``CentredConv3d``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from torch import nn

from rero.models.grad_samples import grouped_conv_grad_sample, uncentred
from rero.models.layers import Standardize, WeightCentring


class Standardize3d(Standardize):
    """:class:`rero.models.layers.Standardize` for volumes: ``(x - mean) / std`` per channel of
    (B, C, D, H, W) inputs, with (1, C, 1, 1, 1) buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__(mean, std)
        self.mean = self.mean.reshape(1, -1, 1, 1, 1)
        self.std = self.std.reshape(1, -1, 1, 1, 1)


class CentredConv3d(WeightCentring, nn.Conv3d):
    """``Conv3d`` with :class:`rero.models.layers.WeightCentring`, the 3-D form of
    :class:`rero.models.layers.CentredConv2d`. Its Opacus per-sample gradient is
    :func:`centred_conv3d_grad_sample`."""


@register_grad_sampler(nn.Conv3d)
def conv3d_grad_sample(
    layer: nn.Conv3d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Opacus per-sample gradients of an ``nn.Conv3d`` by one grouped convolution (any device).

    String padding ("same", "valid") and non-zero padding modes use Opacus' own (unfold-based)
    sampler. An empty batch gives (0, *shape) gradients. Checked against ``torch.func``.
    """
    if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
        if activations[0].shape[0] == 0:
            return grouped_conv_grad_sample(layer, activations[0], backprops)
        return compute_conv_grad_sample(layer, list(activations), backprops)
    return grouped_conv_grad_sample(layer, activations[0], backprops)


@register_grad_sampler(CentredConv3d)
def centred_conv3d_grad_sample(
    layer: CentredConv3d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Opacus per-sample gradients of a :class:`CentredConv3d` (any device).

    The grouped convolution gives the gradient with respect to the centred weight
    ``W' = W - mean(W)``; the centring is linear with the symmetric Jacobian ``I - 11^T/n``, so
    the gradient with respect to ``W`` is that of ``W'`` minus its mean over the fan-in.
    Checked against ``torch.func`` in the tests.
    """
    grads = grouped_conv_grad_sample(layer, activations[0], backprops)
    uncentred(grads, layer.weight)
    return grads


def _block(in_channels: int, out_channels: int, num_groups: int) -> nn.Sequential:
    """Two [centred 3x3x3 convolution (no bias) -> GroupNorm -> Mish]."""
    groups = min(num_groups, out_channels)
    layers: list[nn.Module] = []
    for cin in (in_channels, out_channels):
        layers += [
            CentredConv3d(cin, out_channels, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels),
            nn.Mish(),
        ]
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """Decoder step: centred 1x1x1 convolution halving the channels -> trilinear upsampling to
    the skip's size (in place of a transposed convolution) -> concatenation with the skip -> a
    block. The bias-free 1x1x1 convolution and the interpolation are both linear, one over
    channels, one over space, so they commute: convolving first is the same map at 1/8 the
    cost. Interpolating to the skip's size (about 2x) takes sides that pooling halved with a
    remainder (50 slices: 50, 25, 12, 6, 3) back to their size."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int) -> None:
        super().__init__()
        self.reduce = CentredConv3d(in_channels, out_channels, kernel_size=1, bias=False)
        self.block = _block(2 * out_channels, out_channels, num_groups)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(
            self.reduce(features), size=skip.shape[2:], mode="trilinear", align_corners=False
        )
        return self.block(torch.cat([skip, up], dim=1))


class UNet3d(nn.Module):
    """3-D U-Net (Ronneberger et al. 2015; Çiçek et al. 2016) for DP-SGD: per-voxel logits.

    ``levels`` 2x2x2 max-poolings; ``base_channels`` at full resolution, doubling per level
    (16-32-64-128-256 for the default 4 levels). Every block is two [weight-centred 3x3x3
    convolution (no bias) -> GroupNorm(min(num_groups, channels)) -> Mish]; the decoder
    halves the channels with a centred 1x1x1 convolution, upsamples trilinearly to the skip's
    size, concatenates the encoder's skip features and applies a block; a final 1x1x1
    ``Conv3d`` (with bias) gives ``num_classes`` logits per voxel. The input (B, C, D, H, W),
    raw in ``[0, 1]``, is z-scored first by :class:`Standardize3d`; D, H and W must be at least
    ``2**levels``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        base_channels: int = 16,
        levels: int = 4,
        num_groups: int = 8,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or base_channels < 1 or levels < 1:
            raise ValueError(
                "UNet3d: need in_channels >= 1, num_classes >= 2, base_channels >= 1 and "
                f"levels >= 1, got {in_channels}, {num_classes}, {base_channels}, {levels}"
            )
        channels = [base_channels * 2**level for level in range(levels + 1)]
        for width in channels:
            if width % min(num_groups, width):
                raise ValueError(
                    f"UNet3d: {width} channels are not divisible into "
                    f"{min(num_groups, width)} GroupNorm groups"
                )
        if len(list(mean)) != in_channels or len(list(std)) != in_channels:
            raise ValueError(
                f"mean/std need one value per input channel ({in_channels}), got {mean} and {std}"
            )
        self.in_channels = in_channels
        self.levels = levels
        self.standardize = Standardize3d(mean, std)
        self.pool = nn.MaxPool3d(2)
        self.encoder = nn.ModuleList(
            [_block(in_channels, channels[0], num_groups)]
            + [_block(channels[i - 1], channels[i], num_groups) for i in range(1, levels + 1)]
        )
        self.decoder = nn.ModuleList(
            [_Up(channels[i + 1], channels[i], num_groups) for i in reversed(range(levels))]
        )
        self.head = nn.Conv3d(channels[0], num_classes, kernel_size=1)

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Raise ValueError unless ``shape`` is (B, in_channels, D, H, W) with every side at
        least ``2**levels`` (each pooling halves it, rounding down)."""
        factor = 2**self.levels
        if len(shape) != 5 or shape[1] != self.in_channels:
            raise ValueError(
                f"UNet3d expects (B, {self.in_channels}, D, H, W) inputs, got {tuple(shape)}"
            )
        if min(shape[2:]) < factor:
            raise ValueError(
                f"UNet3d with {self.levels} levels needs D, H, W of at least {factor}, "
                f"got {tuple(shape[2:])}"
            )

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(volumes.shape)
        out = self.encoder[0](self.standardize(volumes))
        skips = [out]
        for block in self.encoder[1:]:
            out = block(self.pool(out))
            skips.append(out)
        skips.pop()  # the bottleneck
        for up in self.decoder:
            out = up(out, skips.pop())
        return self.head(out)


def build_unet3d(
    in_channels: int,
    num_classes: int,
    volume_shape: Sequence[int],
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs: Any,
) -> UNet3d:
    """A :class:`UNet3d` for (in_channels, *volume_shape) inputs, volume_shape = (D, H, W).

    Raises ValueError unless every side is at least ``2**levels``. ``mean``/``std`` default
    to 0 and 1 per channel; ``kwargs`` are ``base_channels``, ``levels``, ``num_groups``.
    """
    mean = [0.0] * in_channels if mean is None else list(mean)
    std = [1.0] * in_channels if std is None else list(std)
    model = UNet3d(in_channels, num_classes, mean, std, **kwargs)
    if len(volume_shape) != 3:
        raise ValueError(f"volume_shape: expected (D, H, W), got {tuple(volume_shape)}")
    model.check_input_shape((1, in_channels, *volume_shape))
    return model
