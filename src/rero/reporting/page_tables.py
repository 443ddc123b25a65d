"""The tables of the report's pages, shaped for reading: the summary split into groups of columns
(utility, privacy, risk bounds, attacks, audit), the imprint attack one table per success
criterion, the audit one row per budget and auditor, the advice one table per threat model with
the columns that do not vary stated above it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rero.reporting.summary import KEY, attack_table
from rero.runtime.io import read_json

#: the privacy plan's columns of the summary (the PRV estimate and the training run's RDP bound
#: join them by prefix)
PRIVACY_COLUMNS = ("epsilon", "epsilon_lower", "accountant", "sigma", "sample_rate", "steps")
#: the summary's groups of columns in reading order: (title, column prefixes); a column of no
#: group is a utility column
SUMMARY_GROUPS = (
    ("Utility", ()),
    ("Privacy", ("delta", "prv_", "rdp_")),
    ("Risk bounds", ("train_rero_bound_", "from_scratch_", "mia_")),
    ("Attacks, measured", ("imprint_success", "imprint_ci", "imprint_raw", "prior_aware_")),
    ("Imprint attack, where it starts to work", ("imprint_transition_",)),
    ("Audit", ("audit_",)),
)


def summary_group(column: str) -> str:
    """The title of the group of :data:`SUMMARY_GROUPS` that a summary column belongs to."""
    if column in PRIVACY_COLUMNS:
        return "Privacy"
    for title, prefixes in SUMMARY_GROUPS:
        if prefixes and column.startswith(prefixes):
            return title
    if column.startswith("imprint_"):  # a further criterion's columns
        return "Attacks, measured"
    return "Utility"


def summary_groups(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The summary's columns (bar the key) by group, in reading order, each in table order."""
    return [
        (title, [c for c in columns if c not in KEY and summary_group(c) == title])
        for title, _ in SUMMARY_GROUPS
    ]


def imprint_criteria(imprint_files: Sequence[Path]) -> dict[str, pd.DataFrame]:
    """Per success criterion of the imprint attack (the paper's SSIM first, then those of
    ``attack.imprint.success``), one row per budget: σ, images, successes, rate and 95 %
    Clopper–Pearson interval."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for file in imprint_files:
        record = read_json(file)
        for item in record["criteria"]:
            tables.setdefault(str(item["criterion"]), []).append(
                {
                    "target_epsilon": float(record["target_epsilon"]),
                    "sigma": float(record["sigma"]),
                    "images": int(record["num_images"]),
                    "successes": int(item["successes"]),
                    "success_rate": float(item["success_rate"]),
                    "ci_low": float(item["ci_low"]),
                    "ci_high": float(item["ci_high"]),
                }
            )
    return {
        criterion: pd.DataFrame(rows).sort_values("target_epsilon", ignore_index=True)
        for criterion, rows in tables.items()
    }


def prior_aware_frame(prior_aware_files: Sequence[Path]) -> pd.DataFrame:
    """The prior-aware attack per trained budget: success, interval, its prior and the certified
    bound of its own DP-SGD run."""
    table = attack_table(prior_aware_files, "prior_aware", extra=("kappa", "bound"))
    return table.drop(columns="dataset").sort_values("target_epsilon", ignore_index=True)


def transitions_frame(transition_files: Sequence[Path]) -> pd.DataFrame:
    """The ε intervals in which the imprint attack's success first reaches each level."""
    rows = []
    for file in transition_files:
        record = read_json(file)
        rows += [{"dataset": record["dataset"], **item} for item in record["transitions"]]
    return pd.DataFrame(rows)


def audit_order(name: str) -> int:
    """Where an audit quantity goes in its row: ε bounds, then whether they exceed the claim,
    then the rest (canaries, guesses, accuracy)."""
    return 0 if name.startswith("epsilon") else 1 if "exceeds" in name else 2


def audit_frame(audit_files: Sequence[Path]) -> pd.DataFrame:
    """One row per audited budget and auditor (white-box, black-box): the claimed ε and its
    accountant, then every number the audit reports for that auditor, its ε bounds first
    (lists, the per-step tests, and prose left out)."""
    rows = []
    for file in audit_files:
        record = read_json(file)
        claimed = record["claimed"]
        for access in ("white_box", "black_box"):
            if access not in record:
                continue
            numbers = {
                name: value
                for name, value in record[access].items()
                if isinstance(value, int | float | bool) or value is None
            }
            found = dict(sorted(numbers.items(), key=lambda item: audit_order(item[0])))
            low, high = record[access].get("accuracy_ci", (math.nan, math.nan))
            rows.append(
                {
                    "target_epsilon": float(record["target_epsilon"]),
                    "access": record[access].get("access", access),
                    "claimed_epsilon": float(claimed["epsilon"]),
                    "claimed_accountant": claimed["accountant"],
                    **found,
                    "accuracy_ci_low": low,
                    "accuracy_ci_high": high,
                }
            )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["target_epsilon", "access"], ignore_index=True) if rows else frame


def constant_columns(frame: pd.DataFrame) -> tuple[dict[str, object], pd.DataFrame]:
    """(column -> value for each column with one value in every row, the other columns); a
    column empty in every row is left out of both."""
    empty = [str(column) for column in frame.columns if frame[column].isna().all()]
    frame = frame.drop(columns=empty)
    constant = {
        str(column): frame[column].iloc[0]
        for column in frame.columns
        if len(frame) > 1 and frame[column].nunique(dropna=False) == 1
    }
    return constant, frame.drop(columns=list(constant))


def advice_parts(advice: pd.DataFrame) -> list[tuple[str, dict[str, object], pd.DataFrame]]:
    """The advice table per threat model and prior, criterion or FPR: (title, the columns that
    do not vary within it, its rows by tolerated risk)."""
    parts = []
    for (threat, at_label), rows in advice.groupby(["threat", "at_label"], sort=False):
        constant, varying = constant_columns(rows.drop(columns=["dataset", "threat", "at_label"]))
        parts.append((f"{threat}, {rows['at'].iloc[0]} {at_label}", constant, varying))
    return parts
