"""What the figures write: budgets, priors κ as fractions, method names, the imprint attack's
criterion, and the ε axis on which the non-private run has its own place."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import NullLocator

from rero.privacy.rero.methods import METHOD_NAMES
from rero.reporting.figures.style import BREAK_COLOUR, BREAK_LINESTYLE

NON_PRIVATE = "non-private"
NON_PRIVATE_TICK = "non-\nprivate"  # narrow: it sits next to the largest budget's tick
SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power_of_ten(exponent: int) -> str:
    """10 with a superscript exponent: 10⁹."""
    return "10" + str(exponent).translate(SUPERSCRIPTS)


def eps_label(value: float) -> str:
    """A target ε for a title: "non-private" for inf, powers of ten from 10⁴ on as 10ⁿ."""
    if math.isinf(value):
        return NON_PRIVATE
    exponent = math.log10(value)
    if value >= 1e4 and exponent.is_integer():
        return "ε = " + power_of_ten(int(exponent))
    return f"ε = {value:g}"


def fraction(value: float) -> str:
    """A probability in (0, 1) as a fraction: 1/8, 3/1000; else as a decimal."""
    exact = Fraction(value).limit_denominator(10**4)
    if math.isclose(float(exact), value, rel_tol=1e-9):
        return f"{exact.numerator}/{exact.denominator}"
    return f"{value:.3g}"


def kappa_text(kappa: float, label: str = "") -> str:
    """A prior as a reader sees it: "κ = 1/N (N = 500)" for the configured "1/N", else
    "κ = 1/8" (a number given as 0.125 too)."""
    if label == "1/N":
        return f"κ = 1/N (N = {round(1 / kappa)})"
    return f"κ = {fraction(kappa)}"


def method_name(method: str) -> str:
    """The display name of a bound method of the registry."""
    if method not in METHOD_NAMES:
        raise ValueError(
            f"bounds table: method {method!r} has no display name; expected one of "
            f"{', '.join(METHOD_NAMES)}"
        )
    return METHOD_NAMES[method]


def imprint_text(eta: float) -> str:
    """The imprint attack, measured by the paper's success criterion, η given."""
    return f"imprint attack, measured (SSIM ≥ η = {eta:g})"


@dataclass(frozen=True)
class EpsAxis:
    """A log ε axis from the smallest to the largest finite budget, and the non-private run
    (ε = ∞) placed beyond them behind a dotted break, its tick labelled "non-private"."""

    low: float
    high: float

    @classmethod
    def of(cls, budgets: Iterable[float]) -> EpsAxis:
        """The axis for these target ε (inf included or not)."""
        finite = [value for value in map(float, budgets) if math.isfinite(value)]
        return cls(min(finite, default=1.0), max(finite, default=1.0))

    @property
    def non_private(self) -> float:
        """Where ε = ∞ is drawn: 30 % of the finite span (at least a decade) past the largest."""
        span = math.log10(self.high) - math.log10(self.low)
        return self.high * 10 ** max(1.0, 0.3 * span)

    def x(self, budgets: pd.Series | Sequence[float] | np.ndarray) -> np.ndarray:
        """Axis positions of target ε values (inf -> :attr:`non_private`)."""
        values = np.asarray(budgets, dtype=float)
        return np.where(np.isinf(values), self.non_private, values)

    def decorate(self, axis: Axes) -> None:
        """Log scale, decade ticks (at most five labelled) and the non-private tick and break."""
        axis.set_xscale("log")
        first, last = math.floor(math.log10(self.low)), math.ceil(math.log10(self.high))
        step = max(1, math.ceil((last - first) / 4))
        decades = list(range(first, last + 1, step))
        axis.set_xticks(
            [10.0**d for d in decades] + [self.non_private],
            [power_of_ten(d) if d not in (0, 1) else f"{10**d}" for d in decades]
            + [NON_PRIVATE_TICK],
        )
        axis.xaxis.set_minor_locator(NullLocator())
        axis.axvline(
            math.sqrt(self.high * self.non_private),
            color=BREAK_COLOUR,
            linewidth=0.6,
            linestyle=BREAK_LINESTYLE,
        )
        margin = 0.05 * (math.log10(self.non_private) - first)
        axis.set_xlim(10 ** (first - margin), self.non_private * 10**margin)
        axis.set_xlabel("privacy budget ε")
