"""DP-SGD training with Opacus, the matching non-private baseline, metrics, checkpoint and resume.

A run follows its privacy plan exactly (``results/privacy/{dataset}/eps_{eps}.json``):

* private (finite target ε): Poisson sampling with rate ``q = plan["sample_rate"]`` for exactly
  ``T = plan["steps"]`` steps, per-sample clipping to ``C = plan["clip_norm"]``, Gaussian noise
  ``N(0, σ²C²)`` on the summed clipped gradients with ``σ = plan["sigma"]``, division by the
  expected batch size ``qN`` (Abadi et al. 2016; the paper's setup, paper-facts §4). Logical
  batches are split into physical ones by Opacus' ``BatchMemoryManager``. The ε actually spent
  comes from the run's own Opacus RDP accountant.
* non-private (target ``inf``): the same model, T steps of shuffled minibatches of the expected
  batch size ``B``, no clipping, no noise.

Every epoch ends with an atomic checkpoint (model, optimiser, accountant, RNG states, losses); a
restarted run continues from it and, on CPU, ends with the same result as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from opacus.utils.batch_memory_manager import BatchMemoryManager
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    matthews_corrcoef,
    roc_auc_score,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from rero.data import load_split, read_meta
from rero.io import atomic_path, provenance, read_json, write_json
from rero.models import MODELS, build_model

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "nadam": torch.optim.NAdam,
    "sgd": torch.optim.SGD,
}
#: Opacus per-sample gradient engines; all give the same clipped update (see tests).
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ew", "ghost")
DEVICES = ("auto", "cpu", "cuda")
MAX_LOSS_CURVE_POINTS = 1000
CHECKPOINT_FORMAT = 1
#: TrainConfig fields that do not change the numbers a run produces (a checkpoint written under
#: other values of these may be resumed).
RUNTIME_FIELDS = ("device", "threads", "eval_batch_size", "progress")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings that are not part of the privacy plan.

    With the defaults, the non-private small_cnn reaches about 0.89-0.90 test accuracy on the
    shipped 3-class 28x28 dataset in 10 epochs of batch 256 (good, not perfect). The paper uses
    NAdam at lr 2e-3 (paper-facts §3); ``optimizer="nadam"`` selects it.

    ``grad_sample_mode="hooks"`` is the fastest Opacus engine for these models on CPU (see
    ``benchmarks/bench_dp_step.py``; it uses :func:`conv2d_grad_sample` for convolutions and
    :class:`LayerOutputBackward` to skip the summed weight gradients). The
    ``functorch`` and ``ew`` engines fail on an empty Poisson batch, which occurs only when the
    expected batch size qN is tiny; ``hooks`` and ``ghost`` handle it.
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


@dataclass(frozen=True)
class Schedule:
    """What a privacy plan asks of training: sampling rate, steps and, if private, σ and C."""

    private: bool
    target_epsilon: float
    sample_rate: float
    steps: int
    sigma: float
    clip_norm: float | None
    delta: float
    batch_size: int
    steps_per_epoch: int


def _plan_number(plan: dict[str, Any], key: str) -> float:
    try:
        return float(plan[key])
    except (TypeError, ValueError):
        raise ValueError(
            f'privacy plan: {key} must be a number (or "inf"), got {plan[key]!r}'
        ) from None


def schedule_from_plan(plan: dict[str, Any], dataset_size: int) -> Schedule:
    """Check a privacy plan (data contract) against the training set and derive the schedule."""
    required = ("target_epsilon", "sigma", "sample_rate", "steps", "delta")
    missing = [key for key in required if key not in plan]
    if missing:
        raise ValueError(f"privacy plan: missing key(s) {', '.join(missing)}")
    target, q, sigma, delta = (
        _plan_number(plan, key) for key in ("target_epsilon", "sample_rate", "sigma", "delta")
    )
    steps = plan["steps"]
    if not 0 < q <= 1:
        raise ValueError(f"privacy plan: sample_rate must be in (0, 1], got {q}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"privacy plan: steps must be an integer >= 1, got {steps!r}")
    if plan.get("dataset_size") is not None and int(plan["dataset_size"]) != dataset_size:
        raise ValueError(
            f"privacy plan: dataset_size {plan['dataset_size']} differs from the training set "
            f"({dataset_size} images); the plan was accounted for another dataset"
        )
    private = math.isfinite(target)
    clip_norm = None
    if private:
        if plan.get("clip_norm") is None or not float(plan["clip_norm"]) > 0:
            raise ValueError(f"privacy plan: clip_norm must be > 0, got {plan.get('clip_norm')!r}")
        if not sigma >= 0:
            raise ValueError(f"privacy plan: sigma must be >= 0, got {sigma}")
        if not 0 < delta < 1:
            raise ValueError(f"privacy plan: delta must be in (0, 1), got {delta}")
        clip_norm = float(plan["clip_norm"])
    batch_size = plan.get("batch_size") or max(1, round(q * dataset_size))
    steps_per_epoch = math.ceil(dataset_size / int(batch_size))
    return Schedule(
        private=private,
        target_epsilon=target,
        sample_rate=q,
        steps=steps,
        sigma=sigma,
        clip_norm=clip_norm,
        delta=delta,
        batch_size=int(batch_size),
        steps_per_epoch=steps_per_epoch,
    )


# --------------------------------------------------------------------------------------------
# Per-sample gradients of Conv2d: one grouped convolution backward (CPU)
# --------------------------------------------------------------------------------------------


def conv2d_grad_sample(
    layer: nn.Conv2d, activations: Sequence[torch.Tensor], backprops: torch.Tensor
) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a ``Conv2d``, with the batch folded into convolution groups.

    The weight gradient of sample i is the convolution of its input with its output gradient; a
    single ``convolution_backward`` over inputs reshaped to (1, B*C_in, H, W) with B*groups
    groups computes all B of them at once. On CPU this is 2-3x faster than Opacus' default
    (im2col + batched matmul) for the small CNN's layers. Other devices, padding modes and empty
    batches use Opacus' implementation. Checked against ``torch.func`` in the tests.
    """
    inputs = activations[0]
    if (
        inputs.device.type != "cpu"
        or inputs.shape[0] == 0
        or isinstance(layer.padding, str)
        or layer.padding_mode != "zeros"
    ):
        return compute_conv_grad_sample(layer, list(activations), backprops)
    batch = inputs.shape[0]
    out_channels, in_per_group, kernel_h, kernel_w = layer.weight.shape
    grads: dict[nn.Parameter, torch.Tensor] = {}
    if layer.weight.requires_grad:
        folded_weight = layer.weight.new_empty(
            (batch * out_channels, in_per_group, kernel_h, kernel_w)
        )
        _, weight_grad, _ = torch.ops.aten.convolution_backward(
            backprops.reshape(1, batch * out_channels, *backprops.shape[2:]),
            inputs.to(backprops.dtype).reshape(1, batch * inputs.shape[1], *inputs.shape[2:]),
            folded_weight,
            None,
            list(layer.stride),
            list(layer.padding),
            list(layer.dilation),
            False,
            [0, 0],
            batch * layer.groups,
            [False, True, False],
        )
        grads[layer.weight] = weight_grad.view(batch, *layer.weight.shape)
    if layer.bias is not None and layer.bias.requires_grad:
        grads[layer.bias] = backprops.sum(dim=(2, 3))
    return grads


