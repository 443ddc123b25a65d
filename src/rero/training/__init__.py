"""DP-SGD training with Opacus (Abadi et al. 2016), the matching non-private baseline,
augmentation multiplicity (De et al. 2022), metrics, checkpoint and resume.

A run follows its :class:`rero.privacy.plan.PrivacyPlan` exactly: :func:`train_run` trains one
model (``config`` holds what the plan does not fix), checkpoints every epoch and writes
``model.pt`` and ``metrics.json``; :func:`load_trained_model` reads the model back.
"""

from rero.engines import GRAD_SAMPLE_MODES, VIEW_AVERAGING_MODES
from rero.training.augment import Augmentation, average_views
from rero.training.batches import ArrayBatches, poisson_loader, shuffled_batches
from rero.training.config import DEVICES, LOSS_REDUCTIONS, OPTIMIZERS, TrainConfig
from rero.training.job import load_trained_model, train_run
from rero.training.loss import ClassificationLoss
from rero.training.metrics import (
    class_probabilities,
    classification_metrics,
    loss_curve,
    predict_probabilities,
)
from rero.training.run import TrainingRun
from rero.training.speedups import (
    LayerOutputBackward,
    centred_conv2d_grad_sample,
    conv2d_grad_sample,
    keep_freed_memory_in_process,
    use_fast_conv_grad_sampler,
)

__all__ = [
    "DEVICES",
    "GRAD_SAMPLE_MODES",
    "LOSS_REDUCTIONS",
    "OPTIMIZERS",
    "VIEW_AVERAGING_MODES",
    "ArrayBatches",
    "Augmentation",
    "ClassificationLoss",
    "LayerOutputBackward",
    "TrainConfig",
    "TrainingRun",
    "average_views",
    "centred_conv2d_grad_sample",
    "class_probabilities",
    "classification_metrics",
    "conv2d_grad_sample",
    "keep_freed_memory_in_process",
    "load_trained_model",
    "loss_curve",
    "poisson_loader",
    "predict_probabilities",
    "shuffled_batches",
    "train_run",
    "use_fast_conv_grad_sampler",
]
