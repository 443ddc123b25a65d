"""The raw metrics of matched reconstructions and the success criteria on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from rero.attacks import imprint as imprint_module
from rero.attacks.fidelity import RAW_METRICS, paired_ncc, psnr_from_mse, raw_metrics
from rero.attacks.imprint import summarise_imprint
from rero.attacks.job import ImprintSettings
from rero.attacks.matching import clopper_pearson, paired_ssim, ssim_matrix
from rero.attacks.success import SuccessCriterion
from rero.cli import main
from rero.privacy.plan import write_plan
from rero.reporting.columns import describe_column
from rero.reporting.summary import criteria_columns
from tests.helpers import toy_plan
from tests.helpers.attacks import (
    ATTACK_SETTINGS,
    imprint_on_fields,
    prepared_fields,
    realistic_images,
    skimage_ssim,
)


def test_an_exact_reconstruction_has_mse_0_psnr_inf_ncc_1_ssim_1() -> None:
    images = realistic_images(4, seed=3)
    metrics = raw_metrics(images, images.copy())
    assert set(metrics) == set(RAW_METRICS)
    np.testing.assert_array_equal(metrics["raw_mse"], 0.0)
    assert np.all(np.isposinf(metrics["raw_psnr"]))  # not capped
    np.testing.assert_allclose(metrics["raw_ncc"], 1.0, atol=1e-12)
    np.testing.assert_allclose(metrics["raw_ssim"], 1.0, atol=1e-12)


def test_raw_metrics_equal_skimage_and_the_cosine_on_unclipped_reconstructions() -> None:
    rng = np.random.default_rng(5)
    originals = rng.random((5, 3, 16, 20))
    reconstructions = originals + rng.normal(0, 0.3, originals.shape)  # beyond [0, 1]: kept
    metrics = raw_metrics(originals, reconstructions)
    pairs = list(zip(originals, reconstructions, strict=True))
    np.testing.assert_allclose(
        metrics["raw_mse"], [mean_squared_error(x, y) for x, y in pairs], rtol=1e-12
    )
    np.testing.assert_allclose(
        metrics["raw_psnr"],
        [peak_signal_noise_ratio(x, y, data_range=1) for x, y in pairs],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        metrics["raw_ncc"],
        [np.dot(x.ravel(), y.ravel()) / np.linalg.norm(x) / np.linalg.norm(y) for x, y in pairs],
        rtol=1e-12,
    )
    np.testing.assert_allclose(metrics["raw_ssim"], [skimage_ssim(x, y) for x, y in pairs], 1e-6)
    np.testing.assert_array_equal(
        paired_ssim(originals, reconstructions).numpy(),
        np.diag(ssim_matrix(originals, reconstructions).numpy()),
    )


def test_psnr_of_the_from_scratch_law_and_ncc_of_zero_images() -> None:
    assert psnr_from_mse(np.array([1e-3]))[0] == pytest.approx(30.0)  # 10 log10(1 / 1e-3)
    zero, one = np.zeros((1, 4)), np.ones((1, 4))
    assert paired_ncc(zero, zero)[0] == 1.0 and paired_ncc(zero, one)[0] == 0.0
    with pytest.raises(ValueError, match="pair up one to one"):
        raw_metrics(np.zeros((2, 1, 12, 12)), np.zeros((3, 1, 12, 12)))


def test_raw_psnr_equals_skimage_on_the_attacks_own_reconstructions(monkeypatch) -> None:
    seen: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []

    def recording(originals, reconstructions):
        metrics = raw_metrics(originals, reconstructions)
        seen.append((originals.cpu().numpy(), reconstructions.cpu().numpy(), metrics))
        return metrics

    monkeypatch.setattr(imprint_module, "raw_metrics", recording)
    result = imprint_on_fields(sigma=0.02, clip_norm=1e-3)
    originals = np.concatenate([item[0] for item in seen])
    reconstructions = np.concatenate([item[1] for item in seen])
    assert len(originals) == len(result.raw_psnr) == 48
    assert reconstructions.min() < 0 or reconstructions.max() > 1  # as read out, not clipped
    expected = [
        peak_signal_noise_ratio(x, y, data_range=1)
        for x, y in zip(originals, reconstructions, strict=True)
    ]
    np.testing.assert_allclose(result.raw_psnr, expected, rtol=1e-12)


def test_a_noise_free_update_reconstructs_each_image_alone_in_its_bin_exactly() -> None:
    result = imprint_on_fields(sigma=0.0, clip_norm=1e-3)
    alone = result.alone_in_bin
    assert alone.sum() >= 20
    assert np.all(result.raw_mse[alone] < 1e-12)  # float32 gradients: exact up to rounding
    assert np.all(result.raw_psnr[alone] > 120)
    np.testing.assert_allclose(result.raw_ncc[alone], 1.0, atol=1e-9)
    np.testing.assert_allclose(result.raw_ssim[alone], 1.0, atol=1e-9)


def test_a_psnr_criterion_is_reported_with_its_rate_and_clopper_pearson_interval() -> None:
    result = imprint_on_fields(sigma=0.002, clip_norm=1e-3)
    paper_only = summarise_imprint(result, 0.95)
    psnr = SuccessCriterion("raw_psnr", 15.0)
    summary = summarise_imprint(result, 0.95, [psnr, SuccessCriterion("raw_mse", 10**-1.5)])
    for key in ("success_rate", "successes", "ci_low", "ci_high", "curve", "mean_ssim"):
        assert summary[key] == paper_only[key], key  # the paper's criterion is untouched
    paper, by_psnr, by_mse = summary["criteria"]
    assert paper["label"] == "ssim_ge_0.95" and paper["success_rate"] == summary["success_rate"]
    successes = int(np.sum(result.raw_psnr >= 15))
    assert 0 < successes < 48  # the criterion separates the images
    assert by_psnr["label"] == "raw_psnr_ge_15" and by_psnr["criterion"] == "raw_psnr ≥ 15 dB"
    assert by_psnr["successes"] == successes and by_psnr["success_rate"] == successes / 48
    assert (by_psnr["ci_low"], by_psnr["ci_high"]) == clopper_pearson(successes, 48)
    # PSNR ≥ 15 dB on data range 1 is MSE ≤ 10^-1.5: the same images
    assert by_mse["comparison"] == "<=" and by_mse["successes"] == successes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("psnr:30", "success metric 'psnr': expected one of ssim, raw_ssim"),
        ("raw_ncc:1.5", r"success threshold of raw_ncc: 1\.5; expected a number in \(0, 1\]"),
        ("raw_mse:0", "success threshold of raw_mse: 0.0; expected a finite number > 0"),
        ("raw_psnr:inf", "success threshold of raw_psnr: inf"),
        ("raw_psnr", "success criterion 'raw_psnr': expected METRIC:THRESHOLD"),
        ("raw_psnr:high", "success criterion 'raw_psnr:high': expected METRIC:THRESHOLD"),
    ],
)
def test_bad_criteria_are_refused_naming_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SuccessCriterion.parse(text)


def test_imprint_settings_refuse_the_papers_ssim_and_a_criterion_twice() -> None:
    settings = {
        "clip_norm": None,
        "batch_size": 8,
        "num_batches": 1,
        "num_bins": 16,
        "ssim_threshold": 0.95,
        "noise_calibration": "full",
        "reference_split": "val",
    }
    with pytest.raises(ValueError, match="set by the SSIM threshold"):
        ImprintSettings(**settings, success=(SuccessCriterion("ssim", 0.9),))
    twice = (SuccessCriterion("raw_psnr", 30), SuccessCriterion("raw_psnr", 30.0))
    with pytest.raises(ValueError, match="expected each once"):
        ImprintSettings(**settings, success=twice)


def test_the_cli_records_each_criterion_and_the_summary_gets_its_columns(
    tmp_path: Path, capsys
) -> None:
    data_dir, plan, out_dir = prepared_fields(tmp_path), tmp_path / "plan.json", tmp_path / "out"
    write_plan(plan, toy_plan(math.inf, n=120, batch=30, epochs=10, sigma=0.0, delta=1e-3))
    settings = [item for pair in ATTACK_SETTINGS.items() for item in pair]
    command = ["attack", "--data-dir", str(data_dir), "--plan", str(plan), "--device", "cpu"]
    command += ["--out-dir", str(out_dir), "--attacks", "imprint", *settings]
    assert main([*command, "--success", "raw_psnr:30", "--success", "raw_ncc:0.99"]) == 0
    record = json.loads((out_dir / "imprint.json").read_text())
    labels = [item["label"] for item in record["criteria"]]
    assert labels == ["ssim_ge_0.95", "raw_psnr_ge_30", "raw_ncc_ge_0.99"]
    recon = np.load(out_dir / "recon.npz")
    assert all(recon[metric].shape == (16,) for metric in RAW_METRICS)
    by_psnr = record["criteria"][1]
    assert by_psnr["successes"] == int(np.sum(recon["raw_psnr"] >= 30)) > 0
    columns = criteria_columns([out_dir / "imprint.json"])
    assert columns["imprint_raw_psnr_ge_30_success_rate"].item() == by_psnr["success_rate"]
    assert "imprint_ssim_ge_0.95_success_rate" not in columns  # that is imprint_success_rate
    for column in columns.columns[2:]:
        assert "from-scratch" in describe_column(column)
    with pytest.raises(SystemExit):
        main([*command, "--success", "psnr:30"])
    assert "success metric 'psnr'" in capsys.readouterr().err
