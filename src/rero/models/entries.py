"""What the study knows of each model before any is built (torch-free, so the workflow checks a
model against its dataset's images before any job): the module and class that define it, its
number of spatial axes and the smallest side its pooling supports. The task each model solves is
``rero.study.engines.MODEL_TASKS``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    """Where a model is defined (``module``, ``attribute``: a class taking ``in_channels,
    num_classes, mean, std``), its number of spatial axes and the smallest side its pooling
    supports."""

    module: str
    attribute: str
    axes: int
    min_side: int


MODELS: dict[str, ModelEntry] = {
    "small_cnn": ModelEntry("rero.models.classifiers", "SmallCNN", axes=2, min_side=4),
    "resnet9": ModelEntry("rero.models.classifiers", "ResNet9", axes=2, min_side=8),
    "unet3d": ModelEntry("rero.models.unet3d", "UNet3d", axes=3, min_side=16),
}
