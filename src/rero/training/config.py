"""Training settings that are not part of the privacy plan, and the choices they allow."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from rero.models.registry import MODELS
from rero.runtime.device import DEVICES
from rero.study.engines import GRAD_SAMPLE_MODES, setting_conflicts

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "nadam": torch.optim.NAdam,
    "sgd": torch.optim.SGD,
}
#: how the per-example losses of a batch are combined; Opacus is told the same
LOSS_REDUCTIONS = ("mean", "sum")
MAX_MULTIPLICITY = 64
MAX_SHIFT = 64
#: TrainConfig fields that do not change the numbers a run produces (a checkpoint written under
#: other values of these may be resumed).
RUNTIME_FIELDS = ("device", "threads", "eval_batch_size", "progress")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings that are not part of the privacy plan.

    With the defaults, the non-private small_cnn reaches about 0.89-0.90 test accuracy on the
    shipped 3-class 28x28 dataset in 10 epochs of batch 256 (good, not perfect). The paper uses
    NAdam at lr 2e-3 (Ziller et al. 2024); ``optimizer="nadam"`` selects it.

    ``grad_sample_mode="hooks"`` is the fastest Opacus engine for these models on CPU (see
    ``benchmarks/bench_dp_step.py``; it uses :func:`rero.training.conv2d_grad_sample` for
    convolutions and :class:`rero.training.LayerOutputBackward` to skip the summed weight
    gradients). The ``functorch`` and ``ew`` engines fail on an empty Poisson batch, which occurs
    only when the expected batch size qN is tiny; ``hooks`` and ``ghost`` handle it.

    ``augmentation_multiplicity`` K > 1 feeds K augmented views of every sample (random flips
    with ``flip_probability`` each, horizontal and vertical, and a random shift of up to
    ``max_shift`` px) and averages the K view gradients of a sample before it is clipped (De et
    al. 2022), so the privacy accounting is that of K = 1. ``physical_batch_size`` counts
    samples: K of them make K times as many views. ``single_logit`` trains a binary task with one
    output and the binary cross-entropy; ``loss_reduction`` "sum" (the paper) adds the per-example
    losses, so the update is the (noisy) sum of the clipped per-sample gradients, not divided by
    the (expected) batch size.

    ``clip_norm`` is the per-sample clipping norm C of a private run (the noise std is σ·C with
    the plan's σ); the non-private run clips nothing and takes None.
    """

    model: str = "small_cnn"
    clip_norm: float | None = None
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    physical_batch_size: int = 512
    grad_sample_mode: str = "hooks"
    device: str = "auto"
    threads: int = 1
    eval_batch_size: int = 1024
    progress: bool = True
    augmentation_multiplicity: int = 1
    flip_probability: float = 0.0
    max_shift: int = 0
    single_logit: bool = False
    loss_reduction: str = "mean"

    def __post_init__(self) -> None:
        choices = {
            "model": tuple(MODELS),
            "optimizer": tuple(OPTIMIZERS),
            "grad_sample_mode": GRAD_SAMPLE_MODES,
            "device": DEVICES,
            "loss_reduction": LOSS_REDUCTIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.clip_norm is not None and not (
            math.isfinite(self.clip_norm) and self.clip_norm > 0
        ):
            raise ValueError(f"clip_norm: expected a positive number or None, got {self.clip_norm}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate}")
        for name in ("physical_batch_size", "threads", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        self._check_augmentation()
        problems = [f"{key}: {problem}" for key, problem in setting_conflicts(asdict(self))]
        if problems:
            raise ValueError("; ".join(problems))

    def _check_augmentation(self) -> None:
        multiplicity = self.augmentation_multiplicity
        if not 1 <= int(multiplicity) <= MAX_MULTIPLICITY:
            raise ValueError(
                f"augmentation_multiplicity: expected an integer in [1, {MAX_MULTIPLICITY}], "
                f"got {multiplicity}"
            )
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ValueError(
                f"flip_probability: expected a number in [0, 1], got {self.flip_probability}"
            )
        if not 0 <= int(self.max_shift) <= MAX_SHIFT:
            raise ValueError(
                f"max_shift: expected an integer in [0, {MAX_SHIFT}] px, got {self.max_shift}"
            )

    def check_plan(self, private: bool) -> None:
        """ValueError unless a private plan has a clip norm and the non-private one has none."""
        if private and self.clip_norm is None:
            raise ValueError("clip_norm: a private plan needs a clipping norm C > 0, got None")
        if not private and self.clip_norm is not None:
            raise ValueError(
                f"clip_norm: the non-private plan clips nothing; expected None, "
                f"got {self.clip_norm}"
            )

    @property
    def augments(self) -> bool:
        """Whether the training images are augmented at all."""
        return self.flip_probability > 0 or self.max_shift > 0