def use_fast_conv_grad_sampler(enabled: bool = True) -> None:
    """Make Opacus use :func:`conv2d_grad_sample` (or, with ``enabled=False``, its own
    im2col version) for ``nn.Conv2d`` per-sample gradients.

    Opacus keeps one registry per process, looked up at every backward pass; the hooks mode uses
    it (ghost clipping uses it only for layers without a norm sampler).
    """
    register_grad_sampler(nn.Conv2d)(conv2d_grad_sample if enabled else compute_conv_grad_sample)


class LayerOutputBackward:
    """The backward pass of a DP step, without the summed weight gradients that DP discards.

    ``loss.backward()`` makes autograd compute every parameter's ordinary (batch-summed)
    gradient, which DP-SGD never uses: Opacus' optimiser replaces ``p.grad`` with the clipped,
    noised sum of the per-sample gradients. This object records the output of every layer with
    trainable parameters during the forward pass and differentiates the loss with respect to
    those outputs only. Autograd then skips the weight-gradient kernels but still runs the
    Opacus backward hooks, which receive the same output gradients and produce bit-identical
    per-sample gradients (checked in the tests). A forward pass in training mode with gradients
    enabled must be followed by a call of this object.
    """

    def __init__(self, model: nn.Module) -> None:
        self.outputs: list[torch.Tensor] = []
        for module in model.modules():
            if any(parameter.requires_grad for parameter in module.parameters(recurse=False)):
                module.register_forward_hook(self._record)

    def _record(self, module: nn.Module, _inputs: Any, output: Any) -> None:
        if (
            module.training
            and torch.is_grad_enabled()
            and isinstance(output, torch.Tensor)
            and output.requires_grad
        ):
            self.outputs.append(output)

    def __call__(self, loss: torch.Tensor) -> None:
        """Run the backward pass of ``loss`` (per-sample gradients land in ``p.grad_sample``)."""
        outputs, self.outputs = self.outputs, []
        if outputs:
            torch.autograd.grad(loss, outputs, allow_unused=True)
        else:
            loss.backward()


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory_in_process(
    mmap_threshold: int = 32 * 2**20, trim_threshold: int = 2**30
) -> bool:
    """Let glibc's allocator keep freed blocks of up to ``mmap_threshold`` bytes for reuse.

    A DP step allocates per-sample gradients of tens of MB and frees them at ``zero_grad``. By
    default glibc returns such blocks to the operating system, so every step page-faults and
    zero-fills them again; on the small CNN this costs about as much as the per-sample gradient
    kernels themselves (``benchmarks/bench_dp_step.py``). 32 MiB is glibc's largest allowed
    mmap threshold. Changes only speed. Returns False (doing nothing) on other C libraries.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )


# --------------------------------------------------------------------------------------------
# Data feeding
# --------------------------------------------------------------------------------------------


class _InMemoryBatches(Dataset):
    """Images and labels as tensors; a list of indices is fetched in one indexing operation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.labels[index]


