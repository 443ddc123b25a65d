"""The spellings of the study configuration, and its error type: ε path tokens (``1``, ``1e3``,
``inf``) and κ specs (``1/N``, ``1/8``, ``0.01``) are read and written here only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """The study configuration is invalid; the message lists every problem."""


def parse_eps_token(token: str) -> float:
    """ε from a config/path token: "inf" (non-private) or a positive number such as "8" or "1e3"."""
    text = str(token).strip()
    if text.lower() == "inf":
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"eps token {token!r}: expected 'inf' or a positive finite number such as '8' or '1e3'"
        )
    return value


def eps_token(value: Any) -> str:
    """The path token for one target ε, as the user wrote it (1, 8, 1e3, inf): a text as written,
    an integral float below 1e16 as an integer (8.0 -> 8), any other float as its shortest
    round-trip spelling (8.123456789, 2.5e-05), so that the token is the budget asked for."""
    if isinstance(value, str):
        token = value.strip()
    elif isinstance(value, float) and math.isinf(value):
        raise ConfigError(
            f"eps: {value!r} is a number too large for a float (YAML reads e.g. 1e400 as "
            "infinity); write the string 'inf' for the non-private run, or a finite budget"
        )
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        token = str(int(value))
    else:
        token = repr(float(value)) if isinstance(value, float) else str(value)
    try:
        parse_eps_token(token)
    except ValueError:
        raise ConfigError(
            f"eps: {value!r} is not a valid privacy budget (expected ε > 0 or 'inf')"
        ) from None
    return token


def budget_token(value: float) -> str:
    """The token of a budget held as a float (a plan's target ε, a bisection midpoint): "inf"
    for the non-private run, else :func:`eps_token`'s exact spelling, so ``float(token)`` gives
    ``value`` back and two budgets never share a token."""
    return "inf" if value == math.inf else eps_token(float(value))


def eps_tokens(values: Iterable[Any]) -> list[str]:
    """Path tokens for the ε list, rejecting duplicates such as 1000 and 1e3."""
    tokens = [eps_token(value) for value in values]
    seen: dict[float, str] = {}
    for token in tokens:
        if float(token) in seen:
            raise ConfigError(f"eps: {seen[float(token)]!r} and {token!r} are the same budget")
        seen[float(token)] = token
    return tokens


def merged_eps_tokens(tokens: list[str], extra: Iterable[Any]) -> list[str]:
    """``tokens`` followed by the budgets of ``extra`` that are not among them (by value)."""
    values = {float(token) for token in tokens}
    merged = list(tokens)
    for token in eps_tokens(extra):
        if float(token) not in values:
            values.add(float(token))
            merged.append(token)
    return merged


def audited_eps_tokens(tokens: list[str], audited: Iterable[Any]) -> list[str]:
    """The tokens of ``tokens`` (the study's ε) whose budget is among ``audited``, in order."""
    values = {float(token) for token in eps_tokens(audited)}
    return [token for token in tokens if float(token) in values]


def parse_kappa(spec: str) -> tuple[str, float | None]:
    """A prior spec -> (label, kappa): "1/N" (None: 1/dataset_size per plan), "1/<int>", a float."""
    text = spec.strip()
    if text == "1/N":
        return text, None
    try:
        value = 1 / int(text[2:]) if text.startswith("1/") else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"kappa must be '1/N', '1/<integer>' or a number in (0, 1), got {spec!r}"
        ) from None
    if not 0 < value < 1:
        raise ValueError(f"kappa must lie in (0, 1), got {spec!r}")
    return text, value


def kappa_specs_with(specs: Iterable[Any], extra: str) -> list[str]:
    """``specs`` as text, then ``extra`` unless one of them already gives its κ ("1/8" and
    0.125 are one κ, so its rows are not computed twice)."""
    texts = [str(spec) for spec in specs]
    values = {parse_kappa(text)[1] for text in texts}
    return texts if parse_kappa(extra)[1] in values else [*texts, extra]
