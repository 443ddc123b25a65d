"""The training loss: cross-entropy over the class logits, or for a binary task with one logit the
binary cross-entropy with logits (the paper's HAM10000 model, Ziller et al. 2024); for a
segmentation task the soft Dice loss of every sample (its MSD Liver model)."""

from __future__ import annotations

import torch
from torch import nn

from rero.training.config import LOSS_REDUCTIONS
from rero.training.dice import DiceLoss


class ClassificationLoss(nn.Module):
    """``loss(logits, labels)``; with ``single_logit`` the logits are (B, 1), the logit of class 1.

    ``reduction`` ("mean", "sum" or "none") is an attribute as in torch's losses: Opacus' ghost
    clipping sets it to "none" while it takes the per-example losses.
    """

    def __init__(self, single_logit: bool = False, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in (*LOSS_REDUCTIONS, "none"):
            raise ValueError(f"reduction: expected mean, sum or none, got {reduction!r}")
        self.single_logit = single_logit
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.single_logit:
            return nn.functional.binary_cross_entropy_with_logits(
                logits.squeeze(1), labels.to(logits.dtype), reduction=self.reduction
            )
        return nn.functional.cross_entropy(logits, labels, reduction=self.reduction)


def training_loss(task: str, single_logit: bool, reduction: str) -> nn.Module:
    """The loss of a dataset's ``task``: :class:`ClassificationLoss` or the per-sample
    :class:`~rero.training.dice.DiceLoss`, combined over the batch by ``reduction``."""
    if task == "segmentation":
        return DiceLoss(reduction)
    return ClassificationLoss(single_logit, reduction)
