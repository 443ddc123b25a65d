"""An audit of the real training code: canaries inserted into :class:`TrainingRun`'s DP-SGD.

:class:`AuditedRun` is the training run of ``python -m rero train`` (same model, optimiser,
per-sample-gradient engine, Opacus clipping and noise, Poisson loader at the plan's q, virtual
steps of ``physical_batch_size``), on the training set with the included canaries appended:

* input canaries are ordinary rows, gathered, augmented and differentiated like the data;
* a gradient canary is a row that the Poisson loader samples like any other but that has no
  image: when it is drawn into a physical batch, its Dirac per-sample gradient is appended to
  every parameter's ``grad_sample`` after the backward pass, before Opacus clips, sums, noises
  and scales them.

The white-box auditor reads, at every logical step, the noisy gradient Opacus hands to the
optimiser in each gradient canary's coordinate (Nasr et al. 2021, 2023); the black-box auditor
only the final model's loss on the input canaries. :mod:`rero.audit.game` turns both into an ε
lower bound; :mod:`rero.audit.composition` also tests the white-box steps one by one and
composes. The audit writes progress lines as training does (:mod:`rero.runtime.progress`): every
few seconds of its trainings, and one per auditor judged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch

from rero.audit.canaries import (
    GRADIENT_CANARY_NORM,
    GradientCanaries,
    mislabelled,
    quiet_coordinates,
)
from rero.audit.composition import composed_audit
from rero.audit.game import draw_membership, judge, subsampled_gaussian_scores
from rero.data.store import unit_float
from rero.privacy.plan import PrivacyPlan
from rero.runtime.progress import ProgressLog
from rero.training.batches import ArrayBatches
from rero.training.config import TrainConfig
from rero.training.job import training_settings
from rero.training.loss import training_loss
from rero.training.run import TrainingRun

#: training images whose per-sample gradients place the gradient canaries
PROBE_SIZE = 64


@dataclass(frozen=True)
class AuditSettings:
    """Canaries per run of each kind (0: that audit is not run), independent runs, the seed, the
    confidence of the bound and the numbers of top-scored canaries guessed "in"."""

    gradient_canaries: int = 1000
    input_canaries: int = 0
    runs: int = 1
    seed: int = 0
    confidence: float = 0.95
    guesses: tuple[int, ...] = (25, 50, 100)

    def __post_init__(self) -> None:
        if self.gradient_canaries < 0 or self.input_canaries < 0:
            raise ValueError("gradient_canaries, input_canaries: expected integers >= 0")
        if self.gradient_canaries == self.input_canaries == 0:
            raise ValueError("gradient_canaries, input_canaries: expected at least one canary")
        if self.runs < 1 or self.seed < 0 or not 0 < self.confidence < 1:
            raise ValueError(
                f"expected runs >= 1, seed >= 0 and confidence in (0, 1), got runs {self.runs}, "
                f"seed {self.seed}, confidence {self.confidence}"
            )
        for kind in ("gradient_canaries", "input_canaries"):
            count = getattr(self, kind)
            if count and not all(0 < guess <= count * self.runs for guess in self.guesses):
                raise ValueError(
                    f"guesses: {list(self.guesses)}; expected each in [1, {count * self.runs}] "
                    f"({kind} x runs)"
                )


class AuditBatches(ArrayBatches):
    """The training rows, then the included input canaries, then one row per included gradient
    canary. Gathering gives the images and labels of the first two kinds; the gradient canaries
    of the latest gathered batch are left in ``drawn`` (their ids)."""

    def __init__(
        self,
        data: ArrayBatches,
        canary_images: np.ndarray,
        canary_labels: np.ndarray,
        gradient_ids: np.ndarray,
    ) -> None:
        super().__init__(data.images, data.labels)
        self.canaries = ArrayBatches(canary_images, canary_labels)
        self.gradient_ids = gradient_ids
        self.drawn: list[int] = []

    def __len__(self) -> int:
        return len(self.labels) + len(self.canaries) + len(self.gradient_ids)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = np.asarray(indices, dtype=np.int64)
        data, inputs = len(self.labels), len(self.labels) + len(self.canaries)
        self.drawn = self.gradient_ids[index[index >= inputs] - inputs].tolist()
        rows = index[index < data]
        canary_rows = index[(index >= data) & (index < inputs)] - data
        images = np.concatenate(
            [unit_float(self.images[rows]), unit_float(self.canaries.images[canary_rows])]
        )
        labels = np.concatenate([self.labels[rows], self.canaries.labels[canary_rows]])
        return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


class AuditedRun(TrainingRun):
    """A private :class:`TrainingRun` with canaries: ``included_inputs`` are appended to the
    training rows, the gradient canaries with ids ``included_gradients`` (of ``gradient_count``)
    are inserted as per-sample gradients, and the noisy gradient in their coordinates is
    recorded at every step (``observations``, steps x ``gradient_count``)."""

    def __init__(
        self,
        plan: PrivacyPlan,
        config: TrainConfig,
        seed: int,
        meta: dict[str, Any],
        train: tuple[np.ndarray, np.ndarray],
        device: torch.device,
        included_inputs: tuple[np.ndarray, np.ndarray],
        gradient_count: int,
        included_gradients: np.ndarray,
    ) -> None:
        if not plan.private:
            raise ValueError("audit: the non-private plan (ε = inf) claims no ε to audit")
        self.included_inputs = included_inputs
        self.gradient_count = gradient_count
        self.included_gradients = included_gradients
        self.observations: list[np.ndarray] = []
        self.probe_seed = seed
        # the training set grows by the included canaries; the guarantee of each record rests on
        # q, σ and T alone, which stay the plan's
        super().__init__(replace(plan, dataset_size=None), config, seed, meta, *train, device)

    def _make_private(self) -> None:
        self.gradient_canaries = GradientCanaries(self._quiet_coordinates(), GRADIENT_CANARY_NORM)
        self.dataset = AuditBatches(self.dataset, *self.included_inputs, self.included_gradients)
        super()._make_private()
        self._insert_gradient_canaries()

    def _quiet_coordinates(self) -> np.ndarray:
        if self.gradient_count == 0:
            return np.zeros(0, dtype=np.int64)
        generator = torch.Generator().manual_seed(self.probe_seed)
        probe = torch.randperm(len(self.dataset), generator=generator)[:PROBE_SIZE]
        images, labels = self.dataset.__getitems__(probe.tolist())
        loss = training_loss(self.task, self.config.single_logit, "sum")
        return quiet_coordinates(
            self.model,
            loss,
            images.to(self.device),
            labels.to(self.device),
            self.config.clip_norm,
            self.gradient_count,
        )

    def _insert_gradient_canaries(self) -> None:
        """Wrap the backward pass (append the drawn canaries' per-sample gradients) and the
        optimiser's step hook (record the noisy gradient in the canaries' coordinates)."""
        backward, account = self.backward, self.dp_optimizer.step_hook
        views = self.augmentation.multiplicity
        coordinates = torch.as_tensor(self.gradient_canaries.coordinates, device=self.device)

        def backward_with_canaries(loss: Any) -> None:
            backward(loss)
            drawn = self.dataset.drawn
            if not drawn:
                return
            parameters = self.dp_optimizer.params
            for parameter, rows in zip(
                parameters, self.gradient_canaries.rows(parameters, drawn), strict=True
            ):
                rows = rows.repeat_interleave(views, dim=0)
                parameter.grad_sample = torch.cat([parameter.grad_sample, rows])

        def observe(optimizer: torch.optim.Optimizer) -> None:
            account(optimizer)
            noisy = torch.cat([parameter.grad.flatten() for parameter in self.dp_optimizer.params])
            self.observations.append(noisy[coordinates].double().cpu().numpy())

        self.backward = backward_with_canaries
        self.dp_optimizer.step_hook = observe

    def train(self, progress: ProgressLog | None = None) -> None:
        """All T steps of the plan, in the epochs ``train`` takes (counted in ``progress``)."""
        steps_per_epoch = self.plan.steps_per_epoch(len(self.dataset.labels))
        while self.step < self.plan.steps:
            self.run_epoch(min(steps_per_epoch, self.plan.steps - self.step), progress)

    def white_box_observations(self) -> np.ndarray:
        """Steps x gradient canaries: the noisy gradient in each canary's coordinate, in units
        of the claimed noise std σC (after undoing the division by qN of loss reduction
        "mean")."""
        scale = self.dp_optimizer.expected_batch_size if self.config.loss_reduction == "mean" else 1
        sigma, clip = self.plan.sigma, float(self.config.clip_norm)
        return np.stack(self.observations) * scale / (sigma * clip)

    def black_box_scores(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Minus the final model's loss on each input canary (low loss: "in")."""
        loss = training_loss(self.task, self.config.single_logit, "none")
        self.model.eval()
        with torch.no_grad():
            batch = torch.from_numpy(unit_float(images)).to(self.device)
            target = torch.from_numpy(labels).to(self.device)
            return -loss(self.model(batch), target).double().cpu().numpy()


