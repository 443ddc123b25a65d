"""The client-side DP-SGD gradient release both attacks observe (Abadi et al. 2016).

Per-sample gradients over all parameters, each clipped to L2 norm C, summed, plus N(0, sigma^2 C^2)
on every coordinate. Written out with ``torch.func`` (independent of Opacus, which ``rero.training``
uses), so an attack sees exactly the release the privacy analysis assumes. Runs on the device of the
model and inputs; the per-sample gradients of a batch are held for as many samples at a time as fit
a byte budget (a 224 x 224 imprint model has ~10^8 parameters per sample).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional

Gradients = dict[str, torch.Tensor]
DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20
# copies of a sample's whole gradient held at once: the gradient, the squares of its largest
# parameter for the norm, the clipped copy of the released parameters
GRADIENT_COPIES = 3


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


def clip_factors(gradients: Gradients, clip_norm: float | None) -> torch.Tensor | None:
    """Each sample's factor min(1, C / norm) over its whole gradient; ``None`` for no clipping."""
    if clip_norm is None:
        return None
    if clip_norm <= 0:
        raise ValueError(f"clip_norm must be positive or None, got {clip_norm}")
    norms = per_sample_norms(gradients)
    return torch.where(norms > clip_norm, clip_norm / norms, torch.ones_like(norms))


def _scaled(value: torch.Tensor, factors: torch.Tensor | None) -> torch.Tensor:
    return value if factors is None else value * factors.view(-1, *([1] * (value.dim() - 1)))


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


def samples_per_chunk(model: nn.Module, max_chunk_bytes: int) -> int:
    """How many samples' per-sample gradients fit ``max_chunk_bytes`` (at least one)."""
    sample_bytes = sum(value.numel() * value.element_size() for value in model.parameters())
    return max(1, int(max_chunk_bytes // max(1, GRADIENT_COPIES * sample_bytes)))


def dp_sgd_gradient(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    sigma: float,
    clip_norm: float | None,
    generator: torch.Generator,
    released: tuple[str, ...] | None = None,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> Gradients:
    """One DP-SGD gradient release: clipped per-sample gradients, summed, Gaussian noise added.

    ``sigma = 0`` and ``clip_norm = None`` is the non-private gradient sum. ``released``: the
    parameters an observer reads (all by default); each sample is still clipped over all of them,
    and the noise of the others, independent and unread, is not drawn. Samples are taken in chunks
    of :func:`samples_per_chunk`; a batch that fits one chunk is summed in one reduction.
    """
    names = [name for name, _ in model.named_parameters() if released is None or name in released]
    if released is not None and len(names) != len(set(released)):
        known = [name for name, _ in model.named_parameters()]
        raise ValueError(f"released parameters {sorted(released)} are not all among {known}")
    chunk = samples_per_chunk(model, max_chunk_bytes)
    summed: Gradients = {}
    for start in range(0, len(inputs), chunk):
        gradients = per_sample_gradients(
            model, inputs[start : start + chunk], labels[start : start + chunk]
        )
        factors = clip_factors(gradients, clip_norm)
        for name in names:
            part = _scaled(gradients[name], factors).sum(dim=0)
            summed[name] = summed[name] + part if name in summed else part
        del gradients
    return add_gaussian_noise(summed, sigma, clip_norm, generator)