def _keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


def poisson_loader(
    dataset: _InMemoryBatches, sample_rate: float, steps: int, generator: torch.Generator
) -> DataLoader:
    """``steps`` logical batches, each holding every example independently with probability q."""
    sampler = UniformWithReplacementSampler(
        num_samples=len(dataset), sample_rate=sample_rate, generator=generator, steps=steps
    )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_keep_batch, generator=generator)


def shuffled_batches(
    num_examples: int, batch_size: int, steps: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """The first ``steps`` minibatches of one random permutation (one epoch, non-private)."""
    order = torch.randperm(num_examples, generator=generator)
    return list(order.split(batch_size))[:steps]


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, AUROC and MCC (scikit-learn) of class probabilities.

    AUROC is the positive-class ROC AUC for two classes and the macro one-vs-rest AUC otherwise;
    it is NaN when a split lacks a class.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = probabilities.shape[1]
    predictions = probabilities.argmax(axis=1)
    try:
        if num_classes == 2:
            auroc = roc_auc_score(labels, probabilities[:, 1])
        else:
            auroc = roc_auc_score(
                labels,
                probabilities,
                multi_class="ovr",
                average="macro",
                labels=list(range(num_classes)),
            )
    except ValueError:
        auroc = math.nan
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "auroc": float(auroc),
        "mcc": float(matthews_corrcoef(labels, predictions)),
    }


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Softmax class probabilities (float64) of raw ``[0, 1]`` images, in evaluation mode."""
    was_training = model.training
    model.eval()
    tensor = torch.as_tensor(images)
    outputs = []
    for start in range(0, len(tensor), batch_size):
        logits = model(tensor[start : start + batch_size].to(device))
        outputs.append(torch.softmax(logits.double(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy()


# --------------------------------------------------------------------------------------------
# Training run
# --------------------------------------------------------------------------------------------


def _resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available")
    return torch.device(requested)


def _derived_seeds(seed: int) -> tuple[int, int, int]:
    """Independent seeds for model initialisation, batch sampling and DP noise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    init, sampling, noise = np.random.SeedSequence(seed).generate_state(3)
    return int(init), int(sampling), int(noise)


