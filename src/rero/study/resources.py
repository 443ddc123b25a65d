"""Time limits of the GPU jobs (``train``, ``audit``), from the work each does.

A DP-SGD training job computes T·B·K per-sample gradients in expectation: T = epochs·⌈N/B⌉ steps
(``rero.privacy.accounting.base.sampling_schedule``) of expected logical batch B, each sample's
gradient taken over K augmented views (De et al. 2022). An audit trains ``audit.runs`` such models.
The time is that work over :data:`ASSUMED_THROUGHPUT`, with :data:`MARGIN` for evaluation and
checkpoints and :data:`START_MINUTES` for start-up, capped at :data:`MAX_ATTEMPT_MINUTES` a
submission: a longer job is killed at its limit and resumes from its last epoch's checkpoint when
SLURM runs it again (the profile's ``retries``), so it needs :func:`submissions` in all.
"""

from __future__ import annotations

import math

from rero.privacy.accounting.base import sampling_schedule

#: ASSUMED, not measured (no GPU was at hand): per-sample gradients a second that one data-centre
#: GPU (A100 class) computes for each model at the paper's input size (ResNet-9 at 224 x 224, the
#: 3-D U-Net at 128 x 128 x 50); small_cnn at 28 x 28. ``scripts/gpu_check.sh`` measures a node's
#: (its "images/s" of the DP step); put what it prints here.
ASSUMED_THROUGHPUT = {"small_cnn": 20_000.0, "resnet9": 400.0, "unet3d": 4.0}
MARGIN = 1.25
START_MINUTES = 15
#: one submission's limit: 48 h, a common GPU partition's MaxTime (``sinfo -o "%P %l"``)
MAX_ATTEMPT_MINUTES = 48 * 60


def per_sample_gradients(
    num_examples: int, batch_size: int, epochs: int, multiplicity: int, runs: int = 1
) -> int:
    """T·B·K per-sample gradients of ``runs`` trainings (expected logical batch B)."""
    _, steps = sampling_schedule(num_examples, batch_size, epochs)
    return runs * steps * batch_size * multiplicity


def total_minutes(work: int, model: str) -> int:
    """Minutes the ``work`` (per-sample gradients of ``model``) takes at the assumed throughput,
    with the margin and start-up."""
    return math.ceil(work / ASSUMED_THROUGHPUT[model] / 60 * MARGIN) + START_MINUTES


def attempt_minutes(work: int, model: str) -> int:
    """One submission's time limit (SLURM ``-t``, the ``runtime`` resource)."""
    return min(total_minutes(work, model), MAX_ATTEMPT_MINUTES)


def submissions(work: int, model: str) -> int:
    """Submissions the job needs at :func:`attempt_minutes` each (1: no resubmission); each one
    after the first resumes from a checkpoint."""
    return math.ceil(total_minutes(work, model) / MAX_ATTEMPT_MINUTES)
