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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from rero.attacks.dp_step import check_labels
from rero.attacks.matching import clopper_pearson

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
    weights: np.ndarray, biases: np.ndarray, inputs: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """p - e_y of linear softmax models: weights (R, K, D), biases (R, K), inputs (R, n, D),
    labels (R, n) -> (R, n, K). A sample's cross-entropy gradient is the rank-one matrix
    (p - e_y) [x, 1]^T, of L2 norm ||p - e_y|| ||[x, 1]||: no per-sample gradient is stored."""
    logits = inputs @ weights.transpose(0, 2, 1) + biases[:, None, :]
    logits -= logits.max(axis=2, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=2, keepdims=True)
    return probabilities - np.eye(weights.shape[1])[labels]


def pool_images(images: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Average-pool (N, C, H, W) images to at most ``max_side`` pixels a side."""
    array = np.asarray(images, dtype=np.float64)
    height, width = array.shape[2:]
    if max(height, width) <= max_side:
        return array
    size = (min(height, max_side), min(width, max_side))
    return functional.adaptive_avg_pool2d(torch.from_numpy(array), size).numpy()


def _dp_sgd_scores(
    inputs: np.ndarray,
    labels: np.ndarray,
    targets: np.ndarray,
    rng: np.random.Generator,
    *,
    num_classes: int,
    prior_size: int,
    steps: int,
    sample_rate: float,
    sigma: float,
    clip_norm: float,
    learning_rate: float,
) -> np.ndarray:
    """DP-SGD runs of R trials in lockstep on their (M candidates + D-) inputs (R, M + n, D);
    return the adversary's score of every candidate, (R, M).

    Parameters are kept as one (K, D + 1) matrix per trial (weights and bias column), so each
    clipped per-sample gradient is f_i r_i [x_i, 1]^T with clip factor f_i = min(1, C / norm_i).
    """
    trials, num_samples, dimension = inputs.shape
    known_size = num_samples - prior_size
    augmented = np.concatenate([inputs, np.ones((trials, num_samples, 1))], axis=2)
    input_norms = np.linalg.norm(augmented, axis=2)
    rows = np.arange(trials)
    parameters = np.zeros((trials, num_classes, dimension + 1))
    parameters[:, :, :dimension] = rng.standard_normal((trials, num_classes, dimension))
    parameters[:, :, :dimension] /= dimension**0.5
    expected_batch = sample_rate * (known_size + 1)
    scores = np.zeros((trials, prior_size))
    for _ in range(steps):
        residuals = softmax_residuals(
            parameters[:, :, :dimension], parameters[:, :, dimension], inputs, labels
        )
        norms = np.linalg.norm(residuals, axis=2) * input_norms
        clipped = residuals * np.minimum(1.0, clip_norm / np.maximum(norms, 1e-300))[..., None]
        known_sampled = rng.random((trials, known_size)) < sample_rate
        known_part = clipped[:, prior_size:] * known_sampled[..., None]
        known_sum = known_part.transpose(0, 2, 1) @ augmented[:, prior_size:]
        target_sampled = rng.random(trials) < sample_rate
        target_residual = clipped[rows, targets] * target_sampled[:, None]
        target_sum = target_residual[:, :, None] * augmented[rows, targets][:, None, :]
        # what the adversary keeps after removing D-: the target's clipped gradient (if sampled)
        # plus the noise
        signal = target_sum + sigma * clip_norm * rng.standard_normal(target_sum.shape)
        projected = augmented[:, :prior_size] @ signal.transpose(0, 2, 1)
        scores += np.sum(clipped[:, :prior_size] * projected, axis=2)
        parameters -= learning_rate * (known_sum + signal) / expected_batch
    return scores


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
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> PriorAwareResult:
    """Repeat the attack ``trials`` times, each on its own DP-SGD run.

    Each trial draws its own M candidates, D-, target, initial model, Poisson batches and noise;
    trials run in lockstep, in chunks whose arrays fit about ``max_chunk_bytes``. The
    model update divides the released sum by the expected batch size q (|D-| + 1), as Opacus does.
    Ties in the score (e.g. sigma = 0 and the target never sampled) are broken at random.
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
    features = standardise(pool_images(images[used])).reshape(len(used), -1)
    used_labels = np.asarray(labels, dtype=np.int64)[used]
    targets = rng.integers(prior_size, size=trials)
    trial_bytes = (2 * (prior_size + known_size) + 3 * num_classes) * (features.shape[1] + 1) * 8
    chunk = max(1, int(max_chunk_bytes // trial_bytes))
    scores = np.concatenate(
        [
            _dp_sgd_scores(
                features[chosen[start : start + chunk]],
                used_labels[chosen[start : start + chunk]],
                targets[start : start + chunk],
                np.random.default_rng(child),
                num_classes=num_classes,
                prior_size=prior_size,
                steps=steps,
                sample_rate=sample_rate,
                sigma=sigma,
                clip_norm=clip_norm,
                learning_rate=learning_rate,
            )
            for start, child in zip(
                range(0, trials, chunk), rng.spawn(math.ceil(trials / chunk)), strict=True
            )
        ]
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
