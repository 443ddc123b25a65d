"""Refusing a run whose loss, gradient, weights or predictions stop being finite numbers.

A NaN or infinite value is a broken computation, never a result: training stops at the first
logical step that produces one, with the settings that most likely caused it and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from rero.privacy.plan import PrivacyPlan
from rero.training.config import TrainConfig

#: the largest float32 number: a noise std σC above it is infinite on the training's tensors
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


class NonFiniteTrainingError(ValueError):
    """A training run produced a NaN or infinite loss, gradient, weight or prediction."""


def all_finite(tensors: Iterable[torch.Tensor | None]) -> bool:
    """Whether every entry of every tensor is finite (None entries, unused gradients, are
    skipped); one synchronisation per device (Adam keeps its step counts on the CPU)."""
    checks: dict[torch.device, list[torch.Tensor]] = {}
    for tensor in tensors:
        if tensor is not None:
            checks.setdefault(tensor.device, []).append(torch.isfinite(tensor).all())
    return all(bool(torch.stack(flags).all()) for flags in checks.values())


def nested_tensors(value: Any) -> Iterator[torch.Tensor]:
    """The tensors inside ``value``: a tensor, or dicts, lists and tuples holding tensors (a
    state dict, an optimiser's state)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from nested_tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from nested_tensors(item)


def settings_hint(plan: PrivacyPlan, config: TrainConfig) -> str:
    """The settings that scale a step (clip norm C, learning rate, σ) and what to change."""
    rate = (
        f"training.learning_rate {config.learning_rate:g} ({config.optimizer}, "
        f"loss_reduction {config.loss_reduction})"
    )
    if not plan.private:
        return f"settings: non-private (no clipping, no noise), {rate}; lower the learning rate"
    clip = float(config.clip_norm or math.nan)
    noise = plan.sigma * clip
    overflow = f", above float32's largest number {FLOAT32_MAX:.3g}" if noise > FLOAT32_MAX else ""
    return (
        f"settings: privacy.clip_norm C = {clip:g}, σ = {plan.sigma:.4g} (noise std σC = "
        f"{noise:.3g}{overflow}), {rate}; lower privacy.clip_norm (typically 0.1 to 10) or the "
        "learning rate"
    )


def non_finite_message(
    what: str, epoch: int, step: int, plan: PrivacyPlan, config: TrainConfig
) -> str:
    """The one-line refusal of a run whose ``what`` became non-finite at (epoch, step)."""
    return (
        f"{what} is not finite (NaN or infinite) at epoch {epoch}, step {step} of {plan.steps}: "
        f"the run is broken, not a result; {settings_hint(plan, config)}"
    )