def run_audit(
    plan: PrivacyPlan,
    config: TrainConfig,
    meta: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray],
    held_out: tuple[np.ndarray, np.ndarray],
    settings: AuditSettings,
    device: torch.device,
    deterministic: bool,
) -> dict[str, Any]:
    """Run ``settings.runs`` audited trainings, under the thread count and determinism ``train``
    uses, and judge the white-box (gradient canaries) and black-box (input canaries from
    ``held_out``) guesses, pooled over the runs (each canary is in one run only, so the runs
    together are one mechanism over all of them); the white-box steps also go to the per-step
    audit (:func:`rero.audit.composition.composed_audit`). Progress lines on stderr unless
    ``config.progress`` is off: the trainings' steps, then each auditor judged."""
    config.check_plan(plan.private)
    if settings.input_canaries and meta["task"] != "classification":
        raise ValueError("input_canaries: mislabelled images need a classification dataset")
    started = time.perf_counter()
    description = f"audit {meta['dataset']} eps={plan.target_epsilon}"
    games: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"white_box": [], "black_box": []}
    steps: list[np.ndarray] = []
    with (
        training_settings(config.threads, deterministic=deterministic),
        ProgressLog(
            f"{description}, training", settings.runs * plan.steps, enabled=config.progress
        ) as progress,
    ):
        for index in range(settings.runs):
            seeds = np.random.SeedSequence([settings.seed, index]).generate_state(2)
            rng = np.random.default_rng(int(seeds[1]))
            inputs = mislabelled(*held_out, int(meta["num_classes"]), settings.input_canaries, rng)
            input_in = draw_membership(settings.input_canaries, rng)
            gradient_in = draw_membership(settings.gradient_canaries, rng)
            run = AuditedRun(
                plan,
                config,
                int(seeds[0]),
                meta,
                train,
                device,
                (inputs[0][input_in], inputs[1][input_in]),
                settings.gradient_canaries,
                np.flatnonzero(gradient_in),
            )
            progress.details = partial(_run_details, run, index, settings.runs)
            run.train(progress)
            if settings.gradient_canaries:
                steps.append(run.white_box_observations())
                games["white_box"].append(
                    (
                        subsampled_gaussian_scores(steps[-1], plan.sample_rate, 1 / plan.sigma),
                        gradient_in,
                    )
                )
            if settings.input_canaries:
                games["black_box"].append((run.black_box_scores(*inputs), input_in))
    played = {access: runs for access, runs in games.items() if runs}
    judging = ProgressLog(
        f"{description}, judging",
        len(played) + bool(steps),
        interval_s=0.0,
        enabled=config.progress,
    )
    with judging:
        results = _judged(played, steps, plan, settings, judging)
    return {"results": results, "seconds": time.perf_counter() - started}


