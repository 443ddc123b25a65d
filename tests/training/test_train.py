"""DP-SGD training: the clipped update against an independent torch.func computation (ResNet-9's
centred convolutions too), augmentation multiplicity, the single-logit task and the loss
reduction, Poisson sampling, accounting, memory-mapped data, resume and determinism, metrics,
non-private baseline, CUDA and the CLI."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from opacus import PrivacyEngine
from opacus.accountants import RDPAccountant
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rero.commands import train as train_command
from rero.data.store import load_split
from rero.models.grad_samples import conv2d_grad_sample
from rero.models.registry import build_model
from rero.privacy.plan import write_plan
from rero.runtime.io import read_json, write_json
from rero.study.config import load_schema
from rero.training.augment import Augmentation, average_views, shift
from rero.training.checkpoint import CheckpointFile, sha256
from rero.training.config import TrainConfig
from rero.training.finite import (
    NonFiniteTrainingError,
    all_finite,
    nested_tensors,
    settings_hint,
)
from rero.training.job import load_trained_model, train_run
from rero.training.metrics import classification_metrics, predict_probabilities
from rero.training.run import TrainingRun, derived_seeds
from tests.helpers import REPO, prepare_toy_dataset, toy_plan

SIZE = 12  # image side of the toy datasets
#: σ of the "noise-free" DP steps: a private plan needs σ > 0; this one adds noise of standard
#: deviation σC/(qN) <= 1e-12·C, far below the tolerances of the exact-update checks.
NEGLIGIBLE_SIGMA = 1e-12

FAST = TrainConfig(clip_norm=1.0, physical_batch_size=8, progress=False, learning_rate=1e-2)
NON_PRIVATE = dataclasses.replace(FAST, clip_norm=None)
AUGMENTED = dataclasses.replace(
    FAST, augmentation_multiplicity=2, flip_probability=0.5, max_shift=1
)


@pytest.fixture(scope="module")
def toy3(tmp_path_factory) -> Path:
    return prepare_toy_dataset(tmp_path_factory.mktemp("toy3") / "data", num_classes=3)


# ------------------------------------------------------------------ per-sample gradients


def per_sample_gradients(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, single_logit: bool = False
) -> list:
    """Per-example gradients of the cross-entropy (or, with ``single_logit``, the binary
    cross-entropy of the one logit), by torch.func (independent of Opacus)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss(parameters, image, label):
        output = torch.func.functional_call(model, (parameters, buffers), (image[None],))
        if single_logit:
            return nn.functional.binary_cross_entropy_with_logits(output[:, 0], label[None].float())
        return nn.functional.cross_entropy(output, label[None])

    grads = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, images, labels)
    return [grads[name] for name, _ in model.named_parameters()]


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 5, 3, padding=1),
        nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, bias=False),
        nn.Conv2d(4, 6, (3, 1), padding=(1, 0), groups=2),
    ],
)
def test_conv2d_grad_sample_matches_autograd_per_example(conv):
    torch.manual_seed(0)
    images = torch.randn(7, conv.in_channels, 9, 8)
    backprops = torch.randn_like(conv(images))
    grads = conv2d_grad_sample(conv, [images], backprops)
    for parameter in conv.parameters():
        want = torch.stack(
            [
                torch.autograd.grad(conv(images[i : i + 1]), parameter, backprops[i : i + 1])[0]
                for i in range(len(images))
            ]
        )
        assert torch.allclose(grads[parameter], want, atol=1e-5)


# ------------------------------------------------------------------ the DP step


def tiny_run(
    mode: str,
    count: int,
    clip: float,
    sigma: float = NEGLIGIBLE_SIGMA,
    batch: int | None = None,
    physical_batch_size: int = 4,
    model: str = "small_cnn",
    target: float = 1.0,
    num_classes: int = 3,
    **settings,
) -> tuple[TrainingRun, torch.Tensor, torch.Tensor]:
    """A TrainingRun (private unless ``target`` is inf) on ``count`` toy images (expected batch
    ``batch``, default all), with SGD at learning rate 1; ``settings`` are more TrainConfig
    fields. The run reads the returned tensors' memory as numpy arrays."""
    torch.manual_seed(1)
    images = torch.rand(count, 1, SIZE, SIZE)
    labels = torch.arange(count) % num_classes
    meta = {"shape": [1, SIZE, SIZE], "num_classes": num_classes, "mean": [0.5], "std": [0.3]}
    meta["task"] = "classification"
    plan = toy_plan(target, count, batch or count, epochs=1, sigma=sigma)
    config = TrainConfig(
        model=model,
        clip_norm=clip if plan.private else None,
        optimizer="sgd",
        learning_rate=1.0,
        physical_batch_size=physical_batch_size,
        grad_sample_mode=mode,
        **settings,
    )
    device = torch.device("cpu")
    run = TrainingRun(plan, config, 0, meta, images.numpy(), labels.numpy(), device)
    return run, images, labels


def initial_copy(run: TrainingRun) -> nn.Module:
    """A hook-free copy of the run's model as it is now."""
    copy = build_model(**run.model_spec)
    copy.load_state_dict(run.model.state_dict())
    return copy


def clip_rows(grads: list, clip: float) -> list:
    """Opacus' per-sample clipping: every row scaled to norm <= clip (factor C / (norm + 1e-6))."""
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))
    factors = (clip / (norms + 1e-6)).clamp(max=1.0)
    return [g * factors.view(-1, *[1] * (g.dim() - 1)) for g in grads]


