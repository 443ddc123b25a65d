"""The from-scratch bound table of a study's plans: known answers of the closed form on a tiny
image array, the non-private row, clipping, criteria, the split's norms and the command."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from rero.cli import main
from rero.privacy.plan import write_plan
from rero.privacy.rero.from_scratch import THREAT_MODEL
from rero.privacy.rero.from_scratch_table import (
    COLUMNS,
    NORMS,
    ScratchCriterion,
    from_scratch_table,
    split_norms,
    unique_criteria,
)
from tests.helpers import toy_plan

#: four 2x2 images (N = 4) with norms 1, 2, 3, 4: the smallest 1, 5 % quantile 1.15, median 2.5
NORM_VALUES = np.array([1.0, 2.0, 3.0, 4.0])
PSNR_10 = ScratchCriterion("psnr", 10.0)  # MSE <= 0.1


def law(mse: float, sigma: float, norm: float, inclusions: int = 1) -> float:
    """P(N/2, k eta N / (2 sigma^2 ||X||^2)) for N = 4."""
    return float(special.gammainc(2.0, inclusions * mse * 4 / (2 * sigma**2 * norm**2)))


def rows(table: pd.DataFrame, target: float, norm: str) -> pd.Series:
    picked = table[(table["target_epsilon"] == target) & (table["norm"] == norm)]
    assert len(picked) == 1
    return picked.iloc[0]


def test_rows_are_the_closed_form_at_each_norm_and_averaged_over_images():
    # n = batch: q = 1, and 2 epochs give T = 2 steps, each including every image (k = 2)
    plans = [toy_plan(8.0, n=10, batch=10, epochs=2, sigma=0.2), toy_plan(math.inf, 10, 10, 2)]
    table = from_scratch_table(plans, NORM_VALUES, 4, [PSNR_10], clip_norm=1.5)
    assert list(table.columns) == list(COLUMNS) and len(table) == 2 * len(NORMS)
    for norm, value in (("smallest", 1.0), ("quantile_5", 1.15), ("median", 2.5)):
        row = rows(table, 8.0, norm)
        assert row["data_norm"] == pytest.approx(value)
        assert row["single_release"] == pytest.approx(law(0.1, 0.2, value), rel=1e-12)
        assert row["whole_run"] == pytest.approx(law(0.1, 0.2, value, 2), rel=1e-9)
        assert row["clipping_active"] == (value >= 1.5)
    mean = rows(table, 8.0, "mean_over_images")
    assert math.isnan(mean["data_norm"]) and not mean["clipping_active"]  # 1 < C
    assert mean["single_release"] == pytest.approx(np.mean([law(0.1, 0.2, x) for x in NORM_VALUES]))
    assert mean["whole_run"] == pytest.approx(np.mean([law(0.1, 0.2, x, 2) for x in NORM_VALUES]))
    assert mean["ncc_bound"] == pytest.approx(1 / math.sqrt(1 + 4 * 0.2**2))
    first = table.iloc[0]
    assert (first["metric"], first["threshold"], first["criterion"]) == (
        "psnr",
        10.0,
        "PSNR ≥ 10 dB",
    )
    assert (first["dimension"], first["steps"], first["sample_rate"]) == (4, 2, 1.0)
    assert set(table["threat_model"]) == {THREAT_MODEL}


def test_the_non_private_plan_reconstructs_exactly_and_clips_nothing():
    plans = [toy_plan(math.inf, 100, 10, 1)]
    table = from_scratch_table(plans, NORM_VALUES, 4, [ScratchCriterion("mse", 1e-9)], 0.1)
    assert (table["single_release"] == 1).all() and (table["whole_run"] == 1).all()
    assert (table["ncc_bound"] == 1).all() and not table["clipping_active"].any()


def test_every_criterion_gets_its_rows_and_the_whole_run_counts_no_inclusion_a_failure():
    plan = toy_plan(
        8.0, n=100, batch=10, epochs=1, sigma=1e-6
    )  # q = 0.1, T = 10; no noise to speak of
    criteria = [PSNR_10, ScratchCriterion("mse", 0.5)]
    table = from_scratch_table([plan], NORM_VALUES, 4, criteria, clip_norm=1.0)
    assert table["criterion"].tolist() == ["PSNR ≥ 10 dB"] * 4 + ["MSE ≤ 0.5"] * 4
    assert table["single_release"].to_numpy() == pytest.approx(1.0)
    assert table["whole_run"].to_numpy() == pytest.approx(1 - 0.9**10)


def test_criteria_parse_label_and_refuse_duplicates_and_bad_input():
    criterion = ScratchCriterion.parse("psnr:30")
    assert (criterion.label, criterion.text) == ("psnr_ge_30", "PSNR ≥ 30 dB")
    assert criterion.mse_threshold == pytest.approx(1e-3)
    assert ScratchCriterion.parse("mse:0.001").label == "mse_le_0.001"
    with pytest.raises(ValueError, match="are one MSE threshold"):
        unique_criteria([criterion, ScratchCriterion("mse", 0.001)])
    for text, message in (("psnr", "METRIC:THRESHOLD"), ("ssim:0.5", "expected one of psnr")):
        with pytest.raises(ValueError, match=message):
            ScratchCriterion.parse(text)
    with pytest.raises(ValueError, match="expected a finite number > 0"):
        ScratchCriterion("mse", 0.0)
    with pytest.raises(ValueError, match="clip_norm"):
        from_scratch_table([toy_plan(8.0, 10, 10, 1)], NORM_VALUES, 4, [criterion], math.inf)


def test_split_norms_read_uint8_images_and_volumes_in_their_units(tmp_path):
    images = np.full((3, 1, 2, 2), 255, np.uint8)
    norms, dimension = split_norms(images)
    assert dimension == 4 and norms == pytest.approx([2.0, 2.0, 2.0])
    volumes = np.full((2, 1, 3, 4, 5), 0.5, np.float32)  # a segmentation split: N is the voxels
    norms, dimension = split_norms(volumes)
    assert dimension == 60 and norms == pytest.approx([0.5 * math.sqrt(60)] * 2)


def test_the_command_writes_the_table_of_a_prepared_split(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "train_images.npy", np.full((5, 1, 2, 2), 128, np.uint8))
    np.save(data / "train_labels.npy", np.zeros(5, np.int64))
    plans = []
    for target, sigma in ((8.0, 0.05), (math.inf, 0.0)):
        plans.append(str(tmp_path / f"eps_{target}.json"))
        write_plan(plans[-1], toy_plan(target, 100, 10, 1, sigma=sigma))
    out = tmp_path / "toy_from_scratch.csv"
    flags = ["--data-dir", str(data), "--criterion", "psnr:30", "--clip-norm", "1"]
    assert main(["from-scratch", "--plans", *plans, *flags, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * len(NORMS) and table["clipping_active"].tolist()[:4] == [True] * 4
    assert "2 budgets x 5 training images (N = 4) x 1 criteria in" in capsys.readouterr().out
