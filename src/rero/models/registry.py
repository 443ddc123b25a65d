"""The model registry: a model's name → the module that defines it (``rero.models.entries``),
imported only when that model is built, so a job's code inputs hold the model it trains and no
other (``rero.runtime.sources``).

Every model takes raw ``[0, 1]`` inputs (:class:`rero.models.layers.Standardize` first) and is
Opacus-compatible (GroupNorm, no BatchNorm); each layer's per-sample-gradient sampler is
registered where the layer is defined.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rero.models.entries import MODELS

if TYPE_CHECKING:
    from torch import nn


def model_module(name: str) -> str:
    """The module that defines model ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name].module


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

    Raises:
        ValueError: an unknown model, or sizes, channels or statistics it cannot take.
    """
    model_module(name)  # refuses an unknown model
    entry = MODELS[name]
    if in_channels < 1 or num_classes < 2:
        raise ValueError(
            f"need in_channels >= 1 and num_classes >= 2, got {in_channels} and {num_classes}"
        )
    if single_logit and num_classes != 2:
        raise ValueError(f"single_logit needs num_classes = 2, got {num_classes}")
    sides = [image_size] * entry.axes if isinstance(image_size, int) else list(image_size)
    if len(sides) != entry.axes:
        raise ValueError(
            f"model {name!r} takes inputs with {entry.axes} spatial axes, got image size {sides}"
        )
    if min(sides) < entry.min_side:
        raise ValueError(f"model {name!r} needs images of at least {entry.min_side}px, got {sides}")
    mean = [0.0] * in_channels if mean is None else list(mean)
    std = [1.0] * in_channels if std is None else list(std)
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(
            f"mean/std need one value per input channel ({in_channels}), got {mean} and {std}"
        )
    model_class = getattr(importlib.import_module(entry.module), entry.attribute)
    return model_class(in_channels, 1 if single_logit else num_classes, mean, std)