def applied_update(before: nn.Module, run: TrainingRun) -> list:
    """What SGD at learning rate 1 subtracted from each parameter."""
    return [
        old.detach() - new.detach()
        for old, new in zip(before.parameters(), run.model.parameters(), strict=True)
    ]


@pytest.mark.parametrize(
    ("mode", "model"),
    [
        ("hooks", "small_cnn"),
        ("functorch", "small_cnn"),
        ("ew", "small_cnn"),
        ("ghost", "small_cnn"),
        ("hooks", "resnet9"),
        ("functorch", "resnet9"),
        ("ghost", "resnet9"),
    ],
)
def test_noise_free_update_is_mean_of_clipped_per_sample_gradients(mode, model):
    run, images, labels = tiny_run(mode, count=10, clip=0.05, model=model)
    before = initial_copy(run)
    grads = per_sample_gradients(before, images, labels)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))
    assert (norms > 0.05).all()  # clipping is active for every example
    factors = (0.05 / (norms + 1e-6)).clamp(max=1.0)
    clipped = [g * factors.view(-1, *[1] * (g.dim() - 1)) for g in grads]
    assert torch.sqrt(sum(c.flatten(1).pow(2).sum(1) for c in clipped)).max() <= 0.05 + 1e-6

    run.run_epoch(1)  # q = 1: one logical batch of 10, physical 4 + 3 + 3

    assert run.batch_sizes == [10]
    for (name, new), old, c in zip(
        run.model.named_parameters(), before.parameters(), clipped, strict=True
    ):
        update = old.detach() - new.detach()  # SGD, lr 1: the applied gradient
        assert torch.allclose(update, c.mean(0), atol=2e-6), name


@pytest.mark.parametrize("model", ["small_cnn", "resnet9"])
def test_layer_output_backward_skips_weight_gradients_not_per_sample_ones(model):
    with_backward, images, labels = tiny_run("hooks", count=6, clip=1.0, model=model)
    with_outputs, _, _ = tiny_run("hooks", count=6, clip=1.0, model=model)
    with_backward.criterion(with_backward.trained_model(images), labels).backward()
    with_outputs.backward(with_outputs.criterion(with_outputs.trained_model(images), labels))
    for reference, parameter in zip(
        with_backward.model.parameters(), with_outputs.model.parameters(), strict=True
    ):
        assert reference.grad is not None and parameter.grad is None
        assert torch.equal(parameter.grad_sample, reference.grad_sample)


def test_layer_output_backward_handles_an_empty_poisson_batch():
    run, images, labels = tiny_run("hooks", count=6, clip=1.0)
    run.backward(run.criterion(run.trained_model(images[:0]), labels[:0]))
    for parameter in run.model.parameters():
        assert parameter.grad_sample.shape == (0, *parameter.shape)


def test_update_is_divided_by_the_expected_not_the_realised_batch_size():
    # ten copies of one example: each sampled copy adds the same clipped gradient
    run, images, labels = tiny_run("hooks", count=10, clip=0.05, batch=5)
    run.dataset.images[:] = images[0].numpy()
    run.dataset.labels[:] = labels[0].item()
    before = initial_copy(run)
    grads = per_sample_gradients(before, images[:1], labels[:1])
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    run.run_epoch(1)
    realised = run.batch_sizes[0]
    assert realised != 5  # this seed draws a batch that differs from qN = 5
    for new, old, g in zip(run.model.parameters(), before.parameters(), grads, strict=True):
        expected = realised / 5 * g[0] * min(1.0, 0.05 / (norm.item() + 1e-6))
        assert torch.allclose(old.detach() - new.detach(), expected, atol=2e-6)


def test_each_example_moves_the_model_by_at_most_the_clip_norm():
    for example in range(4):
        run, images, _ = tiny_run("hooks", count=1, clip=0.01)
        torch.manual_seed(example)
        run.dataset.images[:] = torch.rand_like(images).numpy()
        before = [p.detach().clone() for p in run.model.parameters()]
        run.run_epoch(1)
        step = torch.sqrt(
            sum(
                (b - p.detach()).pow(2).sum()
                for b, p in zip(before, run.model.parameters(), strict=True)
            )
        )
        assert 0.999 * 0.01 <= step <= 0.01 + 1e-7


def test_poisson_sampling_and_accounting_follow_the_plan():
    run, _, _ = tiny_run("hooks", count=60, clip=1.0, sigma=1.0, batch=18, physical_batch_size=64)
    run.run_epoch(30)
    sizes = np.asarray(run.batch_sizes)
    assert len(sizes) == 30 and len(set(sizes.tolist())) > 3  # sizes vary: Poisson, not fixed
    assert abs(sizes.mean() - 18) < 4  # E = qN = 18, sd of the mean 0.65
    assert run.engine.accountant.history == [(1.0, 0.3, 30)]
    assert run.rdp_epsilon_upper_bound()["steps"] == 30


def test_progress_line_names_the_rdp_upper_bound_beside_the_certified_epsilon():
    run, _, _ = tiny_run("hooks", count=60, clip=1.0, sigma=1.0, batch=18, physical_batch_size=64)
    run.run_epoch(3)
    rdp = run.engine.accountant.get_epsilon(delta=run.plan.delta)
    line = run.progress_details()
    assert f"RDP upper bound on ε so far {rdp:.4g}" in line, line
    assert f"certified ε {run.plan.epsilon:.4g} for all {run.plan.steps} steps (rdp)" in line
    assert "spent" not in line


