"""Models of the DP-SGD study, all compatible with Opacus (GroupNorm, no BatchNorm): two
classifiers, and the 3-D U-Net of :mod:`rero.unet3d` for segmentation.

Every model starts with :class:`Standardize`, which z-scores the raw ``[0, 1]`` input with the
training set's per-channel mean and standard deviation (``meta.json`` ``mean``/``std``). The two
statistics are non-trainable buffers, so they are part of the saved ``state_dict`` (``model.pt``):
a model rebuilt with :func:`build_model` and loaded from ``model.pt`` takes raw images, exactly as
training fed them. Metrics and attacks therefore pass un-normalised images to every model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


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
    :func:`rero.training.centred_conv2d_grad_sample`."""


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


def _small_cnn(
    in_channels: int, num_classes: int, mean: Sequence[float], std: Sequence[float]
) -> nn.Module:
    return SmallCNN(in_channels, num_classes, mean, std)


def _resnet9(
    in_channels: int, num_classes: int, mean: Sequence[float], std: Sequence[float]
) -> nn.Module:
    return ResNet9(in_channels, num_classes, mean, std)


def _unet3d(
    in_channels: int, num_classes: int, mean: Sequence[float], std: Sequence[float]
) -> nn.Module:
    from rero.unet3d import UNet3d  # it builds on this module's Standardize

    return UNet3d(in_channels, num_classes, mean, std)


ModelFactory = Callable[[int, int, Sequence[float], Sequence[float]], nn.Module]

#: name -> (factory, number of spatial axes, smallest side the model's pooling supports); the
#: task each solves is ``rero.engines.MODEL_TASKS``
MODELS: dict[str, tuple[ModelFactory, int, int]] = {
    "small_cnn": (_small_cnn, 2, 4),
    "resnet9": (_resnet9, 2, 8),
    "unet3d": (_unet3d, 3, 16),
}


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    image_size: int | Sequence[int],
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    single_logit: bool = False,
) -> nn.Module:
    """Build model ``name`` for ``in_channels`` x ``image_size`` inputs and ``num_classes`` logits
    (per image, or per voxel for the 3-D U-Net; ``image_size`` then holds D, H, W).

    ``mean``/``std`` (per channel, default 0 and 1) are the z-scoring statistics stored in the
    model; pass ``meta["mean"]``/``meta["std"]`` when training. Loading a saved ``state_dict``
    overwrites them with the trained model's values. ``single_logit`` (two classes only) gives
    one output, the logit of class 1 (for a binary cross-entropy loss).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if in_channels < 1 or num_classes < 2:
        raise ValueError(
            f"need in_channels >= 1 and num_classes >= 2, got {in_channels} and {num_classes}"
        )
    if single_logit and num_classes != 2:
        raise ValueError(f"single_logit needs num_classes = 2, got {num_classes}")
    factory, axes, min_side = MODELS[name]
    sides = [image_size] * axes if isinstance(image_size, int) else list(image_size)
    if len(sides) != axes:
        raise ValueError(
            f"model {name!r} takes inputs with {axes} spatial axes, got image size {sides}"
        )
    if min(sides) < min_side:
        raise ValueError(f"model {name!r} needs images of at least {min_side}px, got {sides}")
    mean = [0.0] * in_channels if mean is None else list(mean)
    std = [1.0] * in_channels if std is None else list(std)
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(
            f"mean/std need one value per input channel ({in_channels}), got {mean} and {std}"
        )
    return factory(in_channels, 1 if single_logit else num_classes, mean, std)
