"""The two classifiers of the study, both Opacus-compatible (GroupNorm, no BatchNorm): a CPU-sized
CNN and the paper's ResNet-9 (Ziller et al. 2024). Each starts with :class:`Standardize`, so it
takes raw ``[0, 1]`` images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rero.models.layers import CentredConv2d, Standardize


def _conv_norm_act(
    in_channels: int, out_channels: int, num_groups: int, pool: bool
) -> nn.Sequential:
    """Centred 3x3 convolution (no bias) -> GroupNorm -> Mish (-> 2x2 max-pool)."""
    layers: list[nn.Module] = [
        CentredConv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.GroupNorm(min(num_groups, out_channels), out_channels),
        nn.Mish(),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _conv_pool_norm_act(
    in_channels: int, out_channels: int, num_groups: int, pool: bool = False
) -> nn.Sequential:
    """3x3 convolution (-> 2x2 max-pool) -> GroupNorm -> ReLU: pooling first makes the norm and
    its per-sample gradients 4x cheaper."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.GroupNorm(min(num_groups, out_channels), out_channels), nn.ReLU()]
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """CPU-sized CNN (~34k parameters at 1 input channel, 3 classes).

    3x [conv3x3 -> GroupNorm(4) -> ReLU] with 24/48/48 channels, a 2x2 max-pool after the first
    two convolutions, adaptive average pooling to 4x4, one linear layer. The pools sit between
    convolution and GroupNorm, so the norms and ReLUs (and their per-sample gradients under
    DP-SGD) run at a quarter of the resolution; ReLU commutes with max-pooling.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        channels: tuple[int, int, int] = (24, 48, 48),
        num_groups: int = 4,
    ) -> None:
        super().__init__()
        self.standardize = Standardize(mean, std)
        first, second, third = channels
        self.features = nn.Sequential(
            _conv_pool_norm_act(in_channels, first, num_groups, pool=True),
            _conv_pool_norm_act(first, second, num_groups, pool=True),
            _conv_pool_norm_act(second, third, num_groups),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(third * 16, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.standardize(images)))


class ResNet9(nn.Module):
    """ResNet-9 with GroupNorm, as in the paper's DP models (Ziller et al. 2024, Methods; after
    Klause et al. 2022, "Differentially private training of residual networks with scale
    normalisation").

    conv(64) - conv(128)+pool - residual[conv(128), conv(128)] - ScaleNorm - conv(256)+pool -
    conv(256)+pool - residual[conv(256), conv(256)] - ScaleNorm - adaptive avg-pool 2x2 - linear.
    Weight-centred convolutions (:class:`CentredConv2d`) without bias; GroupNorm with
    min(32, channels) groups; Mish activations; 2x2 max-pooling after the activation;
    ScaleNorm = a GroupNorm after each residual addition (Klause et al. 2022).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        channels: tuple[int, int, int, int] = (64, 128, 256, 256),
        num_groups: int = 32,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels

        def block(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
            return _conv_norm_act(cin, cout, num_groups, pool)

        self.standardize = Standardize(mean, std)
        self.conv1 = block(in_channels, c1)
        self.conv2 = block(c1, c2, pool=True)
        self.res1 = nn.Sequential(block(c2, c2), block(c2, c2))
        self.scale_norm1 = nn.GroupNorm(min(num_groups, c2), c2)
        self.conv3 = block(c2, c3, pool=True)
        self.conv4 = block(c3, c4, pool=True)
        self.res2 = nn.Sequential(block(c4, c4), block(c4, c4))
        self.scale_norm2 = nn.GroupNorm(min(num_groups, c4), c4)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(4 * c4, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(self.standardize(images)))
        out = self.scale_norm1(self.res1(out) + out)
        out = self.conv4(self.conv3(out))
        out = self.scale_norm2(self.res2(out) + out)
        return self.classifier(self.flatten(self.pool(out)))
