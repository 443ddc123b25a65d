"""One training job: train under a privacy plan, checkpoint every epoch, evaluate, write outputs.

Every epoch ends with an atomic checkpoint (model, optimiser, accountant, RNG states, losses); a
restarted job continues from it when it belongs to the same plan, seed, data, settings and code
and is unfinished, and, on CPU, ends with the same result as an uninterrupted one (the same bytes
of ``model.pt``). Any other checkpoint, an unreadable one included, is discarded with a log line
saying why. The checkpoint is removed once the outputs are written, so a rerun of a finished job
trains again.

A run that goes non-finite (NaN or infinite loss, gradient, weights, predictions or test metrics)
fails with :class:`rero.training.finite.NonFiniteTrainingError` and leaves no ``model.pt``,
``metrics.json`` or checkpoint: a rerun starts from step 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import rero
from rero.data.prepare import read_meta
from rero.data.store import load_masks, load_split
from rero.data.tasks import MAIN_METRIC
from rero.models.registry import build_model, model_module
from rero.privacy.plan import PrivacyPlan
from rero.runtime.device import resolve_device
from rero.runtime.io import provenance, read_json, write_json
from rero.runtime.progress import ProgressLog
from rero.runtime.sources import command_sources
from rero.training.bootstrap import (
    LEVEL,
    RESAMPLES,
    SEED,
    mcc_statistic,
    mean_statistic,
    percentile_interval,
)
from rero.training.checkpoint import CheckpointFile, UnreadableCheckpointError, save_torch
from rero.training.config import RUNTIME_FIELDS, TrainConfig
from rero.training.dice import segmentation_metrics, soft_dice_per_class
from rero.training.finite import NonFiniteTrainingError, all_finite, nested_tensors, settings_hint
from rero.training.metrics import classification_metrics, loss_curve, predict_probabilities
from rero.training.run import TrainingRun
from rero.training.speedups import keep_freed_memory_in_process

CHECKPOINT_FORMAT = 3  # 2: the augmentation RNG state; 3: no elapsed time (checkpoint.time.json)


@contextlib.contextmanager
def training_settings(threads: int, deterministic: bool) -> Iterator[None]:
    """Torch's CPU threads and deterministic mode for a run (restored afterwards), and Opacus'
    warnings that every run would print silenced: the settings of ``train`` and its audit."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)


