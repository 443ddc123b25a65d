"""The flags of a training run, shared by ``train`` and ``audit`` (which trains as ``train``
does): the :class:`rero.training.config.TrainConfig` fields and the checked privacy plan."""

from __future__ import annotations

import argparse

from rero.models.registry import MODELS
from rero.privacy.plan import PrivacyPlan, read_plan
from rero.runtime.device import DEVICES
from rero.study.engines import GRAD_SAMPLE_MODES
from rero.training.config import LOSS_REDUCTIONS, OPTIMIZERS, TrainConfig

DEFAULTS = TrainConfig()


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of :class:`TrainConfig` (model, optimiser, engine, device, loss, augmentation,
    threads, progress); ``audit`` takes them too."""
    parser.add_argument("--model", default=DEFAULTS.model, choices=sorted(MODELS))
    parser.add_argument(
        "--clip-norm",
        type=float,
        help="per-sample clipping norm C (required by a private plan, refused by the non-private)",
    )
    parser.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=sorted(OPTIMIZERS))
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    parser.add_argument(
        "--physical-batch-size",
        type=int,
        default=DEFAULTS.physical_batch_size,
        help="largest batch put through the model at once (logical batches are split)",
    )
    parser.add_argument(
        "--grad-sample-mode", default=DEFAULTS.grad_sample_mode, choices=GRAD_SAMPLE_MODES
    )
    parser.add_argument("--device", default=DEFAULTS.device, choices=DEVICES)
    _add_task_flags(parser)
    parser.add_argument("--threads", type=int, default=DEFAULTS.threads, help="torch CPU threads")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.progress,
        help="progress lines on stderr (one every few seconds)",
    )


def _add_task_flags(parser: argparse.ArgumentParser) -> None:
    """Loss and augmentation flags."""
    parser.add_argument(
        "--loss-reduction",
        default=DEFAULTS.loss_reduction,
        choices=LOSS_REDUCTIONS,
        help="combine the per-example losses by mean or sum (sum: the update is not divided by "
        "the batch size)",
    )
    parser.add_argument(
        "--single-logit",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.single_logit,
        help="binary task: one output, binary cross-entropy with logits (2 classes only)",
    )
    parser.add_argument(
        "--augmentation-multiplicity",
        type=int,
        default=DEFAULTS.augmentation_multiplicity,
        help="K augmented views per sample, their gradients averaged before clipping",
    )
    parser.add_argument(
        "--flip-probability",
        type=float,
        default=DEFAULTS.flip_probability,
        help="probability of a horizontal and, independently, of a vertical flip per view",
    )
    parser.add_argument(
        "--max-shift",
        type=int,
        default=DEFAULTS.max_shift,
        help="largest random shift per axis in px (borders reflected)",
    )


def read_checked_plan(path: str, num_train: int) -> PrivacyPlan:
    """The plan file ``path``, checked against a training set of ``num_train`` examples."""
    try:
        plan = read_plan(path)
    except ValueError as error:
        raise ValueError(f"--plan {error}") from None
    try:
        plan.check_dataset(num_train)
    except ValueError as error:
        raise ValueError(f"--plan {path}: {error}") from None
    return plan


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of the flags of :func:`add_training_flags`."""
    return TrainConfig(
        model=args.model,
        clip_norm=args.clip_norm,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        physical_batch_size=args.physical_batch_size,
        grad_sample_mode=args.grad_sample_mode,
        device=args.device,
        threads=args.threads,
        progress=args.progress,
        augmentation_multiplicity=args.augmentation_multiplicity,
        flip_probability=args.flip_probability,
        max_shift=args.max_shift,
        single_logit=args.single_logit,
        loss_reduction=args.loss_reduction,
    )
