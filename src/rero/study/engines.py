"""Which Opacus per-sample-gradient engines and which models can run which training settings.

Torch-free, so that the workflow checks a study's settings before any job starts; the training
code (:class:`rero.training.TrainConfig`) applies the same rules when a run is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Opacus per-sample gradient engines; all give the same clipped update (see tests).
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ew", "ghost")
#: engines that store per-sample gradients (ghost clipping only computes their norms), so the
#: K views of a sample can be averaged before clipping (De et al. 2022)
VIEW_AVERAGING_MODES = ("hooks", "functorch", "ew")
#: models whose layers torch's expanded weights (grad_sample_mode "ew") can differentiate; the
#: weight centring of ResNet-9's convolutions is not among them
EXPANDED_WEIGHTS_MODELS = ("small_cnn",)
#: the task each model of ``rero.models.classifiers.MODELS`` solves
MODEL_TASKS = {"small_cnn": "classification", "resnet9": "classification", "unet3d": "segmentation"}


def setting_conflicts(training: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for every combination of ``training`` settings that cannot run.

    ``training`` holds the keys of the config's ``training`` section (``model``,
    ``grad_sample_mode``, ``augmentation_multiplicity``, ``flip_probability``, ``max_shift``).
    """
    conflicts = []
    mode, model = training["grad_sample_mode"], training["model"]
    multiplicity = int(training["augmentation_multiplicity"])
    if mode == "ew" and model not in EXPANDED_WEIGHTS_MODELS:
        conflicts.append(
            (
                "grad_sample_mode",
                f"'ew' cannot differentiate model {model!r} (its weight-centred convolutions); "
                "expected hooks, functorch or ghost",
            )
        )
    if multiplicity > 1 and mode not in VIEW_AVERAGING_MODES:
        conflicts.append(
            (
                "augmentation_multiplicity",
                f"{multiplicity} views need per-sample gradients to average; grad_sample_mode "
                f"{mode!r} only computes their norms (expected one of "
                f"{', '.join(VIEW_AVERAGING_MODES)})",
            )
        )
    if multiplicity > 1 and not (training["flip_probability"] > 0 or training["max_shift"] > 0):
        conflicts.append(
            (
                "augmentation_multiplicity",
                f"{multiplicity} identical views; expected flip_probability > 0 or "
                "max_shift > 0 (or augmentation_multiplicity 1)",
            )
        )
    return conflicts


def task_conflicts(training: Mapping[str, Any], task: str) -> list[tuple[str, str]]:
    """(key, problem) for every ``training`` setting that does not fit a dataset's ``task``."""
    model = training["model"]
    conflicts = []
    if MODEL_TASKS[model] != task:
        fitting = [name for name, solves in MODEL_TASKS.items() if solves == task]
        conflicts.append(
            (
                "model",
                f"{model!r} is a {MODEL_TASKS[model]} model, the dataset a {task} task "
                f"(expected one of {', '.join(fitting)})",
            )
        )
    if task == "segmentation":
        for key, neutral in (
            ("augmentation_multiplicity", 1),
            ("flip_probability", 0),
            ("max_shift", 0),
            ("single_logit", False),
        ):
            if training[key] != neutral:
                conflicts.append(
                    (
                        key,
                        f"{training[key]!r} is not supported for segmentation (the masks would "
                        f"need the same augmentation; one logit is for binary classification); "
                        f"expected {neutral!r}",
                    )
                )
    return conflicts