def _run_details(run: AuditedRun, index: int, runs: int) -> str:
    """Which audited run a progress line is in, and its training details."""
    return f"run {index + 1}/{runs}, {run.progress_details()}"


def _judged(
    played: dict[str, list[tuple[np.ndarray, np.ndarray]]],
    steps: list[np.ndarray],
    plan: PrivacyPlan,
    settings: AuditSettings,
    progress: ProgressLog,
) -> dict[str, dict[str, Any]]:
    """Each auditor's guesses judged, pooled over the runs, and the white-box steps' per-step
    audit; one unit of ``progress`` each, its line naming the bounds just found."""
    mechanism = (plan.sigma, plan.sample_rate, plan.steps)
    results = {}
    for access, games in played.items():
        result = judge(
            np.concatenate([scores for scores, _ in games]),
            np.concatenate([included for _, included in games]),
            settings.guesses,
            plan.delta,
            settings.confidence,
            mechanism,
        )
        results[access] = result
        found = (
            f"{access.replace('_', '-')}: ε ≥ {result['epsilon_lower']:.3g}, in the DP-SGD "
            f"family ε ≥ {result['epsilon_fdp_lower']:.3g} (claimed {plan.epsilon:.4g})"
        )
        progress.details = lambda found=found: found
        progress.update()
    if steps:
        composed = composed_audit(
            np.concatenate(steps, axis=1),
            np.concatenate([included for _, included in played["white_box"]]),
            mechanism,
            plan.delta,
            settings.confidence,
        )
        results["white_box"].update(composed)
        found = (
            f"white-box per step, composed: ε ≥ {composed['epsilon_composed']:.3g}, in the "
            f"DP-SGD family ε ≥ {composed['epsilon_composed_fdp']:.3g}"
        )
        progress.details = lambda found=found: found
        progress.update()
    return results
