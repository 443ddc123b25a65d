"""One training run's state and epochs: DP-SGD with Opacus, or the matching non-private baseline.

* private plan (finite target ε): Poisson sampling with rate ``q = plan.sample_rate``,
  per-sample clipping to ``C = config.clip_norm``, Gaussian noise ``N(0, σ²C²)`` on the summed
  clipped gradients with ``σ = plan.sigma``, division by the expected batch size ``qN``
  (Abadi et al. 2016; the setup of Ziller et al. 2024). Logical batches are split into physical
  ones by Opacus' ``BatchMemoryManager``. The run's own Opacus RDP accountant (Mironov, Talwar
  and Zhang 2019) gives an upper bound on the ε of the steps taken, looser than the plan's
  certified ε.
* non-private plan (target ``inf``): the same model, shuffled minibatches of the plan's batch
  size ``B``, no clipping, no noise.

With augmentation multiplicity K > 1 every physical batch becomes K augmented views per sample;
after the backward pass each per-sample gradient is the mean over the sample's views, before the
optimiser clips it (De et al. 2022; :mod:`rero.training.augment`). The non-private baseline
takes the same mean. The images are gathered batch by batch from the (memory-mapped) split.

Every logical step is checked: a NaN or infinite loss, (noisy) gradient, weight or optimiser state
stops the run with :class:`rero.training.finite.NonFiniteTrainingError`, naming the epoch, the
step and the settings to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, NoReturn

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.utils.batch_memory_manager import BatchMemoryManager
from torch import nn

from rero.models.grad_samples import use_fast_conv_grad_sampler
from rero.models.registry import build_model
from rero.privacy.plan import PrivacyPlan
from rero.runtime.progress import ProgressLog
from rero.training.augment import Augmentation, average_views
from rero.training.batches import ArrayBatches, poisson_loader, shuffled_batches
from rero.training.config import OPTIMIZERS, TrainConfig
from rero.training.finite import (
    NonFiniteTrainingError,
    all_finite,
    nested_tensors,
    non_finite_message,
)
from rero.training.loss import training_loss
from rero.training.speedups import LayerOutputBackward


def derived_seeds(seed: int) -> tuple[int, int, int, int]:
    """Independent seeds for model initialisation, batch sampling, DP noise and augmentation
    (the first three are those of the earlier three-seed version: a SeedSequence's words)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    init, sampling, noise, augment = np.random.SeedSequence(seed).generate_state(4)
    return int(init), int(sampling), int(noise), int(augment)


def model_spec(model: str, meta: dict[str, Any], single_logit: bool = False) -> dict[str, Any]:
    """The ``build_model`` arguments of ``model`` for a dataset's ``meta.json``."""
    channels, *spatial = meta["shape"]
    if single_logit and int(meta["num_classes"]) != 2:
        raise ValueError(
            f"single_logit: needs a dataset of 2 classes, got {meta['num_classes']} "
            "(meta.json num_classes)"
        )
    return {
        "name": model,
        "in_channels": int(channels),
        "num_classes": int(meta["num_classes"]),
        "image_size": [int(side) for side in spatial],
        "mean": [float(value) for value in meta["mean"]],
        "std": [float(value) for value in meta["std"]],
        "single_logit": bool(single_logit),
    }


def _loss_backward(loss: Any) -> None:
    """``loss.backward()``; ghost clipping's loss object runs its two passes in it."""
    loss.backward()


class TrainingRun:
    """The mutable state of one training run (model, optimiser, accountant, RNGs, history)."""

    def __init__(
        self,
        plan: PrivacyPlan,
        config: TrainConfig,
        seed: int,
        meta: dict[str, Any],
        train_images: np.ndarray,
        train_labels: np.ndarray,
        device: torch.device,
    ) -> None:
        self.plan = plan
        self.config = config
        self.device = device
        init_seed, sampling_seed, noise_seed, augment_seed = derived_seeds(seed)
        self.augmentation = Augmentation(
            config.augmentation_multiplicity, config.flip_probability, config.max_shift
        )
        self.augmentation.check_image_size(*meta["shape"][-2:])
        torch.manual_seed(init_seed)
        self.model_spec = model_spec(config.model, meta, config.single_logit)
        self.model = build_model(**self.model_spec).to(device)
        self.optimizer = OPTIMIZERS[config.optimizer](
            self.model.parameters(), lr=config.learning_rate
        )
        self.sampling_generator = torch.Generator().manual_seed(sampling_seed)
        self.noise_generator = torch.Generator(device=device).manual_seed(noise_seed)
        self.augment_generator = torch.Generator().manual_seed(augment_seed)
        self.dataset = ArrayBatches(train_images, train_labels)
        self.task = str(meta["task"])
        self.criterion: Callable = training_loss(
            self.task, config.single_logit, config.loss_reduction
        )
        self.losses: list[float] = []
        self.batch_sizes: list[int] = []
        self.step = 0
        self.elapsed_s = 0.0
        self.engine: PrivacyEngine | None = None
        self.backward: Callable[[Any], None] = _loss_backward
        self.logical_step_done = False
        self.trained_model: nn.Module = self.model
        if plan.private:
            self._make_private()

    def _make_private(self) -> None:
        """Wrap model and optimiser with Opacus (σ and C given, never calibrated here)."""
        plan = self.plan
        use_fast_conv_grad_sampler()
        self.engine = PrivacyEngine(accountant="rdp")
        wrapped = self.engine.make_private(
            module=self.model,
            optimizer=self.optimizer,
            data_loader=poisson_loader(self.dataset, plan.sample_rate, 1, torch.Generator()),
            criterion=self.criterion,
            noise_multiplier=plan.sigma,
            max_grad_norm=self.config.clip_norm,
            loss_reduction=self.config.loss_reduction,
            poisson_sampling=False,  # our loader already samples with the plan's q
            grad_sample_mode=self.config.grad_sample_mode,
            noise_generator=self.noise_generator,
        )
        self.trained_model, self.dp_optimizer = wrapped[0], wrapped[1]
        if self.config.grad_sample_mode == "ghost":
            self.criterion = wrapped[2]
        if self.config.grad_sample_mode == "hooks":
            self.backward = LayerOutputBackward(self.trained_model)
        # make_private derives q and the expected batch size from len(data_loader); the plan's q
        # is what was accounted, so both are set from it.
        self.dp_optimizer.expected_batch_size = plan.expected_batch_size(len(self.dataset))
        account = self.engine.accountant.get_optimizer_hook_fn(sample_rate=plan.sample_rate)

        def on_noisy_step(optimizer: torch.optim.Optimizer) -> None:
            self._check("the noisy gradient", (param.grad for param in optimizer.params))
            account(optimizer)
            self.logical_step_done = True

        self.dp_optimizer.attach_step_hook(on_noisy_step)
        self.trained_model.forbid_grad_accumulation()  # as make_private does for Poisson

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs: step, weights, optimiser, accountant, RNGs, history
        (not the elapsed time: the same run gives the same state)."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "accountant": self.engine.accountant.state_dict() if self.engine else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "sampling": self.sampling_generator.get_state(),
                "noise": self.noise_generator.get_state(),
                "augment": self.augment_generator.get_state(),
            },
            "losses": self.losses,
            "batch_sizes": self.batch_sizes,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state` (the RNGs resume where they were)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.engine is not None:
            self.engine.accountant.load_state_dict(state["accountant"])
        torch.set_rng_state(state["rng"]["torch"])
        self.sampling_generator.set_state(state["rng"]["sampling"])
        self.noise_generator.set_state(state["rng"]["noise"])
        self.augment_generator.set_state(state["rng"]["augment"])
        self.losses = list(state["losses"])
        self.batch_sizes = list(state["batch_sizes"])
        self.step = int(state["step"])

    # -- training --------------------------------------------------------------------------------

    def run_epoch(self, steps: int, progress: ProgressLog | None = None) -> None:
        """``steps`` logical steps (private or not), recording loss and batch size per step
        (and counting them in ``progress``)."""
        if self.plan.private:
            self._private_epoch(steps, progress)
        else:
            self._non_private_epoch(steps, progress)

    def _views(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A gathered batch on the device (one transfer), as its K augmented views per sample."""
        images, labels = images.to(self.device), labels.to(self.device)
        if self.augmentation.active:
            images = self.augmentation.views(images, self.augment_generator)
            labels = self.augmentation.labels(labels)
        return images, labels

    def _refuse(self, what: str) -> NoReturn:
        """Stop the run: ``what`` became non-finite in the logical step being taken."""
        epoch = self.step // self.plan.steps_per_epoch(len(self.dataset)) + 1
        message = non_finite_message(what, epoch, self.step + 1, self.plan, self.config)
        raise NonFiniteTrainingError(message)

    def _check(self, what: str, tensors: Iterable[torch.Tensor | None]) -> None:
        if not all_finite(tensors):
            self._refuse(what)

    def _check_loss(self, loss: float) -> float:
        if not math.isfinite(loss):
            self._refuse("the training loss")
        return loss

    def _check_weights(self) -> None:
        """The weights and the optimiser's state after a step (Adam's moments can overflow
        while the weights stay finite)."""
        tensors = chain(self.model.parameters(), nested_tensors(self.optimizer.state))
        self._check("a weight or the optimiser's state", tensors)

    def _record(self, loss_sum: float, count: int, progress: ProgressLog | None) -> None:
        self.losses.append(loss_sum / count if count else math.nan)
        self.batch_sizes.append(count)
        self.step += 1
        if progress is not None:
            progress.update(1)

    def _private_epoch(self, steps: int, progress: ProgressLog | None) -> None:
        loader = poisson_loader(self.dataset, self.plan.sample_rate, steps, self.sampling_generator)
        multiplicity = self.augmentation.multiplicity
        self.trained_model.train()
        loss_sum, count = 0.0, 0
        with BatchMemoryManager(
            data_loader=loader,
            max_physical_batch_size=self.config.physical_batch_size,
            optimizer=self.dp_optimizer,
        ) as physical_loader:
            for images, labels in physical_loader:
                samples = len(labels)
                images, labels = self._views(images, labels)
                loss = self.criterion(self.trained_model(images), labels)
                self.backward(loss)
                average_views(self.dp_optimizer.params, multiplicity)
                if samples:
                    per_view = len(labels) if self.config.loss_reduction == "mean" else 1
                    loss_sum += self._check_loss(float(loss.item())) * per_view / multiplicity
                    count += samples
                self.logical_step_done = False
                self.dp_optimizer.step()  # a real step only after a logical batch's last part
                self.dp_optimizer.zero_grad(set_to_none=True)
                if self.logical_step_done:
                    self._check_weights()
                    self._record(loss_sum, count, progress)
                    loss_sum, count = 0.0, 0

    def _non_private_epoch(self, steps: int, progress: ProgressLog | None) -> None:
        self.model.train()
        batch_size = self.plan.logical_batch_size(len(self.dataset))
        multiplicity = self.augmentation.multiplicity
        summed = training_loss(self.task, self.config.single_logit, "sum")
        for batch in shuffled_batches(
            len(self.dataset), batch_size, steps, self.sampling_generator
        ):
            # the gradient of the views' mean loss per sample, then the mean (or sum) over samples
            scale = multiplicity * (len(batch) if self.config.loss_reduction == "mean" else 1)
            loss_sum = 0.0
            for part in batch.split(self.config.physical_batch_size):
                images, labels = self._views(*self.dataset.__getitems__(part.tolist()))
                loss = summed(self.model(images), labels)
                (loss / scale).backward()
                loss_sum += self._check_loss(float(loss.item())) / multiplicity
            self._check("the gradient", (param.grad for param in self.model.parameters()))
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self._check_weights()
            self._record(loss_sum, len(batch), progress)

    def progress_details(self) -> str:
        """The last step's loss, Opacus' RDP upper bound on ε so far and the plan's certified ε
        of all T steps beside it, for a progress line of the log."""
        loss = f"loss {self.losses[-1]:.4g}" if self.losses else "loss n/a"
        if self.engine is None:
            return f"{loss}, non-private"
        rdp = self.engine.accountant.get_epsilon(delta=self.plan.delta)
        plan = self.plan
        return (
            f"{loss}, RDP upper bound on ε so far {rdp:.4g} (Opacus' accountant, looser), "
            f"certified ε {plan.epsilon:.4g} for all {plan.steps} steps ({plan.accountant}), "
            f"δ={plan.delta:g}"
        )

    def rdp_epsilon_upper_bound(self) -> dict[str, Any]:
        """Opacus' RDP accountant's upper bound on the ε of the steps taken (Mironov, Talwar and
        Zhang 2019), looser than the plan's certified ε (``inf``, accountant "none", if
        non-private)."""
        if self.engine is None:
            return {
                "epsilon": math.inf,
                "delta": self.plan.delta,
                "accountant": "none",
                "steps": self.step,
            }
        steps = sum(count for _, _, count in self.engine.accountant.history)
        return {
            "epsilon": float(self.engine.accountant.get_epsilon(delta=self.plan.delta)),
            "delta": self.plan.delta,
            "accountant": "rdp",
            "steps": int(steps),
        }
