"""The canaries of a privacy audit: crafted records whose membership the auditor tests.

* Gradient canaries (Nasr et al. 2021, "Adversary instantiation", and 2023, "Tight auditing of
  differentially private machine learning"): a record whose per-sample gradient is a Dirac
  vector, ``norm`` in one parameter coordinate and 0 elsewhere, one coordinate per canary. The
  coordinates are those the data's clipped per-sample gradients use least at initialisation, so
  the noisy update in a canary's coordinate is mostly the canary and the Gaussian noise. Its norm
  is larger than C, so that a step that fails to clip shows.
* Input canaries (Jagielski et al. 2020; Steinke et al. 2023): held-out images with a wrong
  label, which a model only fits when it trains on them; the realistic, black-box kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: a gradient canary's norm in units of the clipping norm C
GRADIENT_CANARY_NORM = 10.0


@dataclass(frozen=True)
class GradientCanaries:
    """Dirac per-sample gradients: canary j is ``norm`` at flat coordinate ``coordinates[j]`` of
    the model's parameters (in ``model.parameters()`` order)."""

    coordinates: np.ndarray
    norm: float

    def __len__(self) -> int:
        return len(self.coordinates)

    def rows(self, parameters: list[nn.Parameter], drawn: list[int]) -> list[torch.Tensor]:
        """Per parameter, the (len(drawn), *shape) per-sample gradients of the canaries
        ``drawn`` (indices into this set)."""
        rows = []
        offset = 0
        picked = torch.as_tensor(self.coordinates[drawn], dtype=torch.int64)
        for parameter in parameters:
            size = parameter.numel()
            block = torch.zeros(len(drawn), size, dtype=parameter.dtype)
            inside = (picked >= offset) & (picked < offset + size)
            block[torch.nonzero(inside).flatten(), picked[inside] - offset] = self.norm
            rows.append(block.view(len(drawn), *parameter.shape).to(parameter.device))
            offset += size
        return rows


def quiet_coordinates(
    model: nn.Module,
    criterion: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    clip_norm: float,
    count: int,
) -> np.ndarray:
    """The ``count`` flat parameter coordinates with the smallest mean magnitude of the clipped
    per-sample gradients of the probe batch ``images`` (``criterion`` sums the batch's losses)."""
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    total = sum(parameter.numel() for parameter in parameters)
    if not 0 < count <= total:
        raise ValueError(
            f"gradient_canaries: {count} canaries need as many parameter coordinates; the model "
            f"has {total}"
        )
    usage = torch.zeros(total, dtype=torch.float64)
    for image, label in zip(images, labels, strict=True):
        loss = criterion(model(image[None]), label[None])
        grads = torch.autograd.grad(loss, parameters)
        flat = torch.cat([grad.flatten() for grad in grads]).double()
        usage += flat.abs() * min(1.0, clip_norm / max(float(flat.norm()), 1e-12))
    order = np.lexsort((np.arange(total), usage.numpy()))
    return np.sort(order[:count])


def mislabelled(
    images: np.ndarray, labels: np.ndarray, num_classes: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of ``images`` (drawn without replacement), each with a uniformly drawn wrong
    label (none for ``count`` 0)."""
    if count == 0:
        return np.asarray(images[:0]), np.zeros(0, dtype=np.int64)
    if num_classes < 2:
        raise ValueError(f"input canaries need at least 2 classes, got {num_classes}")
    if count > len(images):
        raise ValueError(
            f"input_canaries: {count} canaries need as many held-out images; the split has "
            f"{len(images)}"
        )
    chosen = np.sort(rng.choice(len(images), size=count, replace=False))
    shift = rng.integers(1, num_classes, size=count)
    wrong = (np.asarray(labels[chosen], dtype=np.int64) + shift) % num_classes
    return np.asarray(images[chosen]), wrong
