"""The client-side DP-SGD gradient release both attacks observe (Abadi et al. 2016).

Per-sample gradients over all parameters, each clipped to L2 norm C, summed, plus N(0, sigma^2 C^2)
on every coordinate. Written out with ``torch.func`` (independent of Opacus, which ``rero.training``
uses), so an attack sees exactly the release the privacy analysis assumes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional

Gradients = dict[str, torch.Tensor]


def check_labels(labels: np.ndarray, num_classes: int) -> None:
    """Raise ValueError unless every label is an integer class index in 0 .. num_classes - 1."""
    values = np.asarray(labels)
    if values.size and (
        not np.issubdtype(values.dtype, np.integer)
        or values.min() < 0
        or values.max() >= num_classes
    ):
        raise ValueError(
            f"labels must be integers in 0..{num_classes - 1} (num_classes={num_classes}); got "
            f"{values.dtype} values in [{values.min()}, {values.max()}]"
        )


def per_sample_gradients(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> Gradients:
    """Cross-entropy gradient of every parameter for each sample, shapes (B, *param.shape)."""
    parameters = {name: value.detach() for name, value in model.named_parameters()}

    def sample_loss(params: Gradients, sample: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, params, (sample.unsqueeze(0),))
        return functional.cross_entropy(logits, label.unsqueeze(0))

    return vmap(grad(sample_loss), in_dims=(None, 0, 0))(parameters, inputs, labels)


def per_sample_norms(gradients: Gradients) -> torch.Tensor:
    """L2 norm of each sample's whole gradient (all parameters together), shape (B,)."""
    squares = [value.flatten(1).pow(2).sum(dim=1) for value in gradients.values()]
    return torch.stack(squares).sum(dim=0).sqrt()


def clip_per_sample(gradients: Gradients, clip_norm: float | None) -> Gradients:
    """Scale each sample's whole gradient by min(1, C / norm); ``None`` leaves it unclipped."""
    if clip_norm is None:
        return gradients
    if clip_norm <= 0:
        raise ValueError(f"clip_norm must be positive or None, got {clip_norm}")
    norms = per_sample_norms(gradients)
    factors = torch.where(norms > clip_norm, clip_norm / norms, torch.ones_like(norms))
    return {
        name: value * factors.view(-1, *([1] * (value.dim() - 1)))
        for name, value in gradients.items()
    }


def add_gaussian_noise(
    summed: Gradients, sigma: float, clip_norm: float | None, generator: torch.Generator
) -> Gradients:
    """Add N(0, (sigma C)^2) to every coordinate of a summed gradient (sigma 0: unchanged)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return summed
    if clip_norm is None:
        raise ValueError("sigma > 0 needs a clip_norm: the noise std is sigma * clip_norm")
    std = sigma * clip_norm
    return {
        name: value
        + std
        * torch.randn(value.shape, generator=generator, dtype=value.dtype, device=value.device)
        for name, value in summed.items()
    }


def dp_sgd_gradient(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    sigma: float,
    clip_norm: float | None,
    generator: torch.Generator,
) -> Gradients:
    """One DP-SGD gradient release: clipped per-sample gradients, summed, Gaussian noise added.

    ``sigma = 0`` and ``clip_norm = None`` is the non-private gradient sum.
    """
    clipped = clip_per_sample(per_sample_gradients(model, inputs, labels), clip_norm)
    summed = {name: value.sum(dim=0) for name, value in clipped.items()}
    return add_gaussian_noise(summed, sigma, clip_norm, generator)
