"""The optimal unbiased linear inversion of one Opacus DP-SGD release: the from-scratch adversary
of Riess et al., "From Mean to Extreme" (arXiv:2402.12861), run for real to validate its law.

A trap y = W x (M rows, no bias) with the loss sum(y) has the per-sample weight gradient
1_M x^T. Each image is released alone (batch of one) through an Opacus ``DPOptimizer`` step:
clipped to C and noised with N(0, sigma^2 C^2) per entry. The adversary, knowing the clip factor
c = min(1, C / (sqrt(M) ||x||)), reconstructs x_hat = mean of the rows / c, which is
x + sigma max(||x||, C / sqrt(M)) Z: the law's x + sigma ||x|| Z while clipping is active
(M >= (C / ||x||)^2), noisier otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer

from rero.privacy.accounting.base import require_positive_int


def invert_releases(
    images: np.ndarray, *, sigma: float, clip_norm: float, rows: int, seed: int
) -> np.ndarray:
    """The reconstruction of each image (n, N) from its own DP-SGD release, float64 (n, N).

    Raises:
        ValueError: images not a non-empty 2-d array, sigma < 0, clip_norm <= 0 or rows < 1.
    """
    rows = require_positive_int("rows", rows)
    if np.ndim(images) != 2 or len(images) == 0:
        raise ValueError(f"images: got shape {np.shape(images)}, expected (n >= 1, N)")
    if not sigma >= 0:
        raise ValueError(f"sigma={sigma!r}: expected a noise multiplier >= 0")
    if not clip_norm > 0:
        raise ValueError(f"clip_norm={clip_norm!r}: expected a clip norm > 0")
    inputs = torch.as_tensor(np.asarray(images), dtype=torch.float64)
    trap = torch.nn.Linear(inputs.shape[1], rows, bias=False).double()
    model = GradSampleModule(trap)
    optimizer = DPOptimizer(
        torch.optim.SGD(trap.parameters(), lr=1.0),
        noise_multiplier=sigma,
        max_grad_norm=clip_norm,
        expected_batch_size=1,
        generator=torch.Generator().manual_seed(seed),
    )
    reconstructions = np.empty(inputs.shape, dtype=np.float64)
    for index, image in enumerate(inputs):
        optimizer.zero_grad(set_to_none=True)
        model(image.unsqueeze(0).requires_grad_()).sum().backward()  # full hooks need an input grad
        optimizer.pre_step()
        clip = min(1.0, clip_norm / (math.sqrt(rows) * float(image.norm())))
        reconstructions[index] = trap.weight.grad.mean(dim=0).numpy() / clip
    return reconstructions