def training_code_digest(model: str) -> str:
    """SHA-256 over the package files ``python -m rero train`` runs for ``model``
    (``rero.runtime.sources``): a checkpoint written by other code is not resumed."""
    package = Path(rero.__file__).parent
    digest = hashlib.sha256()
    for file in command_sources("train", package, [model_module(model)]):
        digest.update(file.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _run_identity(
    plan: PrivacyPlan, config: TrainConfig, seed: int, meta: dict[str, Any]
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: plan, seed, data, result-relevant config and
    the training code."""
    settings = {k: v for k, v in asdict(config).items() if k not in RUNTIME_FIELDS}
    data = {split: meta["splits"][split].get("sha256") for split in meta["splits"]}
    return {
        "plan": plan.to_dict(),
        "config": settings,
        "seed": seed,
        "data": data,
        "code": training_code_digest(config.model),
    }


def _resume_problem(state: dict[str, Any], identity: dict[str, Any], steps: int) -> str | None:
    """Why the checkpoint ``state`` cannot be resumed by the run of ``identity``; None if it can."""
    if state.get("format") != CHECKPOINT_FORMAT:
        return f"checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}"
    if state.get("identity") != identity:
        theirs = state.get("identity", {})
        changed = sorted(key for key in identity if theirs.get(key) != identity[key])
        return f"written by another run (other {', '.join(changed)})"
    if state["step"] >= steps:
        return f"a finished run ({state['step']} of {steps} steps); training again"
    if not all_finite(nested_tensors([state["model"], state["optimizer"]])):
        return "its weights or optimiser state are not finite (NaN or infinite)"
    return None


def _resume(run: TrainingRun, checkpoint: CheckpointFile, identity: dict[str, Any]) -> None:
    """Load the checkpoint into ``run`` if it is a readable, finite, unfinished run with this
    identity; otherwise discard it, logging why."""
    path = checkpoint.path
    if not path.is_file():
        return
    steps = run.plan.steps
    try:
        state, elapsed = checkpoint.load()
    except UnreadableCheckpointError as problem:
        reason: str | None = str(problem)
    else:
        reason = _resume_problem(state, identity, steps)
    if reason is None:
        run.load(state)
        run.elapsed_s = elapsed or 0.0
        note = ""
        if elapsed is None:
            note = f" (earlier attempts' time not in {checkpoint.times_path.name}: not counted)"
        print(f"{path}: resumed at step {run.step} of {steps}{note}", file=sys.stderr)
        return
    print(f"{path}: discarded, {reason}; starting at step 0", file=sys.stderr)


def _train_to_end(
    run: TrainingRun, checkpoint: CheckpointFile, identity: dict[str, Any], description: str
) -> None:
    """Run epochs until the plan's T steps are done, checkpointing after each one."""
    plan = run.plan
    steps_per_epoch = plan.steps_per_epoch(len(run.dataset))
    attempt_start = time.perf_counter()
    already = run.elapsed_s
    with ProgressLog(
        description,
        plan.steps,
        run.step,
        details=run.progress_details,
        enabled=run.config.progress,
    ) as progress:
        while run.step < plan.steps:
            run.run_epoch(min(steps_per_epoch, plan.steps - run.step), progress)
            run.elapsed_s = already + time.perf_counter() - attempt_start
            checkpoint.save(
                {"format": CHECKPOINT_FORMAT, "identity": identity, **run.state()}, run.elapsed_s
            )


def train_run(
    data_dir: str | Path,
    plan: PrivacyPlan,
    config: TrainConfig,
    seed: int,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Train one model as the privacy ``plan`` says; write model.pt and metrics.json.

    Checkpoints every epoch to ``out_dir/checkpoint.pt`` and resumes from it when it is an
    unfinished run with the same plan, seed, data, settings and code (any other, or an unreadable
    one, is discarded with a log line saying why); removes it at the end. A run that goes
    non-finite raises :class:`NonFiniteTrainingError` and leaves none of the three files.
    Returns the metrics dict.
    """
    started = time.perf_counter()
    device = resolve_device(config.device)
    config.check_plan(plan.private)
    out = Path(out_dir)
    meta = read_meta(data_dir)
    train_images, train_labels = load_split(data_dir, "train")
    plan.check_dataset(len(train_labels))
    targets = _targets(data_dir, "train", meta, train_labels)
    keep_freed_memory_in_process()
    checkpoint = CheckpointFile(out / "checkpoint.pt")
    with training_settings(config.threads, deterministic=device.type == "cpu"):
        run = TrainingRun(plan, config, seed, meta, train_images, targets, device)
        identity = _run_identity(plan, config, seed, meta)
        _resume(run, checkpoint, identity)
        already = run.elapsed_s
        description = f"train {meta['dataset']} eps={plan.target_epsilon} seed={seed}"
        try:
            _train_to_end(run, checkpoint, identity, description)
            scores = {"val": _evaluate(meta, "val", *_predict(run, data_dir, meta, "val"))}
            test = _predict(run, data_dir, meta, "test")
            scores["test"] = _evaluate(meta, "test", *test)
            interval = main_metric_interval(meta, *test)
        except NonFiniteTrainingError as error:
            for output in ("model.pt", "metrics.json"):
                (out / output).unlink(missing_ok=True)
            checkpoint.remove()
            raise NonFiniteTrainingError(
                f"{error}. {out}: no model.pt or metrics.json written and the checkpoint "
                "removed, so a rerun starts at step 0"
            ) from None
    save_torch(out / "model.pt", {k: v.cpu() for k, v in run.model.state_dict().items()})
    metrics = _metrics(run, scores, meta, seed) | {"test_bootstrap": interval}
    metrics["wall_time_s"] = already + time.perf_counter() - started
    write_json(out / "metrics.json", metrics)
    checkpoint.remove()  # a checkpoint exists only while its run is unfinished
    return metrics


def _targets(
    data_dir: str | Path, split: str, meta: dict[str, Any], labels: np.ndarray
) -> np.ndarray:
    """What the model is trained and scored on: the labels, or a segmentation task's masks."""
    return load_masks(data_dir, split) if meta["task"] == "segmentation" else labels


def metric_values(scores: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """Every number in ``scores`` with its name; a per-class mapping (segmentation's
    ``dice_per_class``) gives ``<metric>.<class>``."""
    for name, value in scores.items():
        if isinstance(value, dict):
            yield from ((f"{name}.{key}", item) for key, item in value.items())
        else:
            yield name, value


def _predict(
    run: TrainingRun, data_dir: str | Path, meta: dict[str, Any], split: str
) -> tuple[np.ndarray, np.ndarray]:
    """(targets, class probabilities) of the trained model on ``split``: labels or masks;
    :class:`NonFiniteTrainingError` if a prediction is not finite."""
    images, labels = load_split(data_dir, split)
    probabilities = predict_probabilities(
        run.model, images, run.config.eval_batch_size, str(run.device)
    )
    if not np.isfinite(probabilities).all():
        raise NonFiniteTrainingError(
            f"the trained model's predictions on the {split} split are not finite (NaN or "
            f"infinite): the run is broken, not a result; {settings_hint(run.plan, run.config)}"
        )
    return _targets(data_dir, split, meta, labels), probabilities


def _evaluate(
    meta: dict[str, Any], split: str, targets: np.ndarray, probabilities: np.ndarray
) -> dict[str, float]:
    """The metrics of predictions on ``split``; :class:`NonFiniteTrainingError` if one is not
    finite."""
    if meta["task"] == "segmentation":
        scores = segmentation_metrics(targets, probabilities, meta["class_names"])
    else:
        scores = classification_metrics(targets, probabilities)
    undefined = sorted(name for name, value in metric_values(scores) if not math.isfinite(value))
    if undefined:
        classes = range(int(meta["num_classes"])) if meta["task"] == "classification" else ()
        absent = sorted(set(classes) - set(np.unique(targets).tolist()))
        cause = f" (it lacks class {', '.join(map(str, absent))})" if absent else ""
        raise NonFiniteTrainingError(
            f"{split} split: {', '.join(undefined)} is not finite{cause}; a metric that cannot "
            "be computed is not reported"
        )
    return scores


def main_metric_interval(
    meta: dict[str, Any], targets: np.ndarray, probabilities: np.ndarray
) -> dict[str, Any]:
    """The main metric's percentile-bootstrap interval over the test examples
    (:mod:`rero.training.bootstrap`): MCC of the predicted classes, or the mean soft Dice as the
    mean over images of each image's Dice averaged over the classes."""
    task = meta["task"]
    if task == "segmentation":
        dice = soft_dice_per_class(
            torch.from_numpy(np.asarray(probabilities, dtype=np.float64)),
            torch.from_numpy(np.asarray(targets).astype(np.int64, copy=False)),
            len(meta["class_names"]),
        )
        statistic = mean_statistic(dice.mean(dim=1).numpy())
    else:
        statistic = mcc_statistic(targets, probabilities.argmax(axis=1), probabilities.shape[1])
    low, high = percentile_interval(statistic, len(probabilities))
    return {
        "metric": MAIN_METRIC[task],
        "low": low,
        "high": high,
        "level": LEVEL,
        "resamples": RESAMPLES,
        "seed": SEED,
    }


def _metrics(
    run: TrainingRun, scores: dict[str, dict[str, float]], meta: dict[str, Any], seed: int
) -> dict[str, Any]:
    """The metrics dict of a finished run (``wall_time_s`` aside)."""
    plan, num_train = run.plan, len(run.dataset)
    sizes = np.asarray(run.batch_sizes)
    return {
        "dataset": meta["dataset"],
        "task": meta["task"],
        "seed": seed,
        "target_epsilon": plan.target_epsilon,
        "test": scores["test"],
        "val": scores["val"],
        "loss_curve": loss_curve(run.losses, plan.steps_per_epoch(num_train)),
        "rdp_epsilon_upper_bound": run.rdp_epsilon_upper_bound(),
        "sampling": {
            "scheme": "poisson" if plan.private else "shuffled minibatches",
            "sample_rate": plan.sample_rate,
            "expected_batch_size": plan.expected_batch_size(num_train)
            if plan.private
            else plan.logical_batch_size(num_train),
            "batch_size_mean": float(sizes.mean()),
            "batch_size_min": int(sizes.min()),
            "batch_size_max": int(sizes.max()),
        },
        "plan": plan.to_dict(),
        "config": asdict(run.config),
        "model_spec": run.model_spec,
        "provenance": provenance(),
    }


def load_trained_model(run_dir: str | Path, map_location: str = "cpu") -> nn.Module:
    """The trained plain model of a run directory (``metrics.json`` + ``model.pt``), eval mode.

    It takes raw ``[0, 1]`` images: the z-scoring statistics are buffers inside the model.
    """
    run = Path(run_dir)
    spec = read_json(run / "metrics.json").get("model_spec")
    if not spec:
        raise ValueError(f"{run / 'metrics.json'}: has no model_spec (not a training run?)")
    weights = run / "model.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: file not found (expected the run's state_dict)")
    model = build_model(**spec)
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    return model.eval()
