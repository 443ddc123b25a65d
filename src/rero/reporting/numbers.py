"""Numbers as the report's tables show them: three significant digits, powers of ten written
10ⁿ (from 10³ and below 10⁻²), integers grouped by thousands, a missing value empty.

Planning imports :mod:`rero.reporting.html` through the provenance page, so this module imports
nothing heavy either.
"""

from __future__ import annotations

import math
import numbers

SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
DIGITS = 3
#: from this magnitude up, and below :data:`SMALL`, a number is written with a power of ten
LARGE = 1e3
SMALL = 1e-2


def power_text(mantissa: str, exponent: int) -> str:
    """``mantissa``·10^``exponent`` in superscripts; a mantissa of one is left out (10⁹)."""
    power = "10" + str(exponent).translate(SUPERSCRIPTS)
    return power if float(mantissa) == 1 else f"{mantissa}·{power}"


def significant(value: float, digits: int = DIGITS) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros kept (0.700, 13.5, 3.16·10⁷);
    a whole number below 10³ stays whole (8, 256), ±∞ is ∞ or -∞."""
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0 or (value == int(value) and abs(value) < LARGE):
        return str(int(value))
    rounded = f"{value:.{digits - 1}e}"
    if SMALL <= abs(float(rounded)) < LARGE:
        return f"{value:#.{digits}g}".rstrip(".")
    mantissa, exponent = rounded.split("e")
    return power_text(mantissa, int(exponent))


def cell_text(value: object) -> str:
    """A table cell's text: a float by :func:`significant`, an integer grouped by thousands
    (8,000), '' for a missing value, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return significant(float(value))
    return str(value)


def is_rounded(value: object) -> bool:
    """Whether :func:`cell_text` shows ``value`` less precisely than it is (a finite float)."""
    if isinstance(value, bool | numbers.Integral):
        return False
    if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        return False
    return float(f"{float(value):.{DIGITS}g}") != float(value)
