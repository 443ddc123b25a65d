"""Training settings that are not part of the privacy plan, and the choices they allow."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rero.models import MODELS

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "nadam": torch.optim.NAdam,
    "sgd": torch.optim.SGD,
}
#: Opacus per-sample gradient engines; all give the same clipped update (see tests).
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ew", "ghost")
DEVICES = ("auto", "cpu", "cuda")
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
    """

    model: str = "small_cnn"
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    physical_batch_size: int = 512
    grad_sample_mode: str = "hooks"
    device: str = "auto"
    threads: int = 1
    eval_batch_size: int = 1024
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {
            "model": tuple(MODELS),
            "optimizer": tuple(OPTIMIZERS),
            "grad_sample_mode": GRAD_SAMPLE_MODES,
            "device": DEVICES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate}")
        for name in ("physical_batch_size", "threads", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
