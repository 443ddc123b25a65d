"""Prior-aware informed adversary against a real DP-SGD run (Hayes, Mahloujifar, Balle 2023, §4.3).

Threat model of the ReRo bound (Balle, Cherubin, Hayes 2022): the target is one of M candidates
drawn uniformly (baseline kappa = 1/M); the adversary knows every other training record (D-), the
model theta_t at every step, which records of D- each Poisson-sampled batch holds, and sees every
step's released gradient (clipped per-sample gradients summed, plus N(0, sigma^2 C^2)). It removes
the known clipped gradients of D- to get r_t = noise (+ the target's clipped gradient if sampled)
and answers the candidate z_j maximising sum_t <r_t, clip_C(grad l(theta_t; z_j))>. When every
candidate's clipped gradient has norm C this is the likelihood-ratio test of the bound's worst case
at p = 1, so with a small C (all gradients clipped) the attack approaches the bound.
The model is a linear softmax classifier on the flattened image (images larger than 32 pixels a
side average-pooled to 32), CPU-sized; the bound depends only on sigma, q, T, so the model's size
does not change what is audited. Its inputs are centred by the per-pixel mean image and scaled by
the pixel std of the images drawn for the trials (statistics trainer and adversary both know):
centring makes the candidates' gradients far less aligned than raw images in [0, 1] would, so the
attack gets closer to the worst case the bound assumes.
The images of the trials are gathered from the (memory-mapped, uint8 or float32) split and pooled a
chunk at a time. The DP-SGD runs are torch float64 on the job's device: the CPU draws its random
numbers from numpy's generator (the stream of the numpy releases), other devices from a torch
generator seeded from it (reproducible per device). Its cost grows with the number of classes
(165 for RadImageNet: minutes on one CPU core, see ``benchmarks/bench_attacks.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch.nn import functional

from rero.attacks.dp_step import check_labels
from rero.attacks.matching import clopper_pearson
from rero.data.store import unit_float

MODEL = "linear softmax classifier on the standardised flattened image"
MAX_SIDE = 32  # larger images are average-pooled to 32 pixels a side for this CPU-sized audit
DEFAULT_MAX_CHUNK_BYTES = 64 * 2**20


def standardise(images: np.ndarray) -> np.ndarray:
    """Subtract the per-pixel mean image and divide by the overall pixel std (1 if constant)."""
    array = np.asarray(images, dtype=np.float64)
    spread = array.std()
    return (array - array.mean(axis=0)) / (spread if spread > 0 else 1.0)


@dataclass(frozen=True)
class PriorAwareResult:
    """Outcome of the repeated attack: one guess per trial and whether it hit the target."""

    successes: int
    trials: int
    prior_size: int
    guesses: np.ndarray
    targets: np.ndarray

    @property
    def success_rate(self) -> float:
        return self.successes / self.trials

    @property
    def kappa(self) -> float:
        """Baseline success of guessing without the model: one candidate of M."""
        return 1.0 / self.prior_size


def softmax_residuals(
    weights: torch.Tensor, biases: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """p - e_y of linear softmax models: weights (R, K, D), biases (R, K), inputs (R, n, D),
    labels (R, n) -> (R, n, K). A sample's cross-entropy gradient is the rank-one matrix
    (p - e_y) [x, 1]^T, of L2 norm ||p - e_y|| ||[x, 1]||: no per-sample gradient is stored."""
    logits = inputs @ weights.transpose(1, 2) + biases[:, None, :]
    logits -= logits.amax(dim=2, keepdim=True)
    probabilities = logits.exp()
    probabilities /= probabilities.sum(dim=2, keepdim=True)
    return probabilities - functional.one_hot(labels, weights.shape[1]).to(probabilities.dtype)


class RandomSource(Protocol):
    """Standard normal and uniform [0, 1) float64 draws of a given shape, on one device."""

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor: ...

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor: ...


@dataclass(frozen=True)
class NumpySource:
    """Draws of a numpy generator (on the CPU: the random stream of the numpy releases)."""

    rng: np.random.Generator

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(self.rng.standard_normal(shape))

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(self.rng.random(shape))


@dataclass(frozen=True)
class TorchSource:
    """Draws of a torch generator on its device (no host-to-device copies)."""

    generator: torch.Generator

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(
            shape, generator=self.generator, dtype=torch.float64, device=self.generator.device
        )

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(
            shape, generator=self.generator, dtype=torch.float64, device=self.generator.device
        )


def random_source(rng: np.random.Generator, device: torch.device) -> RandomSource:
    """numpy's ``rng`` itself on the CPU; elsewhere a torch generator seeded from it."""
    if device.type == "cpu":
        return NumpySource(rng)
    seed = int(rng.integers(2**63))
    return TorchSource(torch.Generator(device=device).manual_seed(seed))


