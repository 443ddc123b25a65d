"""Reconstruction attacks: SSIM/MSE matching, imprint attack, prior-aware attack, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from rero.attacks.dp_step import (
    clip_factors,
    dp_sgd_gradient,
    per_sample_gradients,
    per_sample_norms,
)
from rero.attacks.imprint import (
    ImprintedClassifier,
    bin_of,
    imprint_thresholds,
    mean_brightness,
    reconstruct_from_imprint,
    run_imprint_attack,
    summarise_imprint,
)
from rero.attacks.job import CalibrationPolicy, imprint_noise, run_attacks
from rero.attacks.matching import (
    best_matches,
    clopper_pearson,
    mse_matrix,
    normalise_for_matching,
    share_at_least,
    share_at_most,
    ssim_matrix,
)
from rero.attacks.prior_aware import (
    NumpySource,
    TorchSource,
    _dp_sgd_scores,
    pool_images,
    pooled_features,
    random_source,
    run_prior_aware_attack,
    softmax_residuals,
    summarise_prior_aware,
)
from rero.cli import main
from rero.data.store import unit_float
from rero.privacy.plan import PrivacyPlan, write_plan
from rero.runtime.device import resolve_device
from tests.helpers import toy_plan
from tests.helpers.attacks import (
    ATTACK_SETTINGS,
    imprint_on_fields,
    prepared_fields,
    realistic_images,
    skimage_ssim,
)

SSIM_THRESHOLD = 0.95  # the config schema's default


def rgb_images(count: int, seed: int, size: int) -> np.ndarray:
    """Three independent smooth fields per image: (count, 3, size, size) float32 in [0, 1]."""
    channels = [realistic_images(count, seed + channel, size) for channel in range(3)]
    return np.concatenate(channels, axis=1)


def uint8_memmap(path: Path, images: np.ndarray) -> np.memmap:
    """``images`` in [0, 1] rounded to uint8, written as a .npy and opened read-only mapped, as a
    prepared split is read."""
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=images.shape)
    stored[:] = np.round(images * 255)
    stored.flush()
    del stored
    return np.load(path, mmap_mode="r")


class GatherOnly:
    """A split that can only be gathered from, a slice or an index array at a time: converting it
    whole fails, and the largest gather is recorded."""

    def __init__(self, array: np.ndarray):
        self.array, self.largest = array, 0
        self.shape, self.ndim, self.dtype = array.shape, array.ndim, array.dtype

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        part = self.array[key]
        assert part.ndim == self.ndim, f"gathers whole images only, got key {key!r}"
        self.largest = max(self.largest, len(part))
        return part

    def __array__(self, *args, **kwargs) -> np.ndarray:
        raise AssertionError("the whole split was converted")


def closed_form_ceiling(sigma: float, sample_rate: float, steps: int, kappa: float) -> float:
    """min(1 - (1-k)(1-p)^T, Phi(Phi^-1(k) + sqrt(T)/sigma)): a valid ReRo upper bound."""
    ceiling = 1 - (1 - kappa) * (1 - sample_rate) ** steps
    if sigma > 0:
        ceiling = min(ceiling, stats.norm.cdf(stats.norm.ppf(kappa) + math.sqrt(steps) / sigma))
    return ceiling


# ------------------------------------------------------------------------------------ matching


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 20, 24)])
def test_ssim_matrix_equals_skimage_on_random_pairs(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    originals = rng.random((4, *shape))
    reconstructions = np.concatenate([rng.random((4, *shape)), originals[:1] * 0.5 + 0.2])
    reference = np.array([[skimage_ssim(x, y) for y in reconstructions] for x in originals])
    np.testing.assert_allclose(
        ssim_matrix(originals, reconstructions).numpy(), reference, atol=1e-6
    )


def test_ssim_of_volumes_is_the_mean_ssim_of_their_axial_slices() -> None:
    rng = np.random.default_rng(4)
    originals = rng.random((3, 1, 5, 16, 12))
    reconstructions = np.concatenate([rng.random((2, 1, 5, 16, 12)), originals[:1] * 0.7 + 0.1])
    reference = np.array(
        [
            [
                np.mean([skimage_ssim(x[:, d], y[:, d]) for d in range(x.shape[1])])
                for y in reconstructions
            ]
            for x in originals
        ]
    )
    np.testing.assert_allclose(
        ssim_matrix(originals, reconstructions).numpy(), reference, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"both be \(n, C, H, W\) or \(n, C, D, H, W\)"):
        ssim_matrix(originals, reconstructions[:, :, 0])


def test_ssim_of_an_image_with_itself_is_one_and_small_images_are_refused() -> None:
    images = realistic_images(3, seed=2)
    np.testing.assert_allclose(np.diag(ssim_matrix(images, images).numpy()), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_matrix(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 8, 8)))


def test_mse_matrix_matches_a_loop() -> None:
    rng = np.random.default_rng(3)
    originals, reconstructions = rng.random((5, 2, 12, 12)), rng.random((7, 2, 12, 12))
    expected = [[np.mean((x - y) ** 2) for y in reconstructions] for x in originals]
    np.testing.assert_allclose(mse_matrix(originals, reconstructions).numpy(), expected, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("budget", [1, 40_000, 300_000])
def test_matching_in_blocks_equals_matching_at_once(budget: int) -> None:
    """Blocks of pairs (one pair, a few reconstructions, several originals per block) give
    exactly the values of one block of all pairs."""
    rng = np.random.default_rng(15)
    originals, reconstructions = rng.random((5, 3, 20, 24)), rng.random((9, 3, 20, 24))
    for matrix in (ssim_matrix, mse_matrix):
        at_once = matrix(originals, reconstructions, max_chunk_bytes=2**40).numpy()
        blocks = matrix(originals, reconstructions, max_chunk_bytes=budget).numpy()
        np.testing.assert_array_equal(blocks, at_once)


def test_best_matches_finds_the_planted_copies() -> None:
    originals = normalise_for_matching(realistic_images(6, seed=4)).numpy()
    rng = np.random.default_rng(5)
    decoys = rng.random((10, 1, 28, 28))
    reconstructions = np.concatenate([decoys, originals[::-1]])
    matches = best_matches(originals, reconstructions)
    np.testing.assert_array_equal(matches.ssim_index, 10 + np.arange(6)[::-1])
    np.testing.assert_array_equal(matches.mse_index, 10 + np.arange(6)[::-1])
    np.testing.assert_allclose(matches.ssim, 1.0)
    np.testing.assert_allclose(matches.mse, 0.0, atol=1e-30)


def test_normalise_for_matching_clips_then_stretches_each_image() -> None:
    images = np.stack([np.linspace(-1, 2, 144).reshape(1, 12, 12), np.full((1, 12, 12), 0.3)])
    normalised = normalise_for_matching(images)
    assert normalised[0].min() == 0 and normalised[0].max() == 1
    np.testing.assert_array_equal(normalised[1], 0.0)
    np.testing.assert_array_equal(normalise_for_matching(normalised).numpy(), normalised.numpy())


def test_success_curves_and_clopper_pearson() -> None:
    values = np.array([0.1, 0.5, 0.5, 0.9])
    np.testing.assert_allclose(
        share_at_least(values, np.array([0.0, 0.5, 0.6, 1.0])), [1, 0.75, 0.25, 0]
    )
    np.testing.assert_allclose(
        share_at_most(values, np.array([0.0, 0.5, 0.6, 1.0])), [0, 0.75, 0.75, 1]
    )
    low, high = clopper_pearson(0, 10)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)
    low, high = clopper_pearson(10, 10)
    assert high == 1 and low == pytest.approx(0.025 ** (1 / 10), rel=1e-9)


# --------------------------------------------------------------------------- DP-SGD gradient


@pytest.mark.slow
def test_dp_sgd_gradient_clips_each_sample_over_all_parameters_and_adds_noise() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5), torch.nn.Linear(5, 3))
    inputs, labels = torch.randn(6, 1, 4, 4) * 10, torch.tensor([0, 1, 2, 0, 1, 2])
    raw = per_sample_gradients(model, inputs, labels)
    loss = torch.nn.functional.cross_entropy(model(inputs[:1]), labels[:1])
    manual = torch.autograd.grad(loss, list(model.parameters()))
    for value, expected in zip(raw.values(), manual, strict=True):
        torch.testing.assert_close(value[0], expected)
    norms = per_sample_norms(raw)
    factors = clip_factors(raw, 0.5)
    torch.testing.assert_close(norms * factors, torch.clamp(norms, max=0.5))
    assert clip_factors(raw, None) is None
    generator = torch.Generator().manual_seed(1)
    noisy = dp_sgd_gradient(model, inputs, labels, sigma=1e3, clip_norm=0.5, generator=generator)
    stacked = torch.cat([value.flatten() for value in noisy.values()])
    assert stacked.std().item() == pytest.approx(500, rel=0.25)
    with pytest.raises(ValueError, match="clip_norm"):
        dp_sgd_gradient(model, inputs, labels, sigma=1.0, clip_norm=None, generator=generator)


# ------------------------------------------------------------------------------------ imprint


def test_imprint_readout_recovers_each_bin_from_cumulative_rows() -> None:
    rng = np.random.default_rng(6)
    samples = rng.random((3, 10))
    scales = np.array([0.5, -2.0, 3.0])
    bins = np.array([0, 2, 3])  # active rows: 0 for sample 0, 0..2 for sample 1, 0..3 for sample 2
    active = np.arange(4)[:, None] <= bins[None]
    weight = active.astype(float) @ (scales[:, None] * samples)
    bias = active.astype(float) @ scales
    reconstructions, nonempty = reconstruct_from_imprint(
        torch.from_numpy(weight), torch.from_numpy(bias)
    )
    np.testing.assert_array_equal(nonempty.numpy(), bins)
    np.testing.assert_allclose(reconstructions.numpy(), samples, rtol=1e-12)


def test_imprint_thresholds_split_the_reference_into_equal_bins() -> None:
    reference = realistic_images(4000, seed=7)
    thresholds = imprint_thresholds(reference, 8)
    assert thresholds[0] < 0 and np.all(np.diff(thresholds) > 0)
    counts = np.bincount(bin_of(reference, thresholds), minlength=8)
    np.testing.assert_allclose(counts / len(reference), 1 / 8, atol=2e-3)
    model = ImprintedClassifier(thresholds, (1, 28, 28), num_classes=2)
    pixels = torch.from_numpy(reference[:5]).flatten(1)
    torch.testing.assert_close(
        model.imprint(pixels) / 1e-3,
        torch.from_numpy(mean_brightness(reference[:5])[:, None] - thresholds).float(),
        atol=1e-4,
        rtol=1e-4,
    )


@pytest.mark.parametrize("clip_norm", [None, 1e-3])
def test_imprint_without_noise_reconstructs_every_image_alone_in_its_bin(
    clip_norm: float | None,
) -> None:
    result = imprint_on_fields(sigma=0.0, clip_norm=clip_norm)
    assert result.alone_in_bin.sum() >= 20
    assert np.all(result.ssim[result.alone_in_bin] > 0.99)
    assert np.all(result.mse[result.alone_in_bin] < 1e-6)
    summary = summarise_imprint(result, SSIM_THRESHOLD)
    assert summary["success_rate"] >= summary["share_alone_in_bin"]


@pytest.mark.slow
def test_imprint_with_huge_noise_fails_and_attacks_the_same_batches() -> None:
    private = imprint_on_fields(sigma=1e3, clip_norm=1.0)
    summary = summarise_imprint(private, SSIM_THRESHOLD)
    assert summary["success_rate"] == 0 and summary["ci_low"] == 0
    assert summary["mean_ssim"] < 0.3
    assert summary["curve"]["share"][0] == 1 and summary["curve"]["share"][-1] == 0
    np.testing.assert_array_equal(private.originals, imprint_on_fields(0.0, None).originals)


def test_imprint_refuses_more_images_than_the_split_has() -> None:
    with pytest.raises(ValueError, match="num_batches"):
        run_imprint_attack(
            realistic_images(10, seed=0),
            np.zeros(10, dtype=np.int64),
            realistic_images(100, seed=1),
            num_classes=2,
            batch_size=8,
            num_batches=2,
            num_bins=8,
            sigma=0.0,
            clip_norm=None,
            seed=0,
        )


@pytest.mark.slow
def test_imprint_noise_is_seeded_and_the_same_on_every_run() -> None:
    first, second = (imprint_on_fields(sigma=1.0, clip_norm=1.0) for _ in range(2))
    np.testing.assert_array_equal(first.reconstructions, second.reconstructions)
    np.testing.assert_array_equal(first.ssim, second.ssim)
    assert not np.array_equal(first.ssim, imprint_on_fields(sigma=1.0, clip_norm=1.0, seed=1).ssim)


def test_imprint_on_a_uint8_memmap_equals_the_converted_arrays(tmp_path: Path) -> None:
    images = uint8_memmap(tmp_path / "train_images.npy", realistic_images(160, seed=8))
    reference = uint8_memmap(tmp_path / "val_images.npy", realistic_images(800, seed=10))
    assert isinstance(images, np.memmap) and images.dtype == np.uint8
    mapped = imprint_on_fields(sigma=0.5, clip_norm=1.0, images=images, reference=reference)
    in_memory = imprint_on_fields(
        sigma=0.5,
        clip_norm=1.0,
        images=unit_float(np.asarray(images)),
        reference=unit_float(np.asarray(reference)),
    )
    for field in ("originals", "reconstructions", "ssim", "mse", "alone_in_bin"):
        np.testing.assert_array_equal(getattr(mapped, field), getattr(in_memory, field))


def test_imprint_gathers_only_the_batches_and_reference_chunks() -> None:
    images, reference = (
        GatherOnly(realistic_images(160, seed=8)),
        GatherOnly(realistic_images(800, seed=10)),
    )
    # 28 x 28 images, 16 bytes a pixel (gathered, float32, float64 copies): 100 images a chunk
    result = imprint_on_fields(
        0.0, None, images=images, reference=reference, max_chunk_bytes=1_254_400
    )
    assert images.largest == 16 and reference.largest == 100
    # (one sample's gradients at a time too: the sums differ from one batch-wide sum by rounding)
    np.testing.assert_allclose(result.ssim, imprint_on_fields(0.0, None).ssim, atol=1e-5)


@pytest.mark.slow
def test_imprint_reconstructs_rgb_images_at_224_pixels() -> None:
    images = rgb_images(8, seed=30, size=224)
    result = run_imprint_attack(
        images,
        np.arange(8) % 2,
        rgb_images(64, seed=40, size=224),
        num_classes=2,
        batch_size=4,
        num_batches=2,
        num_bins=8,
        sigma=0.0,
        clip_norm=1.0,
        seed=0,
        max_chunk_bytes=2**24,  # one sample's gradients (29 MB) per chunk, matching in blocks
    )
    assert result.originals.shape == result.reconstructions.shape == (8, 3, 224, 224)
    assert result.alone_in_bin.sum() >= 4
    assert np.all(result.ssim[result.alone_in_bin] > 0.99)


def test_dp_sgd_gradient_in_sample_chunks_and_for_released_parameters() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5), torch.nn.Linear(5, 3))
    inputs, labels = torch.randn(6, 1, 4, 4) * 10, torch.tensor([0, 1, 2, 0, 1, 2])

    def release(**options) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(1)
        return dp_sgd_gradient(
            model, inputs, labels, sigma=0.5, clip_norm=0.5, generator=generator, **options
        )

    whole = release()
    for name, value in release(max_chunk_bytes=1).items():  # one sample at a time
        torch.testing.assert_close(value, whole[name], rtol=1e-6, atol=1e-7)
    # the first layer is read: clipped over all parameters, with the same noise as in ``whole``
    first = release(released=("1.weight", "1.bias"))
    assert list(first) == ["1.weight", "1.bias"]
    for name, value in first.items():
        torch.testing.assert_close(value, whole[name], rtol=0, atol=0)
    with pytest.raises(ValueError, match="released parameters"):
        release(released=("2.kernel",))


def test_devices_resolve_and_cuda_without_a_gpu_stops_a_job_before_it_loads_anything(
    tmp_path,
) -> None:
    from rero.training.config import TrainConfig
    from rero.training.job import train_run
    from tests.helpers import toy_plan

    plan = toy_plan(8.0, 100, 10, 1)

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device: expected one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        missing = tmp_path / "no-data-here"  # the device is checked first, not the data
        with pytest.raises(ValueError, match="no CUDA device"):
            train_run(missing, plan, TrainConfig(device="cuda"), 0, tmp_path / "out")
        with pytest.raises(ValueError, match="no CUDA device"):
            run_attacks(
                missing,
                plan,
                tmp_path / "out",
                attacks=["imprint"],
                imprint=None,
                prior_aware=None,
                seed=0,
                policy=None,
                device="cuda",
            )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_imprint_on_cuda_succeeds_as_on_the_cpu_and_is_seeded() -> None:
    for clip_norm in (None, 1e-3):
        cpu = imprint_on_fields(sigma=0.0, clip_norm=clip_norm)
        cuda = imprint_on_fields(sigma=0.0, clip_norm=clip_norm, device="cuda")
        np.testing.assert_array_equal(cuda.alone_in_bin, cpu.alone_in_bin)
        np.testing.assert_allclose(cuda.ssim, cpu.ssim, atol=1e-5)
        assert (
            summarise_imprint(cuda, SSIM_THRESHOLD)["success_rate"]
            == (summarise_imprint(cpu, SSIM_THRESHOLD)["success_rate"])
        )
    noisy = [imprint_on_fields(sigma=1.0, clip_norm=1.0, device="cuda") for _ in range(2)]
    np.testing.assert_array_equal(noisy[0].reconstructions, noisy[1].reconstructions)


# -------------------------------------------------------------------------------- prior-aware

SMOOTH_IMAGES = realistic_images(200, seed=11, size=12)
NOISE_IMAGES = np.random.default_rng(14).random((400, 1, 16, 16), dtype=np.float32)


def _prior_aware(
    sigma: float,
    sample_rate: float = 1.0,
    trials: int = 1000,
    steps: int = 10,
    images: np.ndarray = SMOOTH_IMAGES,
):
    return run_prior_aware_attack(
        images,
        np.random.default_rng(12).integers(0, 3, len(images)),
        num_classes=3,
        prior_size=8,
        known_size=16,
        trials=trials,
        steps=steps,
        sample_rate=sample_rate,
        sigma=sigma,
        clip_norm=0.1,
        learning_rate=0.1,
        seed=13,
    )


def test_softmax_residuals_give_the_autograd_per_sample_gradients() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(7, 4, dtype=torch.float64)
    inputs, labels = torch.randn(5, 7, dtype=torch.float64), torch.tensor([0, 3, 1, 1, 2])
    expected = per_sample_gradients(model, inputs, labels)
    residuals = softmax_residuals(
        model.weight.detach()[None], model.bias.detach()[None], inputs[None], labels[None]
    )[0]
    torch.testing.assert_close(expected["weight"], residuals[:, :, None] * inputs[:, None])
    torch.testing.assert_close(expected["bias"], residuals)


def test_pool_images_averages_blocks_and_keeps_small_images() -> None:
    images = np.arange(2 * 3 * 64 * 64, dtype=np.float64).reshape(2, 3, 64, 64)
    pooled = pool_images(images, max_side=32)
    np.testing.assert_allclose(pooled, images.reshape(2, 3, 32, 2, 32, 2).mean(axis=(3, 5)))
    np.testing.assert_array_equal(pool_images(images[:, :, :20, :20]), images[:, :, :20, :20])


def test_attacks_refuse_labels_outside_the_classes() -> None:
    images = realistic_images(40, seed=0, size=12)
    with pytest.raises(ValueError, match=r"labels must be integers in 0\.\.1"):
        run_prior_aware_attack(
            images,
            np.full(40, 2),
            num_classes=2,
            prior_size=4,
            known_size=4,
            trials=2,
            steps=1,
            sample_rate=1.0,
            sigma=1.0,
            clip_norm=1.0,
            learning_rate=0.1,
            seed=0,
        )


def test_prior_aware_without_noise_always_finds_the_target() -> None:
    result = _prior_aware(sigma=0.0, trials=30)
    assert result.success_rate == 1.0


def test_prior_aware_with_huge_noise_is_at_chance() -> None:
    result = _prior_aware(sigma=1e4, steps=5)
    summary = summarise_prior_aware(result, closed_form_ceiling(1e4, 1.0, 5, 1 / 8))
    assert summary["ci_low"] <= 1 / 8 <= summary["ci_high"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sigma", "sample_rate"), [(0.5, 1.0), (1.5, 1.0), (3.0, 1.0), (6.0, 1.0), (1.0, 0.3)]
)
def test_audit_prior_aware_success_never_exceeds_the_rero_bound(
    sigma: float, sample_rate: float
) -> None:
    steps = 10
    result = _prior_aware(sigma=sigma, sample_rate=sample_rate, steps=steps)
    bound = closed_form_ceiling(sigma, sample_rate, steps, result.kappa)
    summary = summarise_prior_aware(result, bound)
    assert summary["ci_low"] <= bound, summary
    assert summary["bound_respected"]
    assert summary["success_rate"] > 1 / 8  # the attack does learn something at these sigmas


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0, 6.0])
def test_prior_aware_matches_the_orthogonal_signal_closed_form(sigma: float) -> None:
    """Centred i.i.d. noise images give nearly orthogonal clipped gradients of norm C. With p = 1
    the score of candidate j is then N(mu [j = target], 1) after scaling, mu = sqrt(T)/sigma, so
    success = integral phi(x - mu) Phi(x)^(M-1) dx, which lies below the ReRo bound."""
    steps, prior_size = 10, 8
    result = _prior_aware(sigma=sigma, trials=2000, images=NOISE_IMAGES, steps=steps)
    mu = math.sqrt(steps) / sigma
    expected, _ = integrate.quad(
        lambda x: stats.norm.pdf(x - mu) * stats.norm.cdf(x) ** (prior_size - 1), -np.inf, np.inf
    )
    summary = summarise_prior_aware(result, closed_form_ceiling(sigma, 1.0, steps, 1 / prior_size))
    assert summary["ci_low"] <= expected <= summary["ci_high"], (expected, summary)
    assert expected <= summary["bound"]


def test_prior_aware_draws_from_numpy_on_the_cpu_and_from_torch_elsewhere() -> None:
    source = random_source(np.random.default_rng(3), torch.device("cpu"))
    assert isinstance(source, NumpySource)
    np.testing.assert_array_equal(
        source.normal((2, 3)).numpy(), np.random.default_rng(3).standard_normal((2, 3))
    )
    # the torch-generator path of other devices, exercised on the CPU: seeded and reproducible
    draws = [TorchSource(torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(draws[0].normal((4,)), draws[1].normal((4,)))
    assert draws[0].uniform((3,)).dtype == torch.float64
    inputs = torch.randn(6, 24, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    targets = torch.arange(6) % 8
    scores = _dp_sgd_scores(
        inputs,
        torch.arange(6 * 24).reshape(6, 24) % 3,
        targets,
        draws[0],
        num_classes=3,
        prior_size=8,
        steps=5,
        sample_rate=1.0,
        sigma=0.0,
        clip_norm=0.1,
        learning_rate=0.1,
    )
    assert scores.shape == (6, 8) and torch.equal(scores.argmax(dim=1), targets)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prior_aware_on_cuda_is_seeded_and_finds_the_target_without_noise() -> None:
    def attack(sigma: float):
        return run_prior_aware_attack(
            SMOOTH_IMAGES,
            np.random.default_rng(12).integers(0, 3, len(SMOOTH_IMAGES)),
            num_classes=3,
            prior_size=8,
            known_size=16,
            trials=200,
            steps=10,
            sample_rate=1.0,
            sigma=sigma,
            clip_norm=0.1,
            learning_rate=0.1,
            seed=13,
            device="cuda",
        )

    assert attack(0.0).success_rate == 1.0 == _prior_aware(sigma=0.0, trials=200).success_rate
    np.testing.assert_array_equal(attack(1.0).guesses, attack(1.0).guesses)


def test_prior_aware_on_a_uint8_memmap_equals_the_converted_arrays(tmp_path: Path) -> None:
    mapped = uint8_memmap(tmp_path / "train_images.npy", SMOOTH_IMAGES)
    converted = unit_float(np.asarray(mapped))
    first = _prior_aware(sigma=1.0, trials=50, images=mapped)
    second = _prior_aware(sigma=1.0, trials=50, images=converted)
    np.testing.assert_array_equal(first.guesses, second.guesses)
    np.testing.assert_array_equal(first.targets, second.targets)


def test_prior_aware_pools_rgb_images_in_chunks() -> None:
    images = GatherOnly(rgb_images(60, seed=50, size=64))
    indices = np.arange(0, 60, 2)
    pooled = pooled_features(images, indices, max_chunk_bytes=16 * 3 * 64 * 64 * 7)
    assert images.largest == 7 and pooled.shape == (30, 3, 32, 32)
    np.testing.assert_array_equal(pooled, pool_images(images.array[indices]))
    result = run_prior_aware_attack(
        images,
        np.arange(60) % 3,
        num_classes=3,
        prior_size=4,
        known_size=8,
        trials=20,
        steps=3,
        sample_rate=1.0,
        sigma=0.0,
        clip_norm=0.1,
        learning_rate=0.1,
        seed=0,
    )
    assert result.success_rate == 1.0


# ---------------------------------------------------------------------------------------- CLI


#: the study's calibration policy, as the workflow passes it to a private plan's attack job
POLICY = {"accountant": "auto", "rel_tol": "0.01"}


def _run_cli(data_dir: Path, plan: Path, out_dir: Path, **changes: str) -> int:
    settings = ATTACK_SETTINGS | {
        f"--{key.replace('_', '-')}": value for key, value in changes.items()
    }
    flags = ["--data-dir", str(data_dir), "--plan", str(plan), "--out-dir", str(out_dir)]
    return main(["attack", *flags, *(item for pair in settings.items() for item in pair)])


@pytest.mark.parametrize(("target", "sigma"), [(math.inf, 0.0), (8.0, 0.9)])
def test_cli_writes_the_attack_outputs_of_the_contract(
    tmp_path: Path, target: float, sigma: float
) -> None:
    data_dir, plan, out_dir = prepared_fields(tmp_path), tmp_path / "plan.json", tmp_path / "out"
    write_plan(plan, toy_plan(target, n=120, batch=30, epochs=10, sigma=sigma, delta=1e-3))
    # what the workflow passes a private plan: the training's C, the study's accountant and
    # tolerance (privacy.*), which calibrate the prior-aware run's own σ
    private = {"clip_norm": "0.5", "accountant": "rdp", "rel_tol": "0.2"} if sigma > 0 else {}
    assert _run_cli(data_dir, plan, out_dir, device="cpu", **private) == 0
    imprint = json.loads((out_dir / "imprint.json").read_text())
    assert imprint["device"] == "cpu"
    for key in ("success_rate", "ci_low", "ci_high", "ssim_threshold", "num_images", "num_batches",
                "batch_size", "num_bins", "sigma", "clip_norm", "noise_calibration", "mean_ssim",
                "median_mse", "curve", "dataset", "target_epsilon", "plan"):  # fmt: skip
        assert key in imprint, key
    assert imprint["num_images"] == 16 and imprint["sigma"] == sigma
    assert imprint["clip_norm"] == (0.5 if sigma > 0 else None)  # the training's C
    recon = np.load(out_dir / "recon.npz")
    assert recon["originals"].shape == recon["reconstructions"].shape == (16, 1, 16, 16)
    assert recon["ssim"].shape == recon["mse"].shape == recon["batch_index"].shape == (16,)
    assert str(recon["dataset"]) == "tiny" and float(recon["target_epsilon"]) == target
    prior = json.loads((out_dir / "prior_aware.json").read_text())
    assert prior["kappa"] == 1 / 8 and prior["trials"] == 10 and prior["steps"] == 3
    assert prior["kappa"] <= prior["bound"] <= 1
    attack_plan = PrivacyPlan.from_dict(prior["attack_plan"])
    assert (attack_plan.steps, attack_plan.sample_rate) == (3, 1.0)
    if sigma == 0:
        assert imprint["success_rate"] >= imprint["share_alone_in_bin"]
        assert prior["sigma"] == 0 and prior["success_rate"] == 1
        assert not attack_plan.private
    else:
        assert prior["sigma"] == attack_plan.sigma > 0
        assert prior["clip_norm"] == 0.1  # the attack's own C, not the training's
        assert attack_plan.accountant == "rdp"
        assert 0.8 * target <= attack_plan.epsilon <= target


def test_one_step_noise_follows_the_studys_accountant_and_tolerance() -> None:
    plan = toy_plan(8.0, n=120, batch=30, epochs=10, sigma=0.9, delta=1e-3)
    pld = imprint_noise(plan, "one_step", CalibrationPolicy("pld", 0.01))
    assert imprint_noise(plan, "one_step", CalibrationPolicy("rdp", 0.01)) > pld  # RDP: looser
    assert imprint_noise(plan, "one_step", CalibrationPolicy("pld", 0.3)) != pld
    with pytest.raises(ValueError, match=r"needs the study's accountant and ε tolerance"):
        imprint_noise(plan, "one_step", None)


def test_one_step_noise_calibration_spends_the_target_in_one_step() -> None:
    plan = toy_plan(8.0, n=120, batch=30, epochs=10, sigma=0.9, delta=1e-3)
    policy = CalibrationPolicy("auto", 0.01)
    assert imprint_noise(plan, "one_step", policy) < plan.sigma
    assert imprint_noise(plan, "full", policy) == imprint_noise(plan, "full", None) == 0.9


def test_cli_rejects_a_file_that_is_not_a_plan(tmp_path: Path) -> None:
    data_dir, plan = prepared_fields(tmp_path), tmp_path / "plan.json"
    plan.write_text(json.dumps({"sigma": 1.0}))
    assert _run_cli(data_dir, plan, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_plan_for_another_dataset(tmp_path: Path, capsys) -> None:
    data_dir, plan = prepared_fields(tmp_path), tmp_path / "plan.json"
    write_plan(plan, toy_plan(8.0, n=240, batch=30, epochs=10, delta=1e-3))
    assert _run_cli(data_dir, plan, tmp_path / "out", clip_norm="1.0", **POLICY) == 2
    assert "dataset_size 240 differs from the training set (120" in capsys.readouterr().err


def test_cli_needs_the_training_clip_norm_exactly_for_a_private_plan(tmp_path: Path, capsys):
    data_dir, plan = prepared_fields(tmp_path), tmp_path / "plan.json"
    write_plan(plan, toy_plan(8.0, n=120, batch=30, epochs=10, delta=1e-3))
    assert _run_cli(data_dir, plan, tmp_path / "out") == 2
    assert (
        "imprint clip norm None: a private plan needs the training's C" in capsys.readouterr().err
    )
    write_plan(plan, toy_plan(math.inf, n=120, batch=30, epochs=10, delta=1e-3))
    assert _run_cli(data_dir, plan, tmp_path / "out", clip_norm="1.0") == 2
    assert "imprint clip norm 1.0: a private plan" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_needs_the_studys_accountant_and_tolerance_for_a_private_plan(tmp_path, capsys):
    data_dir, plan = prepared_fields(tmp_path), tmp_path / "plan.json"
    write_plan(plan, toy_plan(8.0, n=120, batch=30, epochs=10, delta=1e-3))
    assert _run_cli(data_dir, plan, tmp_path / "out", clip_norm="1.0") == 2
    assert "needs the study's accountant and ε tolerance" in capsys.readouterr().err
    assert _run_cli(data_dir, plan, tmp_path / "out", clip_norm="1.0", accountant="pld") == 2
    assert "--accountant and --rel-tol come together" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
