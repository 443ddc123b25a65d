"""Reconstruction attacks: SSIM/MSE matching, imprint attack, prior-aware attack, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, ndimage, stats
from skimage.metrics import structural_similarity

from rero.attacks.dp_step import (
    clip_per_sample,
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
from rero.attacks.job import imprint_noise
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
    pool_images,
    run_prior_aware_attack,
    softmax_residuals,
    summarise_prior_aware,
)
from rero.cli import main
from rero.privacy.plan import PrivacyPlan, write_plan
from tests.conftest import prepare_toy_dataset, toy_plan

SSIM_THRESHOLD = 0.95  # the config schema's default


def realistic_images(count: int, seed: int, size: int = 28) -> np.ndarray:
    """Smooth random fields, varied brightness and contrast: (count, 1, size, size) in [0, 1]."""
    rng = np.random.default_rng(seed)
    fields = ndimage.gaussian_filter(rng.standard_normal((count, size, size)), sigma=(0, 2, 2))
    low = fields.min(axis=(1, 2), keepdims=True)
    fields = (fields - low) / (fields.max(axis=(1, 2), keepdims=True) - low)
    contrast = rng.uniform(0.3, 0.7, (count, 1, 1))
    offset = rng.uniform(0.0, 1.0 - contrast)
    return (offset + contrast * fields)[:, None].astype(np.float32)


def skimage_ssim(x: np.ndarray, y: np.ndarray) -> float:
    return structural_similarity(
        x,
        y,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=0,
    )


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
    np.testing.assert_allclose(ssim_matrix(originals, reconstructions), reference, atol=1e-6)
    chunked = ssim_matrix(originals, reconstructions, max_chunk_bytes=1)
    np.testing.assert_allclose(chunked, reference, atol=1e-6)


def test_ssim_of_an_image_with_itself_is_one_and_small_images_are_refused() -> None:
    images = realistic_images(3, seed=2)
    np.testing.assert_allclose(np.diag(ssim_matrix(images, images)), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_matrix(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 8, 8)))


def test_mse_matrix_matches_a_loop() -> None:
    rng = np.random.default_rng(3)
    originals, reconstructions = rng.random((5, 2, 12, 12)), rng.random((7, 2, 12, 12))
    expected = [[np.mean((x - y) ** 2) for y in reconstructions] for x in originals]
    np.testing.assert_allclose(mse_matrix(originals, reconstructions), expected, rtol=1e-12)
    chunked = mse_matrix(originals, reconstructions, max_chunk_bytes=1)
    np.testing.assert_allclose(chunked, expected, rtol=1e-12)


def test_best_matches_finds_the_planted_copies() -> None:
    originals = normalise_for_matching(realistic_images(6, seed=4))
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
    np.testing.assert_array_equal(normalise_for_matching(normalised), normalised)


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
    clipped_norms = per_sample_norms(clip_per_sample(raw, 0.5))
    torch.testing.assert_close(clipped_norms, torch.clamp(norms, max=0.5))
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
    reconstructions, nonempty = reconstruct_from_imprint(weight, bias)
    np.testing.assert_array_equal(nonempty, bins)
    np.testing.assert_allclose(reconstructions, samples, rtol=1e-12)


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


def _imprint(sigma: float, clip_norm: float | None, seed: int = 0):
    images = realistic_images(160, seed=8)
    labels = np.random.default_rng(9).integers(0, 3, len(images))
    return run_imprint_attack(
        images,
        labels,
        realistic_images(800, seed=10),
        num_classes=3,
        batch_size=16,
        num_batches=3,
        num_bins=32,
        sigma=sigma,
        clip_norm=clip_norm,
        seed=seed,
    )


@pytest.mark.parametrize("clip_norm", [None, 1e-3])
def test_imprint_without_noise_reconstructs_every_image_alone_in_its_bin(
    clip_norm: float | None,
) -> None:
    result = _imprint(sigma=0.0, clip_norm=clip_norm)
    assert result.alone_in_bin.sum() >= 20
    assert np.all(result.ssim[result.alone_in_bin] > 0.99)
    assert np.all(result.mse[result.alone_in_bin] < 1e-6)
    summary = summarise_imprint(result, SSIM_THRESHOLD)
    assert summary["success_rate"] >= summary["share_alone_in_bin"]


def test_imprint_with_huge_noise_fails_and_attacks_the_same_batches() -> None:
    private = _imprint(sigma=1e3, clip_norm=1.0)
    summary = summarise_imprint(private, SSIM_THRESHOLD)
    assert summary["success_rate"] == 0 and summary["ci_low"] == 0
    assert summary["mean_ssim"] < 0.3
    assert summary["curve"]["share"][0] == 1 and summary["curve"]["share"][-1] == 0
    np.testing.assert_array_equal(private.originals, _imprint(0.0, None).originals)


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


# -------------------------------------------------------------------------------- prior-aware

SMOOTH_IMAGES = realistic_images(200, seed=11, size=12)
NOISE_IMAGES = np.random.default_rng(14).random((400, 1, 16, 16))


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
        model.weight.detach().numpy()[None],
        model.bias.detach().numpy()[None],
        inputs.numpy()[None],
        labels.numpy()[None],
    )[0]
    np.testing.assert_allclose(
        expected["weight"].numpy(), residuals[:, :, None] * inputs.numpy()[:, None]
    )
    np.testing.assert_allclose(expected["bias"].numpy(), residuals)


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


# ---------------------------------------------------------------------------------------- CLI


def _prepared(tmp_path: Path) -> Path:
    """120 training images (16x16 smooth fields, 2 classes), 60 val and test, prepared for real."""
    images = {
        split: np.round(realistic_images(count, seed=20 + index, size=16)[:, 0] * 255).astype(
            np.uint8
        )
        for index, (split, count) in enumerate((("train", 120), ("val", 60), ("test", 60)))
    }
    return prepare_toy_dataset(
        tmp_path / "data", name="tiny", num_classes=2, n_train=120, n_eval=60, images=images
    )


ATTACK_SETTINGS = {
    "--seed": "0",
    "--batch-size": "8",
    "--num-batches": "2",
    "--num-bins": "16",
    "--ssim-threshold": "0.95",
    "--noise-calibration": "full",
    "--reference-split": "val",
    "--prior-size": "8",
    "--known-size": "8",
    "--trials": "10",
    "--attack-steps": "3",
    "--attack-sample-rate": "1.0",
    "--attack-clip-norm": "0.1",
    "--attack-learning-rate": "0.1",
}


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
    data_dir, plan, out_dir = _prepared(tmp_path), tmp_path / "plan.json", tmp_path / "out"
    write_plan(plan, toy_plan(target, n=120, batch=30, epochs=10, sigma=sigma, delta=1e-3))
    assert _run_cli(data_dir, plan, out_dir) == 0
    imprint = json.loads((out_dir / "imprint.json").read_text())
    for key in ("success_rate", "ci_low", "ci_high", "ssim_threshold", "num_images", "num_batches",
                "batch_size", "num_bins", "sigma", "clip_norm", "noise_calibration", "mean_ssim",
                "median_mse", "curve", "dataset", "target_epsilon", "plan"):  # fmt: skip
        assert key in imprint, key
    assert imprint["num_images"] == 16 and imprint["sigma"] == sigma
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
        # The attack's own plan is accounted with the attack's clip norm, not the training's.
        assert attack_plan.clip_norm == prior["clip_norm"] == 0.1
        assert attack_plan.epsilon <= target


def test_one_step_noise_calibration_spends_the_target_in_one_step() -> None:
    plan = toy_plan(8.0, n=120, batch=30, epochs=10, sigma=0.9, delta=1e-3)
    sigma, clip_norm = imprint_noise(plan, "one_step")
    assert clip_norm == 1.0 and sigma < plan.sigma
    assert imprint_noise(plan, "full") == (0.9, 1.0)


def test_cli_rejects_a_file_that_is_not_a_plan(tmp_path: Path) -> None:
    data_dir, plan = _prepared(tmp_path), tmp_path / "plan.json"
    plan.write_text(json.dumps({"sigma": 1.0}))
    assert _run_cli(data_dir, plan, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_plan_for_another_dataset(tmp_path: Path, capsys) -> None:
    data_dir, plan = _prepared(tmp_path), tmp_path / "plan.json"
    write_plan(plan, toy_plan(8.0, n=240, batch=30, epochs=10, delta=1e-3))
    assert _run_cli(data_dir, plan, tmp_path / "out") == 2
    assert "dataset_size 240 differs from the training set (120" in capsys.readouterr().err