def test_noise_has_standard_deviation_sigma_c_over_expected_batch():
    run, _, _ = tiny_run("hooks", count=10, clip=1e-4, sigma=2.0)
    before = [p.detach().clone() for p in run.model.parameters()]
    run.run_epoch(1)
    update = torch.cat(
        [(b - p.detach()).flatten() for b, p in zip(before, run.model.parameters(), strict=True)]
    )
    # clipped signal is at most 1e-4; noise sd = sigma * C / (qN) = 2 * 1e-4 / 10
    assert update.std().item() == pytest.approx(2e-5, rel=0.05)


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
def test_resnet9_per_sample_gradients_equal_a_torch_func_loop(mode):
    """Opacus' per-sample gradients of ResNet-9, its weight-centred convolutions included."""
    run, images, labels = tiny_run(mode, count=5, clip=1.0, model="resnet9")
    before = initial_copy(run)
    run.backward(run.criterion(run.trained_model(images), labels))
    want = per_sample_gradients(before, images, labels)
    for (name, parameter), expected in zip(run.model.named_parameters(), want, strict=True):
        assert torch.allclose(parameter.grad_sample, expected, atol=1e-5), name


def test_expanded_weights_refuse_the_centred_convolutions():
    with pytest.raises(ValueError, match="'ew' cannot differentiate model 'resnet9'"):
        TrainConfig(model="resnet9", grad_sample_mode="ew")


def test_multiplicity_one_is_the_plain_opacus_step_exactly():
    """K = 1, no augmentation: bit for bit the step of Opacus' own DP-SGD, noise included."""
    run, images, labels = tiny_run("hooks", count=8, clip=0.05, sigma=1.0, physical_batch_size=8)
    init_seed, _, noise_seed, _ = derived_seeds(0)
    torch.manual_seed(init_seed)
    model = build_model(**run.model_spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    reference, dp_optimizer, _ = PrivacyEngine(accountant="rdp").make_private(
        module=model,
        optimizer=optimizer,
        data_loader=DataLoader(TensorDataset(images, labels), batch_size=8),
        noise_multiplier=1.0,
        max_grad_norm=0.05,
        poisson_sampling=False,
        noise_generator=torch.Generator().manual_seed(noise_seed),
    )
    dp_optimizer.expected_batch_size = run.plan.expected_batch_size(8)
    nn.functional.cross_entropy(reference(images), labels).backward()
    dp_optimizer.step()

    run.run_epoch(1)  # q = 1: the whole set, in order, in one physical batch
    assert same_weights(run.model.state_dict(), model.state_dict())


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ew"])
def test_the_k_views_of_a_sample_are_clipped_as_one(mode):
    """The update is the mean over samples of clip(mean of the sample's K view gradients)."""
    multiplicity, clip = 3, 0.05
    run, images, labels = tiny_run(
        mode,
        count=6,
        clip=clip,
        physical_batch_size=8,
        augmentation_multiplicity=multiplicity,
        flip_probability=0.5,
        max_shift=2,
    )
    before = initial_copy(run)
    generator = torch.Generator()
    generator.set_state(run.augment_generator.get_state())
    views = run.augmentation.views(images, generator)  # the draws the step will make
    assert views.shape == (18, 1, SIZE, SIZE)
    view_grads = per_sample_gradients(before, views, labels.repeat_interleave(multiplicity))
    assert torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in view_grads)).min() > clip
    sample_grads = [g.view(6, multiplicity, *g.shape[1:]).mean(1) for g in view_grads]

    run.run_epoch(1)

    assert run.batch_sizes == [6]  # samples, not views
    assert run.engine.accountant.history == [(NEGLIGIBLE_SIGMA, 1.0, 1)]
    clipped = clip_rows(sample_grads, clip)
    per_view = clip_rows(view_grads, clip)  # what clipping each view would have given
    for update, c in zip(applied_update(before, run), clipped, strict=True):
        assert torch.allclose(update, c.sum(0) / 6, atol=2e-6)
    assert not all(
        torch.allclose(u, v.sum(0) / 18, atol=2e-6)
        for u, v in zip(applied_update(before, run), per_view, strict=True)
    )


