"""Which Opacus per-sample-gradient engines can run which training settings.

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