def _run_identity(plan: dict, config: TrainConfig, seed: int, meta: dict) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: plan, seed, data and result-relevant config."""
    settings = {k: v for k, v in asdict(config).items() if k not in RUNTIME_FIELDS}
    data = {split: meta["splits"][split].get("sha256") for split in meta["splits"]}
    return {"plan": plan, "config": settings, "seed": seed, "data": data}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _loss_curve(losses: list[float], steps_per_epoch: int) -> list[dict[str, float]]:
    """Mean training loss per window of logical steps (at most MAX_LOSS_CURVE_POINTS windows)."""
    window = max(1, math.ceil(len(losses) / MAX_LOSS_CURVE_POINTS))
    curve = []
    for start in range(0, len(losses), window):
        chunk = [value for value in losses[start : start + window] if math.isfinite(value)]
        end = min(start + window, len(losses))
        curve.append(
            {
                "step": end,
                "epoch": end / steps_per_epoch,
                "loss": float(np.mean(chunk)) if chunk else math.nan,
            }
        )
    return curve


def _loss_backward(loss: Any) -> None:
    """``loss.backward()``; ghost clipping's loss object runs its two passes in it."""
    loss.backward()


class TrainingRun:
    """The mutable state of one training run (model, optimiser, accountant, RNGs, history)."""

    def __init__(
        self,
        schedule: Schedule,
        config: TrainConfig,
        seed: int,
        meta: dict[str, Any],
        train_images: torch.Tensor,
        train_labels: torch.Tensor,
        device: torch.device,
    ) -> None:
        self.schedule = schedule
        self.config = config
        self.device = device
        init_seed, sampling_seed, noise_seed = _derived_seeds(seed)
        torch.manual_seed(init_seed)
        channels, height, width = meta["shape"]
        self.model_spec = {
            "name": config.model,
            "in_channels": int(channels),
            "num_classes": int(meta["num_classes"]),
            "image_size": [int(height), int(width)],
            "mean": [float(value) for value in meta["mean"]],
            "std": [float(value) for value in meta["std"]],
        }
        self.model = build_model(**self.model_spec).to(device)
        self.optimizer = OPTIMIZERS[config.optimizer](
            self.model.parameters(), lr=config.learning_rate
        )
        self.sampling_generator = torch.Generator().manual_seed(sampling_seed)
        self.noise_generator = torch.Generator(device=device).manual_seed(noise_seed)
        self.dataset = _InMemoryBatches(train_images, train_labels)
        self.criterion: Callable = nn.CrossEntropyLoss()
        self.losses: list[float] = []
        self.batch_sizes: list[int] = []
        self.step = 0
        self.elapsed_s = 0.0
        self.engine: PrivacyEngine | None = None
        self.backward: Callable[[Any], None] = _loss_backward
        self.logical_step_done = False
        self.trained_model: nn.Module = self.model
        if schedule.private:
            self._make_private()

    def _make_private(self) -> None:
        """Wrap model and optimiser with Opacus (σ and C given, never calibrated here)."""
        schedule = self.schedule
        use_fast_conv_grad_sampler()
        self.engine = PrivacyEngine(accountant="rdp")
        wrapped = self.engine.make_private(
            module=self.model,
            optimizer=self.optimizer,
            data_loader=poisson_loader(self.dataset, schedule.sample_rate, 1, torch.Generator()),
            criterion=nn.CrossEntropyLoss(),
            noise_multiplier=schedule.sigma,
            max_grad_norm=schedule.clip_norm,
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
        self.dp_optimizer.expected_batch_size = schedule.sample_rate * len(self.dataset)
        account = self.engine.accountant.get_optimizer_hook_fn(sample_rate=schedule.sample_rate)

        def on_noisy_step(optimizer: torch.optim.Optimizer) -> None:
            account(optimizer)
            self.logical_step_done = True

        self.dp_optimizer.attach_step_hook(on_noisy_step)
        self.trained_model.forbid_grad_accumulation()  # as make_private does for Poisson

    # -- state ---------------------------------------------------------------------------------

    def state(self, identity: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "identity": identity,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "accountant": self.engine.accountant.state_dict() if self.engine else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "sampling": self.sampling_generator.get_state(),
                "noise": self.noise_generator.get_state(),
            },
            "losses": self.losses,
            "batch_sizes": self.batch_sizes,
            "elapsed_s": self.elapsed_s,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.engine is not None:
            self.engine.accountant.load_state_dict(state["accountant"])
        torch.set_rng_state(state["rng"]["torch"])
        self.sampling_generator.set_state(state["rng"]["sampling"])
        self.noise_generator.set_state(state["rng"]["noise"])
        self.losses = list(state["losses"])
        self.batch_sizes = list(state["batch_sizes"])
        self.step = int(state["step"])
        self.elapsed_s = float(state["elapsed_s"])

    # -- training --------------------------------------------------------------------------------

    def run_epoch(self, steps: int, progress: tqdm) -> None:
        """``steps`` logical steps (private or not), recording loss and batch size per step."""
        if self.schedule.private:
            self._private_epoch(steps, progress)
        else:
            self._non_private_epoch(steps, progress)

    def _record(self, loss_sum: float, count: int, progress: tqdm) -> None:
        self.losses.append(loss_sum / count if count else math.nan)
        self.batch_sizes.append(count)
        self.step += 1
        progress.update(1)

    def _private_epoch(self, steps: int, progress: tqdm) -> None:
        loader = poisson_loader(
            self.dataset, self.schedule.sample_rate, steps, self.sampling_generator
        )
        self.trained_model.train()
        loss_sum, count = 0.0, 0
        with BatchMemoryManager(
            data_loader=loader,
            max_physical_batch_size=self.config.physical_batch_size,
            optimizer=self.dp_optimizer,
        ) as physical_loader:
            for images, labels in physical_loader:
                images, labels = images.to(self.device), labels.to(self.device)
                loss = self.criterion(self.trained_model(images), labels)
                self.backward(loss)
                if len(labels):
                    loss_sum += float(loss.item()) * len(labels)
                    count += len(labels)
                self.logical_step_done = False
                self.dp_optimizer.step()  # a real step only after a logical batch's last part
                self.dp_optimizer.zero_grad(set_to_none=True)
                if self.logical_step_done:
                    self._record(loss_sum, count, progress)
                    loss_sum, count = 0.0, 0

    def _non_private_epoch(self, steps: int, progress: tqdm) -> None:
        self.model.train()
        for batch in shuffled_batches(
            len(self.dataset), self.schedule.batch_size, steps, self.sampling_generator
        ):
            loss_sum = 0.0
            for part in batch.split(self.config.physical_batch_size):
                images, labels = self.dataset.__getitems__(part.tolist())
                images, labels = images.to(self.device), labels.to(self.device)
                loss = nn.functional.cross_entropy(self.model(images), labels, reduction="sum")
                (loss / len(batch)).backward()
                loss_sum += float(loss.item())
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self._record(loss_sum, len(batch), progress)

    def epsilon_spent(self) -> dict[str, Any]:
        """ε of the steps taken, from this run's own RDP accountant (``inf`` if non-private)."""
        if self.engine is None:
            return {
                "epsilon": math.inf,
                "delta": self.schedule.delta,
                "accountant": "none",
                "steps": self.step,
            }
        epsilon = (
            self.engine.accountant.get_epsilon(delta=self.schedule.delta)
            if self.schedule.sigma > 0
            else math.inf
        )
        steps = sum(count for _, _, count in self.engine.accountant.history)
        return {
            "epsilon": float(epsilon),
            "delta": self.schedule.delta,
            "accountant": "rdp",
            "steps": int(steps),
        }


@contextlib.contextmanager
def _torch_settings(threads: int, deterministic: bool) -> Iterator[None]:
    """Set torch's CPU threads and deterministic mode for a run; restore them afterwards."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)


def train_run(
    data_dir: str | Path,
    plan: dict[str, Any],
    config: TrainConfig,
    seed: int,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Train one model as the privacy ``plan`` says; write model.pt, metrics.json, checkpoint.pt.

    Resumes from ``out_dir/checkpoint.pt`` when it belongs to the same plan, seed, data and
    settings (a checkpoint of another run is ignored and overwritten). Returns the metrics dict.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    meta = read_meta(data_dir)
    train_images, train_labels = load_split(data_dir, "train")
    schedule = schedule_from_plan(plan, len(train_labels))
    device = _resolve_device(config.device)
    keep_freed_memory_in_process()
    with (
        _torch_settings(config.threads, deterministic=device.type == "cpu"),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        run = TrainingRun(
            schedule,
            config,
            seed,
            meta,
            torch.from_numpy(train_images),
            torch.from_numpy(train_labels),
            device,
        )
        identity = _run_identity(plan, config, seed, meta)
        checkpoint_path = out / "checkpoint.pt"
        if checkpoint_path.is_file():
            state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
            if state.get("format") == CHECKPOINT_FORMAT and state.get("identity") == identity:
                run.load(state)
            else:
                print(f"{checkpoint_path}: from another run; starting over", file=sys.stderr)

        attempt_start = time.perf_counter()
        already = run.elapsed_s
        with tqdm(
            total=schedule.steps,
            initial=run.step,
            desc=f"train {meta['dataset']} eps={plan['target_epsilon']} seed={seed}",
            unit="step",
            file=sys.stderr,
            disable=not config.progress,
            mininterval=2.0,
        ) as progress:
            while run.step < schedule.steps:
                run.run_epoch(min(schedule.steps_per_epoch, schedule.steps - run.step), progress)
                run.elapsed_s = already + time.perf_counter() - attempt_start
                _save_checkpoint(checkpoint_path, run.state(identity))

        metrics = _finish(run, data_dir, meta, plan, config, seed, out)
    metrics["wall_time_s"] = already + time.perf_counter() - started
    write_json(out / "metrics.json", metrics)
    return metrics


def _finish(
    run: TrainingRun,
    data_dir: str | Path,
    meta: dict[str, Any],
    plan: dict[str, Any],
    config: TrainConfig,
    seed: int,
    out: Path,
) -> dict[str, Any]:
    """Evaluate on val and test, save the plain model, assemble the metrics dict."""
    results = {}
    for split in ("val", "test"):
        images, labels = load_split(data_dir, split)
        probabilities = predict_probabilities(
            run.model, images, config.eval_batch_size, str(run.device)
        )
        results[split] = classification_metrics(labels, probabilities)
    with atomic_path(out / "model.pt") as tmp:
        torch.save({k: v.cpu() for k, v in run.model.state_dict().items()}, tmp)
    sizes = np.asarray(run.batch_sizes)
    return {
        "dataset": meta["dataset"],
        "seed": seed,
        "target_epsilon": run.schedule.target_epsilon,
        "test": results["test"],
        "val": results["val"],
        "loss_curve": _loss_curve(run.losses, run.schedule.steps_per_epoch),
        "epsilon_spent": run.epsilon_spent(),
        "sampling": {
            "scheme": "poisson" if run.schedule.private else "shuffled minibatches",
            "sample_rate": run.schedule.sample_rate,
            "expected_batch_size": run.schedule.sample_rate * len(run.dataset)
            if run.schedule.private
            else run.schedule.batch_size,
            "batch_size_mean": float(sizes.mean()),
            "batch_size_min": int(sizes.min()),
            "batch_size_max": int(sizes.max()),
        },
        "plan": plan,
        "config": asdict(config),
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