def test_non_private_multiplicity_takes_the_mean_over_views():
    run, images, labels = tiny_run(
        "hooks",
        count=6,
        clip=1.0,
        target=math.inf,
        physical_batch_size=8,
        augmentation_multiplicity=2,
        flip_probability=0.5,
        max_shift=1,
    )
    before = initial_copy(run)
    sampling, augment = torch.Generator(), torch.Generator()
    sampling.set_state(run.sampling_generator.get_state())
    augment.set_state(run.augment_generator.get_state())
    order = torch.randperm(6, generator=sampling)  # the epoch's one minibatch of 6
    views = run.augmentation.views(images[order], augment)
    grads = per_sample_gradients(before, views, labels[order].repeat_interleave(2))
    run.run_epoch(1)
    for update, g in zip(applied_update(before, run), grads, strict=True):
        assert torch.allclose(update, g.mean(0), atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_single_logit_binary_step_and_the_loss_reduction(reduction):
    """One logit and BCE; "sum" adds the clipped per-sample gradients, "mean" divides by qN."""
    run, images, labels = tiny_run(
        "hooks", count=8, clip=0.05, num_classes=2, single_logit=True, loss_reduction=reduction
    )
    assert run.model.classifier.out_features == 1
    before = initial_copy(run)
    grads = per_sample_gradients(before, images, labels, single_logit=True)
    run.run_epoch(1)
    divisor = 8 if reduction == "mean" else 1
    for update, c in zip(applied_update(before, run), clip_rows(grads, 0.05), strict=True):
        assert torch.allclose(update, c.sum(0) / divisor, atol=2e-6)


def test_single_logit_needs_two_classes():
    with pytest.raises(ValueError, match="single_logit: needs a dataset of 2 classes, got 3"):
        tiny_run("hooks", count=4, clip=1.0, single_logit=True)


def test_memory_mapped_uint8_images_train_like_their_float_values(tmp_path):
    """A read-only uint8 memory map is gathered batch by batch, never converted as a whole."""
    pixels = np.random.default_rng(0).integers(0, 256, (12, 1, SIZE, SIZE), dtype=np.uint8)
    np.save(tmp_path / "images.npy", pixels)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    labels = np.arange(12) % 3
    meta = {"shape": [1, SIZE, SIZE], "num_classes": 3, "mean": [0.5], "std": [0.3]}
    meta["task"] = "classification"
    plan = toy_plan(1.0, 12, 4, epochs=1, sigma=0.5)
    runs = [
        TrainingRun(plan, FAST, 0, meta, images, labels, torch.device("cpu"))
        for images in (mapped, pixels.astype(np.float32) / np.float32(255))
    ]
    assert runs[0].dataset.images is mapped
    for run in runs:
        run.run_epoch(3)
    assert same_weights(runs[0].model.state_dict(), runs[1].model.state_dict())
    floats = torch.from_numpy(pixels.astype(np.float32) / np.float32(255))
    assert np.array_equal(
        predict_probabilities(runs[0].model, mapped, batch_size=5),
        predict_probabilities(runs[0].model, floats, batch_size=5),
    )


# ------------------------------------------------------------------ augmentation


def test_views_of_a_sample_are_consecutive_rows():
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 4, 4)
    views = Augmentation(multiplicity=2).views(images, torch.Generator())
    assert views[:, 0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2]
    assert Augmentation(multiplicity=2).labels(torch.tensor([5, 7])).tolist() == [5, 5, 7, 7]


def test_flips_with_probability_one_flip_both_axes():
    images = torch.rand(4, 2, 5, 6)
    views = Augmentation(flip_probability=1.0).views(images, torch.Generator())
    assert torch.equal(views, images.flip(-1).flip(-2))
    unchanged = Augmentation(multiplicity=3, max_shift=0).views(images, torch.Generator())
    assert torch.equal(unchanged[::3], images)


def test_shift_known_answer_with_reflected_borders():
    image = torch.arange(20.0).view(1, 1, 4, 5)
    # offsets (s + 1, s - 2): content moves up one row and right two columns
    moved = shift(image, torch.tensor([[3, 0]]), max_shift=2)
    assert moved.is_contiguous() and moved.stride() == (20, 20, 5, 1)
    assert torch.equal(moved[0, 0, :3, 2:], image[0, 0, 1:, :3])
    assert torch.equal(moved[0, 0, 3, 2:], image[0, 0, 2, :3])  # row 4 reflects to row 2
    assert torch.equal(moved[0, 0, :3, :2], image[0, 0, 1:, [2, 1]])  # columns -2, -1 -> 2, 1
    assert torch.equal(shift(image, torch.tensor([[2, 2]]), max_shift=2), image)


def test_random_shifts_stay_within_max_shift_and_cover_it():
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 4, 4] = 1.0  # one bright pixel in the middle
    views = Augmentation(multiplicity=400, max_shift=2).views(image, torch.Generator())
    rows, columns = torch.nonzero(views[:, 0] == 1.0)[:, 1:].T
    assert set((rows - 4).tolist()) == set((columns - 4).tolist()) == {-2, -1, 0, 1, 2}


def test_image_too_small_for_the_shift_is_refused():
    with pytest.raises(ValueError, match="max_shift: 4 px needs images larger than that, got 4x6"):
        Augmentation(max_shift=4).check_image_size(4, 6)


def test_average_views_reduces_per_sample_gradients_to_one_row_per_sample():
    parameter = nn.Parameter(torch.zeros(2))
    parameter.grad_sample = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    average_views([parameter], 2)
    assert parameter.grad_sample.tolist() == [[2.0, 3.0], [6.0, 7.0]]
    kept = parameter.grad_sample
    average_views([parameter], 1)
    assert parameter.grad_sample is kept
    parameter.grad_sample = torch.zeros(0, 2)  # an empty Poisson batch
    average_views([parameter], 4)
    assert parameter.grad_sample.shape == (0, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"augmentation_multiplicity": 0}, "augmentation_multiplicity: expected an integer in"),
        ({"augmentation_multiplicity": 2}, "2 identical views"),
        (
            {"augmentation_multiplicity": 2, "max_shift": 1, "grad_sample_mode": "ghost"},
            "'ghost' only computes their norms",
        ),
        ({"flip_probability": 1.5}, r"flip_probability: expected a number in \[0, 1\]"),
        ({"max_shift": -1}, "max_shift: expected an integer in"),
        ({"loss_reduction": "max"}, "loss_reduction: expected one of mean, sum"),
    ],
)
def test_bad_training_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


# ------------------------------------------------------------------ whole runs


def model_weights(folder: Path) -> dict:
    return torch.load(folder / "model.pt", weights_only=True)


