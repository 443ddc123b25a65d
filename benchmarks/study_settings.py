"""The settings the benchmarks time, read from the workflow's own config files with its own code.

A config file is read and validated as the Snakefile does (``rero.study.config``), each dataset's
sampling schedule is ``rero.privacy.accounting.base.sampling_schedule`` of its N, B and epochs,
and κ is the config's first ``bounds.kappa`` (``1/N`` in every shipped config). N comes from
``rero.data.registry.expected_split_sizes`` when the dataset can be sized here (the generated
MNI152 sets; the paper's data when its ``root`` exists); else from :data:`PAPER_TRAINING_SIZES`.
Not a benchmark itself: the scripts beside it import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rero.data.registry import dataset_shape, expected_split_sizes
from rero.data.shapes import DatasetShape
from rero.privacy.accounting.base import sampling_schedule
from rero.study.checks import dataset_settings
from rero.study.config import load_schema, read_config_files, validate_config
from rero.study.tokens import eps_tokens, parse_eps_token, parse_kappa

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_STUDY = REPO / "config.yaml"
PAPER_STUDY = REPO / "workflow" / "configs" / "paper.yaml"
SEGMENTATION_STUDY = REPO / "workflow" / "configs" / "mni152_seg.yaml"
#: training-split sizes of the paper's data (Ziller et al. 2024) where it is not on disk: HAM10000
#: split by lesion, RadImageNet's q = 3,328 / 10⁶, MSD Liver's 131 labelled volumes less 12 + 13
PAPER_TRAINING_SIZES = {"ham10000": 8111, "radimagenet": 1_000_000, "msd_liver": 106}


@dataclass(frozen=True)
class Schedule:
    """One dataset's DP-SGD schedule as the workflow plans it."""

    num_train: int
    batch_size: int
    epochs: int
    sample_rate: float
    steps: int
    delta: float
    kappa: float


def _split_sizes(loader: str, options: dict[str, Any]) -> dict[str, int] | None:
    """The split sizes, or None when the loader's data is not on this disk."""
    try:
        return expected_split_sizes(loader, options)
    except FileNotFoundError:
        return None


def _shape(loader: str, options: dict[str, Any]) -> DatasetShape | None:
    """The dataset's shape, or None when the loader's data is not on this disk."""
    try:
        return dataset_shape(loader, options)
    except FileNotFoundError:
        return None


def study_config(path: Path) -> dict[str, Any]:
    """The config file validated, its schema defaults filled (as ``common.smk`` does; the
    checks that need a dataset not on this disk are skipped)."""
    config = read_config_files([path])
    validate_config(config, load_schema(SCHEMA), _split_sizes, _shape)
    return config


def training_size(config: dict[str, Any], dataset: str) -> int:
    """N of ``dataset``: its loader's count, else the paper's (:data:`PAPER_TRAINING_SIZES`)."""
    entry = config["datasets"][dataset]
    sizes = _split_sizes(entry["loader"], entry.get("options", {}))
    return sizes["train"] if sizes is not None else PAPER_TRAINING_SIZES[dataset]


def schedules(config: dict[str, Any]) -> dict[str, Schedule]:
    """Every dataset's schedule in ``config`` (validated by :func:`study_config`)."""
    result = {}
    for dataset in config["datasets"]:
        training = dataset_settings(config, dataset, "training")
        num_train = training_size(config, dataset)
        sample_rate, steps = sampling_schedule(
            num_train, training["batch_size"], training["epochs"]
        )
        kappa = parse_kappa(str(config["bounds"]["kappa"][0]))[1]
        result[dataset] = Schedule(
            num_train=num_train,
            batch_size=training["batch_size"],
            epochs=training["epochs"],
            sample_rate=sample_rate,
            steps=steps,
            delta=dataset_settings(config, dataset, "privacy")["delta"],
            kappa=1 / num_train if kappa is None else kappa,
        )
    return result


def finite_budgets(config: dict[str, Any]) -> dict[str, float]:
    """The private budgets of the config's ε grid, token → ε (ε = inf needs no σ)."""
    budgets = {token: parse_eps_token(token) for token in eps_tokens(config["eps"])}
    return {token: budget for token, budget in budgets.items() if math.isfinite(budget)}
