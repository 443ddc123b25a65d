"""Interleaved step timing shared by the step benchmarks (not a benchmark itself).

Every variant's step runs once per round, round after round, so background load hits them alike;
round 0 warms up (cuDNN's algorithm search, Opacus' first hooks) and is not timed. On CUDA each
step starts from reset peak statistics and records ``torch.cuda.max_memory_allocated`` after it
(the steps synchronise before they return), so a variant's peak counts what was resident when it
ran (every variant's model and optimiser state, the inputs) plus what its own step allocated.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepTiming:
    """One variant's median step time and, on CUDA, the peak allocated memory over its steps."""

    median_s: float
    peak_bytes: int | None


def time_interleaved(
    steps: Mapping[str, Callable[..., None]],
    inputs: tuple[torch.Tensor, ...],
    rounds: int,
) -> dict[str, StepTiming]:
    """``rounds`` timed rounds (after one warm-up) of every step on ``inputs``, interleaved."""
    if rounds < 1:
        raise ValueError(f"rounds: expected an integer >= 1, got {rounds}")
    cuda = inputs[0].is_cuda
    times: dict[str, list[float]] = {name: [] for name in steps}
    peaks = dict.fromkeys(steps, 0)
    for round_index in range(rounds + 1):
        for name, step in steps.items():
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            step(*inputs)
            elapsed = time.perf_counter() - start
            if cuda:
                peaks[name] = max(peaks[name], torch.cuda.max_memory_allocated())
            if round_index:
                times[name].append(elapsed)
    return {
        name: StepTiming(statistics.median(values), peaks[name] if cuda else None)
        for name, values in times.items()
    }
