"""What every accountant shares: the result record, the refusal error, the memory budget and
the checks of the mechanism's parameters."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any


def require_positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1, or a ValueError naming ``name`` (bools are not integers)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


def sampling_schedule(num_examples: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """(q, T) of Poisson-sampled DP-SGD: q = B/N and T = epochs·⌈N/B⌉ (expected batch size B)."""
    require_positive_int("num_examples", num_examples)
    require_positive_int("batch_size", batch_size)
    require_positive_int("epochs", epochs)
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size={batch_size} must be at most the number of examples N={num_examples}"
        )
    return batch_size / num_examples, epochs * math.ceil(num_examples / batch_size)


MEMORY_BUDGET_BYTES = 1 << 30
"""Largest working set one PRV or PLD evaluation may need (the process stays under 2 GiB)."""
DEFAULT_RELATIVE_ERROR = 2e-3
"""Default discretisation error of ``epsilon_for``, relative to ε."""
MIN_EPSILON_SCALE = 1e-3
"""Smallest ε used to scale a discretisation (absolute error floor for tiny ε)."""
SMALLEST_SIGMA = 1e-30
"""Smallest noise multiplier accounted (ε ≈ T/(2σ²) ≥ 1e59 there): below it prv-accountant's RDP
series slows down and, once σ² underflows, never ends; no accountant is asked."""


class AccountantUnavailableError(ValueError):
    """An accountant cannot compute ε safely for these parameters (the message says why)."""


@dataclass(frozen=True)
class EpsilonResult:
    """ε at δ: ``epsilon`` is an upper bound, ``lower`` a lower bound if the accountant has one;
    ``check`` the independent result this one was cross-checked against, if any."""

    epsilon: float
    lower: float | None
    accountant: str
    note: str
    check: EpsilonResult | None = None


def validate_mechanism(sample_rate: float, steps: int, delta: float) -> None:
    """ValueError unless q ∈ (0, 1], T is a positive integer and 0 < δ < 1."""
    if not (math.isfinite(sample_rate) and 0 < sample_rate <= 1):
        raise ValueError(f"sample_rate={sample_rate}: expected q = B/N in (0, 1]")
    require_positive_int("steps", steps)
    if not 0 < delta < 1:
        raise ValueError(f"delta={delta}: expected 0 < delta < 1")


def join_notes(*parts: str) -> str:
    """The non-empty notes joined by "; " (an accountant's note, then why others were refused)."""
    return "; ".join(part for part in parts if part)
