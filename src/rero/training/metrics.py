"""Evaluation: accuracy, balanced accuracy, AUROC and MCC of a model, and the training-loss curve.

The metrics are computed with scikit-learn from the model's class probabilities: the softmax of
its logits, or for a model with one logit (binary task) ``[1 - p, p]`` with ``p`` its sigmoid.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    matthews_corrcoef,
    roc_auc_score,
)
from torch import nn

from rero.data.store import unit_float

MAX_LOSS_CURVE_POINTS = 1000


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, AUROC and MCC (scikit-learn) of class probabilities.

    AUROC is the positive-class ROC AUC for two classes and the macro one-vs-rest AUC otherwise;
    it is NaN when a split lacks a class.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = probabilities.shape[1]
    predictions = probabilities.argmax(axis=1)
    try:
        if num_classes == 2:
            auroc = roc_auc_score(labels, probabilities[:, 1])
        else:
            auroc = roc_auc_score(
                labels,
                probabilities,
                multi_class="ovr",
                average="macro",
                labels=list(range(num_classes)),
            )
    except ValueError:
        auroc = math.nan
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "auroc": float(auroc),
        "mcc": float(matthews_corrcoef(labels, predictions)),
    }


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, classes) float64 probabilities of (B, classes) logits, or of (B, 1) binary logits."""
    logits = logits.double()
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Class probabilities (float64) of raw images in evaluation mode: a tensor in ``[0, 1]`` or an
    array (uint8 or float32, e.g. memory-mapped), gathered and converted batch by batch."""
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        index = np.arange(start, min(start + batch_size, len(images)))
        if isinstance(images, torch.Tensor):
            batch = images[torch.from_numpy(index)]
        else:
            batch = torch.from_numpy(unit_float(images[index]))
        outputs.append(class_probabilities(model(batch.to(device))).cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy()


def loss_curve(losses: list[float], steps_per_epoch: int) -> list[dict[str, float]]:
    """Mean training loss per window of logical steps (at most MAX_LOSS_CURVE_POINTS windows)."""
    window = max(1, math.ceil(len(losses) / MAX_LOSS_CURVE_POINTS))
    curve = []
    for start in range(0, len(losses), window):
        chunk = [value for value in losses[start : start + window] if math.isfinite(value)]
        end = min(start + window, len(losses))
        curve.append(
            {
                "step": end,
                "epoch": end / steps_per_epoch,
                "loss": float(np.mean(chunk)) if chunk else math.nan,
            }
        )
    return curve
