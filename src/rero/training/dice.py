"""Soft Dice: the segmentation loss (Milletari et al. 2016, V-Net) and segmentation metrics.

The soft Dice of class k in one sample, with ``p`` its predicted probabilities and ``g`` the
indicator of its mask, is the smoothed ``(2·Σ p·g + s) / (Σ p + Σ g + s)`` with ``s = eps``
(default ``1e-5``), summed over the sample's voxels only. The smoothing fixes the convention for
empty classes: a class absent from both prediction and mask (Σ p = Σ g = 0) has Dice exactly 1;
a class absent from the mask but predicted with total probability mass P has Dice
``s / (P + s)``, which is near 0 once P is well above ``s`` (a false positive). Elsewhere ``s``
changes the Dice by at most about ``s / (Σ p + Σ g)``.

Everything is per sample: under DP-SGD (Opacus) each example's loss must depend on that
example alone, so the Dice is never pooled over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

#: the smoothing ``s`` of the soft Dice (see the module docstring)
DICE_SMOOTHING = 1e-5


def soft_dice_per_class(
    probabilities: torch.Tensor,
    masks: torch.Tensor,
    num_classes: int,
    eps: float = DICE_SMOOTHING,
) -> torch.Tensor:
    """(B, K) soft Dice ``(2·Σ p·g + eps) / (Σ p + Σ g + eps)`` of each sample and class.

    ``probabilities`` (B, K, *spatial), e.g. softmax outputs; ``masks`` (B, *spatial) integer
    class indices in ``[0, K)``. Sums run over each sample's voxels only, so sample i's Dice
    depends on sample i alone. A class absent from both prediction and mask gets exactly 1.
    """
    if probabilities.ndim < 2 or probabilities.shape[1] != num_classes:
        raise ValueError(
            f"probabilities: expected (B, {num_classes}, *spatial), "
            f"got {tuple(probabilities.shape)}"
        )
    if masks.shape != probabilities.shape[:1] + probabilities.shape[2:]:
        raise ValueError(
            f"masks: expected shape {tuple(probabilities.shape[:1] + probabilities.shape[2:])} "
            f"for probabilities {tuple(probabilities.shape)}, got {tuple(masks.shape)}"
        )
    if masks.dtype.is_floating_point or masks.dtype.is_complex or masks.dtype == torch.bool:
        raise ValueError(f"masks: expected integer class indices, got dtype {masks.dtype}")
    if masks.numel() and (int(masks.min()) < 0 or int(masks.max()) >= num_classes):
        raise ValueError(
            f"masks: class indices must lie in [0, {num_classes}), "
            f"got [{int(masks.min())}, {int(masks.max())}]"
        )
    truth = nn.functional.one_hot(masks.long(), num_classes).movedim(-1, 1)
    truth = truth.to(probabilities.dtype)
    dims = tuple(range(2, probabilities.ndim))
    intersection = (probabilities * truth).sum(dim=dims)
    total = probabilities.sum(dim=dims) + truth.sum(dim=dims)
    return (2 * intersection + eps) / (total + eps)


class DiceLoss(nn.Module):
    """Soft Dice loss (Milletari et al. 2016): per sample ``1 - mean_k Dice_k`` of the softmax of
    (B, K, *spatial) logits against (B, *spatial) masks, then ``reduction`` over the batch.

    ``reduction`` is "mean", "sum" or "none" (per-sample losses; Opacus' ghost clipping sets it).
    Each per-sample loss depends on its own sample only, as DP-SGD requires; an empty batch
    gives 0 under "sum" and NaN under "mean", as torch's losses do.
    """

    def __init__(self, reduction: str = "mean", eps: float = DICE_SMOOTHING) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction: expected mean, sum or none, got {reduction!r}")
        self.reduction = reduction
        self.eps = eps

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(logits, dim=1)
        dice = soft_dice_per_class(probabilities, masks, logits.shape[1], self.eps)
        losses = 1 - dice.mean(dim=1)
        if self.reduction == "mean":
            return losses.mean()
        if self.reduction == "sum":
            return losses.sum()
        return losses


def segmentation_metrics(
    masks: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, float | dict[str, float]]:
    """Soft and hard Dice of (N, K, *spatial) class probabilities against (N, *spatial) masks.

    ``dice_per_class``: each class's soft Dice averaged over the N samples; ``dice``: their mean
    over classes; ``dice_foreground``: the mean without class 0 (the background).
    ``hard_dice_per_class``, ``hard_dice``, ``hard_dice_foreground``: the same for the one-hot
    argmax prediction. Python floats (JSON-serialisable); NaN for N = 0.
    """
    names = list(class_names)
    probs = torch.from_numpy(np.asarray(probabilities, dtype=np.float64))
    labels = torch.from_numpy(np.asarray(masks).astype(np.int64, copy=False))
    if probs.ndim < 2 or probs.shape[1] != len(names) or len(names) < 2:
        raise ValueError(
            f"probabilities: expected (N, {len(names)}, *spatial) for classes {names} "
            f"(at least 2), got {tuple(probs.shape)}"
        )
    soft = soft_dice_per_class(probs, labels, len(names))
    hard_prediction = nn.functional.one_hot(probs.argmax(dim=1), len(names)).movedim(-1, 1)
    hard = soft_dice_per_class(hard_prediction.double(), labels, len(names))
    result: dict[str, float | dict[str, float]] = {}
    for prefix, dice in (("", soft), ("hard_", hard)):
        per_class = dice.mean(dim=0) if len(dice) else torch.full((len(names),), float("nan"))
        result[f"{prefix}dice_per_class"] = {
            name: float(value) for name, value in zip(names, per_class.tolist(), strict=True)
        }
        result[f"{prefix}dice"] = float(per_class.mean())
        result[f"{prefix}dice_foreground"] = float(per_class[1:].mean())
    return result