def pool_images(images: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Average-pool (N, C, H, W) images or (N, C, D, H, W) volumes to at most ``max_side``
    pixels (voxels) a side."""
    array = np.asarray(images, dtype=np.float64)
    spatial = array.shape[2:]
    if max(spatial) <= max_side:
        return array
    size = tuple(min(side, max_side) for side in spatial)
    pool = functional.adaptive_avg_pool3d if len(spatial) == 3 else functional.adaptive_avg_pool2d
    return pool(torch.from_numpy(array), size).numpy()


def pooled_features(
    images: np.ndarray, indices: np.ndarray, max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
) -> np.ndarray:
    """``pool_images`` of ``images[indices]``, float64, gathered and converted a chunk at a time
    (``indices`` ascending reads a memory-mapped split in order)."""
    image_bytes = 16 * int(np.prod(images.shape[1:]))  # the gathered, float32, float64 copies
    chunk = max(1, int(max_chunk_bytes // max(1, image_bytes)))
    return np.concatenate(
        [
            pool_images(unit_float(images[indices[start : start + chunk]]))
            for start in range(0, len(indices), chunk)
        ]
    )


def _dp_sgd_scores(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor,
    source: RandomSource,
    *,
    num_classes: int,
    prior_size: int,
    steps: int,
    sample_rate: float,
    sigma: float,
    clip_norm: float,
    learning_rate: float,
) -> torch.Tensor:
    """DP-SGD runs of R trials in lockstep on their (M candidates + D-) inputs (R, M + n, D);
    return the adversary's score of every candidate, (R, M).

    Parameters are kept as one (K, D + 1) matrix per trial (weights and bias column), so each
    clipped per-sample gradient is f_i r_i [x_i, 1]^T with clip factor f_i = min(1, C / norm_i).
    """
    trials, num_samples, dimension = inputs.shape
    known_size = num_samples - prior_size
    augmented = torch.cat([inputs, inputs.new_ones((trials, num_samples, 1))], dim=2)
    input_norms = torch.linalg.vector_norm(augmented, dim=2)
    rows = torch.arange(trials, device=inputs.device)
    parameters = inputs.new_zeros((trials, num_classes, dimension + 1))
    parameters[:, :, :dimension] = source.normal((trials, num_classes, dimension))
    parameters[:, :, :dimension] /= dimension**0.5
    expected_batch = sample_rate * (known_size + 1)
    scores = inputs.new_zeros((trials, prior_size))
    for _ in range(steps):
        residuals = softmax_residuals(
            parameters[:, :, :dimension], parameters[:, :, dimension], inputs, labels
        )
        norms = torch.linalg.vector_norm(residuals, dim=2) * input_norms
        factors = torch.clamp(clip_norm / torch.clamp(norms, min=1e-300), max=1.0)
        clipped = residuals * factors[..., None]
        known_sampled = source.uniform((trials, known_size)).to(inputs.device) < sample_rate
        known_part = clipped[:, prior_size:] * known_sampled[..., None]
        known_sum = known_part.transpose(1, 2) @ augmented[:, prior_size:]
        target_sampled = source.uniform((trials,)).to(inputs.device) < sample_rate
        target_residual = clipped[rows, targets] * target_sampled[:, None]
        target_sum = target_residual[:, :, None] * augmented[rows, targets][:, None, :]
        # what the adversary keeps after removing D-: the target's clipped gradient (if sampled)
        # plus the noise
        noise = source.normal(tuple(target_sum.shape)).to(inputs.device)
        signal = target_sum + sigma * clip_norm * noise
        projected = augmented[:, :prior_size] @ signal.transpose(1, 2)
        scores += torch.sum(clipped[:, :prior_size] * projected, dim=2)
        parameters -= learning_rate * (known_sum + signal) / expected_batch
    return scores


def _chunked_scores(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
    device: torch.device,
    chunk: int,
    **run: Any,
) -> np.ndarray:
    """Scores (R, M) of every trial: ``arrays`` = (features, labels of the used images, each
    trial's picks among them, targets), ``chunk`` trials at a time on ``device``, each chunk with
    its own stream spawned from ``rng``; ``run``: the settings of :func:`_dp_sgd_scores`."""
    features, labels, chosen, targets = (torch.from_numpy(array).to(device) for array in arrays)
    trials = len(targets)
    parts = []
    for start, child in zip(
        range(0, trials, chunk), rng.spawn(math.ceil(trials / chunk)), strict=True
    ):
        picked = chosen[start : start + chunk]
        parts.append(
            _dp_sgd_scores(
                features[picked],
                labels[picked],
                targets[start : start + chunk],
                random_source(child, device),
                **run,
            )
        )
    return torch.cat(parts).cpu().numpy()


def run_prior_aware_attack(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    prior_size: int,
    known_size: int,
    trials: int,
    steps: int,
    sample_rate: float,
    sigma: float,
    clip_norm: float,
    learning_rate: float,
    seed: int,
    device: torch.device | str = "cpu",
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> PriorAwareResult:
    """Repeat the attack ``trials`` times, each on its own DP-SGD run, on ``device``.

    Each trial draws its own M candidates, D-, target, initial model, Poisson batches and noise;
    trials run in lockstep, in chunks whose arrays fit about ``max_chunk_bytes`` (the chunks fix
    the random streams, so the budget is part of the seed). The model update divides the released
    sum by the expected batch size q (|D-| + 1), as Opacus does. Ties in the score (e.g. sigma = 0
    and the target never sampled) are broken at random.
    """
    if prior_size < 2:
        raise ValueError(f"prior_size must be at least 2, got {prior_size}")
    if known_size < 0 or prior_size + known_size > len(images):
        raise ValueError(
            f"prior_size={prior_size} + known_size={known_size} exceeds the {len(images)} images"
        )
    if trials < 1 or steps < 1:
        raise ValueError(f"trials and steps must be positive, got {trials} and {steps}")
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    if clip_norm <= 0 or sigma < 0:
        raise ValueError(f"need clip_norm > 0 and sigma >= 0, got {clip_norm} and {sigma}")
    check_labels(labels, num_classes)
    rng = np.random.default_rng(seed)
    drawn = np.stack(
        [rng.choice(len(images), prior_size + known_size, replace=False) for _ in range(trials)]
    )
    used, chosen = np.unique(drawn, return_inverse=True)
    chosen = chosen.reshape(drawn.shape)
    features = standardise(pooled_features(images, used, max_chunk_bytes)).reshape(len(used), -1)
    used_labels = np.asarray(labels, dtype=np.int64)[used]
    targets = rng.integers(prior_size, size=trials)
    trial_bytes = (2 * (prior_size + known_size) + 3 * num_classes) * (features.shape[1] + 1) * 8
    chunk = max(1, int(max_chunk_bytes // trial_bytes))
    scores = _chunked_scores(
        (features, used_labels, chosen, targets),
        rng,
        torch.device(device),
        chunk,
        num_classes=num_classes,
        prior_size=prior_size,
        steps=steps,
        sample_rate=sample_rate,
        sigma=sigma,
        clip_norm=clip_norm,
        learning_rate=learning_rate,
    )
    guesses = np.array([rng.choice(np.flatnonzero(row == row.max())) for row in scores])
    return PriorAwareResult(
        successes=int(np.sum(guesses == targets)),
        trials=trials,
        prior_size=prior_size,
        guesses=guesses,
        targets=targets,
    )


def summarise_prior_aware(result: PriorAwareResult, bound: float) -> dict[str, object]:
    """Success with a 95 % Clopper-Pearson CI, beside the ReRo upper bound at kappa = 1/M."""
    ci_low, ci_high = clopper_pearson(result.successes, result.trials)
    return {
        "success_rate": result.success_rate,
        "successes": result.successes,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "trials": result.trials,
        "prior_size": result.prior_size,
        "kappa": result.kappa,
        "bound": bound,
        "bound_respected": bool(ci_low <= bound),
        "model": MODEL,
    }