def same_weights(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def file_bytes(folder: Path, name: str) -> bytes:
    return (folder / name).read_bytes()


def kill_after_first_checkpoint(monkeypatch) -> None:
    """Make the next run die right after writing its first epoch's checkpoint (undo to heal)."""
    original_save = CheckpointFile.save

    def save_then_die(checkpoint, state, elapsed_s):
        original_save(checkpoint, state, elapsed_s)
        raise KeyboardInterrupt

    monkeypatch.setattr(CheckpointFile, "save", save_then_die)


@pytest.mark.parametrize("config", [FAST, AUGMENTED], ids=["plain", "augmented"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(toy3, tmp_path, monkeypatch, config):
    plan = toy_plan(4.0, 48, 12, 3)
    whole = train_run(toy3, plan, config, 0, tmp_path / "whole")

    kill_after_first_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train_run(toy3, plan, config, 0, tmp_path / "killed")
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["step"] == 4
    assert not (tmp_path / "killed" / "metrics.json").exists()
    monkeypatch.undo()
    resumed = train_run(toy3, plan, config, 0, tmp_path / "killed")

    assert same_weights(model_weights(tmp_path / "whole"), model_weights(tmp_path / "killed"))
    assert file_bytes(tmp_path / "whole", "model.pt") == file_bytes(tmp_path / "killed", "model.pt")
    for key in ("test", "val", "loss_curve", "rdp_epsilon_upper_bound", "sampling"):
        assert resumed[key] == whole[key], key
    assert len(resumed["loss_curve"]) == plan.steps


def test_checkpoint_of_another_run_is_not_resumed(toy3, tmp_path):
    first_plan = toy_plan(4.0, 48, 12, 1, sigma=1.0)
    second_plan = toy_plan(2.0, 48, 12, 1, sigma=1.5)
    train_run(toy3, first_plan, FAST, 0, tmp_path / "shared")
    reused = train_run(toy3, second_plan, FAST, 0, tmp_path / "shared")
    fresh = train_run(toy3, second_plan, FAST, 0, tmp_path / "fresh")
    assert same_weights(model_weights(tmp_path / "shared"), model_weights(tmp_path / "fresh"))
    assert reused["loss_curve"] == fresh["loss_curve"]


def test_a_checkpoint_is_resumed_only_by_its_own_unfinished_run(
    toy3, tmp_path, monkeypatch, capsys
):
    """A finished run's checkpoint is never reused, and one from other code is discarded."""
    plan = toy_plan(4.0, 48, 12, 3)
    original_save = CheckpointFile.save
    saved = []

    def keep_a_copy(checkpoint, state, elapsed_s):
        original_save(checkpoint, state, elapsed_s)
        saved.append(copy.deepcopy(state))

    monkeypatch.setattr(CheckpointFile, "save", keep_a_copy)
    first = train_run(toy3, plan, FAST, 0, tmp_path / "run")
    monkeypatch.undo()
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert not checkpoint.exists()

    torch.save(saved[-1], checkpoint)  # the finished run's last checkpoint, left behind
    again = train_run(toy3, plan, FAST, 0, tmp_path / "run")
    assert "a finished run (12 of 12 steps); training again" in capsys.readouterr().err
    assert again["loss_curve"] == first["loss_curve"] and len(again["loss_curve"]) == 12

    stale = copy.deepcopy(saved[0])  # after epoch 1, but written by other code
    stale["identity"]["code"] = "0" * 64
    torch.save(stale, checkpoint)
    train_run(toy3, plan, FAST, 0, tmp_path / "run")
    assert "written by another run (other code)" in capsys.readouterr().err

    broken = copy.deepcopy(saved[0])  # its own, unfinished, but with a NaN weight
    next(iter(broken["model"].values())).view(-1)[0] = math.nan
    torch.save(broken, checkpoint)
    train_run(toy3, plan, FAST, 0, tmp_path / "run")
    assert "its weights or optimiser state are not finite" in capsys.readouterr().err

    torch.save(saved[0], checkpoint)  # this run's own, unfinished: resumed
    resumed = train_run(toy3, plan, FAST, 0, tmp_path / "run")
    assert "resumed at step 4 of 12" in capsys.readouterr().err
    assert resumed["loss_curve"] == first["loss_curve"]


ONE_EPOCH = toy_plan(4.0, 48, 12, 1)


@pytest.fixture(scope="module")
def one_epoch_run(toy3, tmp_path_factory) -> tuple[dict, bytes]:
    """The metrics and model.pt bytes of an uninterrupted ONE_EPOCH run."""
    out = tmp_path_factory.mktemp("one_epoch")
    return train_run(toy3, ONE_EPOCH, FAST, 0, out), (out / "model.pt").read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda archive: archive[: len(archive) // 2],  # truncated by a full disk or a kill
        lambda archive: b"\x00" * len(archive),  # zeroed blocks
        lambda archive: b"not a checkpoint\n",  # another file in its place
        lambda archive: b"",  # created, never written
    ],
    ids=["truncated", "zeroed", "text", "empty"],
)
def test_an_unreadable_checkpoint_is_discarded_with_its_reason(
    toy3, one_epoch_run, tmp_path, capsys, damage
):
    fresh, archive = one_epoch_run
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(damage(archive))
    again = train_run(toy3, ONE_EPOCH, FAST, 0, tmp_path / "run")
    err = capsys.readouterr().err
    size = len(damage(archive))
    assert (
        f"{checkpoint}: discarded, not a readable checkpoint ({size} bytes, truncated or corrupt, "
        "or not written by rero train); starting at step 0\n"
    ) in err
    assert "weights_only" not in err and "Traceback" not in err
    assert again["loss_curve"] == fresh["loss_curve"] and not checkpoint.exists()


def test_identical_runs_write_identical_bytes(toy3, tmp_path, monkeypatch):
    """model.pt and checkpoint.pt hold no temporary file name (nor a time): same run, same bytes;
    the training time is beside the checkpoint, under its SHA-256."""
    plan = toy_plan(4.0, 48, 12, 2)
    kill_after_first_checkpoint(monkeypatch)
    for name in ("a", "b"):
        with pytest.raises(KeyboardInterrupt):
            train_run(toy3, plan, FAST, 0, tmp_path / name)
    monkeypatch.undo()
    first = file_bytes(tmp_path / "a", "checkpoint.pt")
    assert first == file_bytes(tmp_path / "b", "checkpoint.pt")
    times = read_json(tmp_path / "a" / "checkpoint.time.json")["checkpoints"]
    assert [entry["sha256"] for entry in times] == [sha256(first)]
    for name in ("a", "b"):
        train_run(toy3, plan, FAST, 0, tmp_path / name)
    assert file_bytes(tmp_path / "a", "model.pt") == file_bytes(tmp_path / "b", "model.pt")
    assert not (tmp_path / "a" / "checkpoint.time.json").exists()


def test_a_run_whose_noise_overflows_stops_at_its_first_step_and_leaves_nothing(toy3, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"an earlier run's")  # not this run's result
    (tmp_path / "metrics.json").write_text("{}")
    config = dataclasses.replace(FAST, clip_norm=1e308)
    with pytest.raises(NonFiniteTrainingError) as refused:
        train_run(toy3, toy_plan(8.0, 48, 12, 2, sigma=0.8), config, 0, tmp_path)
    message = str(refused.value)
    assert message.startswith(
        "the noisy gradient is not finite (NaN or infinite) at epoch 1, step 1 of 8: "
    )
    assert "privacy.clip_norm C = 1e+308, σ = 0.8 (noise std σC = 8e+307, above float32" in message
    assert "training.learning_rate 0.01 (adam, loss_reduction mean)" in message
    assert "lower privacy.clip_norm" in message and "a rerun starts at step 0" in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_goes_non_finite_later_removes_its_checkpoint(toy3, tmp_path, monkeypatch):
    """A NaN weight in the second epoch: refused at that epoch's first step; the first epoch's
    checkpoint is removed with it, so a rerun is not resumed into the same failure."""
    original_epoch = TrainingRun.run_epoch

    def poison_second_epoch(run, steps, progress=None):
        if run.step > 0:
            with torch.no_grad():
                next(run.model.parameters()).view(-1)[0] = math.nan
        original_epoch(run, steps, progress)

    monkeypatch.setattr(TrainingRun, "run_epoch", poison_second_epoch)
    with pytest.raises(
        NonFiniteTrainingError, match=r"^the training loss .* at epoch 2, step 5 of"
    ):
        train_run(toy3, toy_plan(math.inf, 48, 12, 2), NON_PRIVATE, 0, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_split_lacking_a_class_is_refused_not_scored_nan(tmp_path):
    data = prepare_toy_dataset(tmp_path / "data", num_classes=3, n_eval=2)  # classes 0 and 1
    with pytest.raises(NonFiniteTrainingError, match=r"^val split: auroc is not finite \(it lacks"):
        train_run(data, toy_plan(math.inf, 48, 12, 1), NON_PRIVATE, 0, tmp_path / "run")
    assert not (tmp_path / "run" / "model.pt").exists()


def test_all_finite_and_nested_tensors_known_answers():
    state = {"a": torch.ones(2), "b": [torch.zeros(1), (torch.tensor([1.0, math.inf]),)], "c": 3}
    assert len(list(nested_tensors(state))) == 3
    assert not all_finite(nested_tensors(state))
    assert all_finite([torch.ones(3), None, torch.arange(4)])
    assert all_finite([])
    assert not all_finite([torch.tensor([math.nan])])


def test_settings_hint_names_what_to_change():
    private = settings_hint(toy_plan(8.0, 48, 12, 1, sigma=2.0), FAST)
    assert private == (
        "settings: privacy.clip_norm C = 1, σ = 2 (noise std σC = 2), training.learning_rate "
        "0.01 (adam, loss_reduction mean); lower privacy.clip_norm (typically 0.1 to 10) or the "
        "learning rate"
    )
    baseline = settings_hint(toy_plan(math.inf, 48, 12, 1), NON_PRIVATE)
    assert baseline == (
        "settings: non-private (no clipping, no noise), training.learning_rate 0.01 (adam, "
        "loss_reduction mean); lower the learning rate"
    )


def test_same_seed_same_result_other_seed_other_result(toy3, tmp_path):
    plan = toy_plan(4.0, 48, 12, 1)
    first = train_run(toy3, plan, FAST, 3, tmp_path / "a")
    second = train_run(toy3, plan, FAST, 3, tmp_path / "b")
    train_run(toy3, plan, FAST, 4, tmp_path / "c")
    assert same_weights(model_weights(tmp_path / "a"), model_weights(tmp_path / "b"))
    assert first["loss_curve"] == second["loss_curve"]
    assert not same_weights(model_weights(tmp_path / "a"), model_weights(tmp_path / "c"))


def test_private_run_writes_contract_outputs(toy3, tmp_path):
    plan = toy_plan(4.0, 48, 12, 2, sigma=0.8)
    metrics = train_run(toy3, plan, FAST, 0, tmp_path)
    assert {"model.pt", "metrics.json"} <= {p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / "checkpoint.pt").exists()  # it lives only while the run is unfinished
    on_disk = read_json(tmp_path / "metrics.json")
    for key in ("dataset", "seed", "target_epsilon", "test", "val", "loss_curve"):
        assert key in on_disk
    for key in ("rdp_epsilon_upper_bound", "plan", "config", "provenance", "wall_time_s"):
        assert key in on_disk
    assert set(on_disk["test"]) == {"accuracy", "balanced_accuracy", "auroc", "mcc"}
    interval = on_disk["test_bootstrap"]  # the main metric over resampled test examples
    assert interval["metric"] == "mcc" and interval["low"] <= interval["high"]
    assert on_disk["plan"] == plan.to_dict() and on_disk["target_epsilon"] == 4.0
    spent = metrics["rdp_epsilon_upper_bound"]
    assert spent["accountant"] == "rdp" and spent["steps"] == plan.steps == 8
    reference = RDPAccountant()
    reference.history = [(0.8, 0.25, 8)]
    assert spent["epsilon"] == pytest.approx(reference.get_epsilon(1e-5))
    assert metrics["sampling"]["scheme"] == "poisson"
    assert metrics["sampling"]["batch_size_min"] < metrics["sampling"]["batch_size_max"]
    assert on_disk["loss_curve"][-1] == {
        "step": 8,
        "epoch": 2.0,
        "loss": pytest.approx(metrics["loss_curve"][-1]["loss"]),
    }
    # the saved plain model (no Opacus prefixes) reproduces the reported test metrics
    model = load_trained_model(tmp_path)
    images, labels = load_split(toy3, "test")
    assert classification_metrics(labels, predict_probabilities(model, images)) == metrics["test"]


def test_non_private_run_learns_with_shuffled_batches(toy3, tmp_path):
    plan = toy_plan(math.inf, 48, 12, 3)
    metrics = train_run(toy3, plan, NON_PRIVATE, 0, tmp_path)
    assert metrics["rdp_epsilon_upper_bound"] == {
        "epsilon": math.inf,
        "delta": 1e-5,
        "accountant": "none",
        "steps": 12,
    }
    assert metrics["sampling"]["batch_size_min"] == metrics["sampling"]["batch_size_max"] == 12
    assert metrics["test"]["accuracy"] > 0.8  # the toy task is easy
    assert metrics["loss_curve"][-1]["loss"] < metrics["loss_curve"][0]["loss"]


def test_single_logit_run_reports_binary_metrics_from_one_logit(tmp_path):
    data = prepare_toy_dataset(tmp_path / "data", num_classes=2)
    config = dataclasses.replace(
        NON_PRIVATE, single_logit=True, loss_reduction="sum", learning_rate=1e-3
    )
    metrics = train_run(data, toy_plan(math.inf, 48, 12, 3), config, 0, tmp_path / "run")
    model = load_trained_model(tmp_path / "run")
    assert model.classifier.out_features == 1 and metrics["model_spec"]["single_logit"]
    images, labels = load_split(data, "test")
    probabilities = predict_probabilities(model, images)
    assert probabilities.shape == (len(labels), 2)
    assert np.allclose(probabilities.sum(1), 1.0)
    assert classification_metrics(labels, probabilities) == metrics["test"]
    assert metrics["test"]["accuracy"] > 0.8


def test_a_plan_for_another_training_set_is_refused_before_training(toy3, tmp_path):
    with pytest.raises(ValueError, match="dataset_size 50 differs from the training set"):
        train_run(toy3, toy_plan(1.0, 50, 10, 1), FAST, 0, tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ metrics


def test_binary_metrics_known_answer():
    labels = np.array([0, 0, 1, 1])
    positive = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = classification_metrics(labels, np.stack([1 - positive, positive], axis=1))
    # predictions 0,1,0,1: one of each error; positives outrank negatives in 3 of 4 pairs
    assert metrics == {"accuracy": 0.5, "balanced_accuracy": 0.5, "auroc": 0.75, "mcc": 0.0}


def test_three_class_metrics_known_answer():
    labels = np.array([0, 1, 2, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    metrics = classification_metrics(labels, probabilities)
    assert metrics["accuracy"] == 0.75
    assert metrics["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    # one-vs-rest AUCs: class 0 positives {0.8} vs negatives {0.1,0.1,0.6}: 1.0;
    # class 1 {0.8} vs {0.1,0.1,0.3}: 1.0; class 2 {0.8,0.1} vs {0.1,0.1}: (1+1+0.5+0.5)/4 = 0.75
    assert metrics["auroc"] == pytest.approx((1.0 + 1.0 + 0.75) / 3)
    confusion = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    t, p, c, s = confusion.sum(1), confusion.sum(0), np.trace(confusion), confusion.sum()
    mcc = (c * s - t @ p) / math.sqrt((s**2 - p @ p) * (s**2 - t @ t))
    assert metrics["mcc"] == pytest.approx(mcc)


def test_perfect_predictions_score_one():
    labels = np.array([0, 1, 2, 0, 1, 2])
    metrics = classification_metrics(labels, np.eye(3)[labels])
    assert metrics == {"accuracy": 1.0, "balanced_accuracy": 1.0, "auroc": 1.0, "mcc": 1.0}


# ------------------------------------------------------------------ command line


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.handler(args)


def test_cli_trains_one_epoch(tmp_path, capsys):
    data = prepare_toy_dataset(tmp_path / "data", n_train=36, n_eval=12)
    write_plan(tmp_path / "plan.json", toy_plan(8.0, 36, 12, 1))
    out = tmp_path / "run"
    argv = [
        "train",
        "--data-dir",
        str(data),
        "--plan",
        str(tmp_path / "plan.json"),
        "--seed",
        "0",
        "--out-dir",
        str(out),
        "--model",
        "small_cnn",
        "--clip-norm",
        "1.0",
        "--optimizer",
        "adam",
        "--learning-rate",
        "2e-3",
        "--physical-batch-size",
        "8",
        "--grad-sample-mode",
        "hooks",
        "--device",
        "auto",
        "--threads",
        "1",
        "--no-progress",
        "--loss-reduction",
        "sum",
        "--augmentation-multiplicity",
        "2",
        "--flip-probability",
        "0.2",
        "--max-shift",
        "2",
        "--no-single-logit",
    ]
    cli(argv)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("trained toy eps=8.0 seed=0: test accuracy")
    metrics = read_json(out / "metrics.json")
    assert metrics["rdp_epsilon_upper_bound"]["steps"] == 3 and metrics["seed"] == 0
    assert metrics["config"]["physical_batch_size"] == 8
    assert metrics["config"]["augmentation_multiplicity"] == 2
    assert metrics["config"]["flip_probability"] == 0.2 and metrics["config"]["max_shift"] == 2
    assert metrics["config"]["loss_reduction"] == "sum" and not metrics["config"]["single_logit"]
    assert (out / "model.pt").is_file() and not (out / "checkpoint.pt").exists()


def test_cli_reports_missing_files_and_bad_values(toy3, tmp_path):
    base = ["train", "--data-dir", str(toy3), "--seed", "0", "--out-dir", str(tmp_path)]
    base += ["--clip-norm", "1.0"]
    plan_file = str(tmp_path / "plan.json")
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        cli([*base, "--plan", str(tmp_path / "nope.json")])
    write_json(plan_file, toy_plan(1.0, 48, 12, 1).to_dict() | {"steps": 0})  # a broken file
    with pytest.raises(ValueError, match=r"--plan .*plan\.json: not a valid privacy plan .*steps"):
        cli([*base, "--plan", plan_file])
    write_plan(plan_file, toy_plan(1.0, 50, 10, 1))
    with pytest.raises(ValueError, match=r"--plan .*plan\.json: .*dataset_size 50 differs"):
        cli([*base, "--plan", plan_file])
    write_plan(plan_file, toy_plan(1.0, 48, 12, 1))
    with pytest.raises(ValueError, match="learning_rate"):
        cli([*base, "--plan", plan_file, "--learning-rate", "-1"])
    with pytest.raises(FileNotFoundError, match=r"meta\.json"):
        cli([*base[:1], "--data-dir", str(tmp_path / "none"), *base[3:], "--plan", plan_file])
    with pytest.raises(SystemExit):
        cli([*base, "--plan", plan_file, "--model", "vgg"])
    with pytest.raises(ValueError, match="augmentation_multiplicity: 2 identical views"):
        cli([*base, "--plan", plan_file, "--augmentation-multiplicity", "2"])
    with pytest.raises(ValueError, match="max_shift: 12 px needs images larger than that"):
        cli([*base, "--plan", plan_file, "--max-shift", "12"])
    with pytest.raises(ValueError, match="clip_norm: a private plan needs a clipping norm"):
        cli([*base[:-2], "--plan", plan_file])
    write_plan(plan_file, toy_plan(math.inf, 48, 12, 1))
    with pytest.raises(ValueError, match="clip_norm: the non-private plan clips nothing"):
        cli([*base, "--plan", plan_file])


# ------------------------------------------------------------------ CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resnet9_trains_on_cuda_with_views_and_a_single_logit(tmp_path):
    data = prepare_toy_dataset(tmp_path / "data", num_classes=2, size=16)
    config = dataclasses.replace(
        AUGMENTED, model="resnet9", device="cuda", single_logit=True, loss_reduction="sum"
    )
    metrics = train_run(data, toy_plan(4.0, 48, 12, 2), config, 0, tmp_path / "run")
    assert metrics["rdp_epsilon_upper_bound"]["steps"] == 8
    assert all(math.isfinite(point["loss"]) for point in metrics["loss_curve"])
    model = load_trained_model(tmp_path / "run").cuda()
    assert next(model.parameters()).is_cuda
    images, labels = load_split(data, "test")
    probabilities = predict_probabilities(model, images, device="cuda")
    assert classification_metrics(labels, probabilities) == metrics["test"]


def test_the_train_rule_passes_every_training_setting_of_the_schema():
    """Each TrainConfig field the config schema offers reaches ``python -m rero train`` (the rule
    and the input functions of common.smk that write its flags)."""
    schema = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
    rule = "".join(
        (REPO / "workflow" / "rules" / name).read_text() for name in ("train.smk", "common.smk")
    )
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    offered = fields & set(schema["properties"]["training"]["properties"])
    assert {"augmentation_multiplicity", "single_logit", "loss_reduction"} <= offered
    for key in offered:
        flag = key.replace("_", "-")
        assert f"--{flag}" in rule or f'("{flag}", "{key}")' in rule, key


def test_every_number_of_a_segmentation_score_is_checked_per_class():
    from rero.training.job import metric_values

    scores = {"dice": 0.5, "dice_per_class": {"background": 0.9, "csf": math.nan}}
    assert list(metric_values(scores)) == [
        ("dice", 0.5),
        ("dice_per_class.background", 0.9),
        ("dice_per_class.csf", scores["dice_per_class"]["csf"]),
    ]
