"""Which Opacus per-sample-gradient engines and which models can run which training settings.

Torch-free, so that the workflow checks a study's settings before any job starts; the training
code (:class:`rero.training.TrainConfig`) applies the same rules when a run is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rero.data.shapes import DatasetShape
from rero.models.entries import MODELS

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
#: the side of the imprint attack's SSIM window (``rero.attacks.matching``: a Gaussian of σ 1.5
#: truncated at 3.5σ, the 11 taps of Wang et al. 2004), the smallest image side it can score
SSIM_WINDOW = 11


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


def shape_conflicts(
    training: Mapping[str, Any], shape: DatasetShape, dataset: str
) -> list[tuple[str, str]]:
    """(key, problem) for every ``training`` setting that the data of ``shape`` cannot take, by
    the rules training applies once the data is prepared (``rero.models.registry.build_model``,
    ``rero.training.run.model_spec``, ``rero.training.augment.Augmentation``); ``dataset``
    describes the dataset in the problem."""
    model, entry = training["model"], MODELS[training["model"]]
    sides, conflicts = shape.spatial, []
    if len(sides) != entry.axes:
        conflicts.append(
            (
                "model",
                f"{model!r} takes {entry.axes}-D images; {dataset} has {len(sides)}-D ones "
                f"({shape.sides_text}) (expected a model for {len(sides)}-D images)",
            )
        )
    elif min(sides) < entry.min_side:
        fitting = [
            name
            for name, other in MODELS.items()
            if other.axes == len(sides)
            and other.min_side <= min(sides)
            and MODEL_TASKS[name] == shape.task
        ]
        instead = f"one of {', '.join(fitting)}, or " if fitting else ""
        conflicts.append(
            (
                "model",
                f"{model!r} needs images of at least {entry.min_side} px a side; {dataset} has "
                f"{shape.sides_text} (expected {instead}options giving larger images)",
            )
        )
    if training["single_logit"] and shape.num_classes != 2:
        conflicts.append(
            (
                "single_logit",
                f"true needs a dataset of 2 classes; {dataset} has {shape.num_classes} "
                "(expected false)",
            )
        )
    shift, smallest = training["max_shift"], min(sides[-2:])
    if shift >= smallest:
        conflicts.append(
            (
                "max_shift",
                f"{shift} px needs images larger than that (reflected borders); {dataset} has "
                f"{shape.sides_text} (expected max_shift < {smallest})",
            )
        )
    return conflicts
