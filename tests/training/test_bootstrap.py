"""The test-set bootstrap of a run's main metric: the percentile interval against known cases and
scipy's, the MCC of a confusion matrix against scikit-learn's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import matthews_corrcoef

from rero.training.bootstrap import (
    confusion_mcc,
    mcc_statistic,
    mean_statistic,
    percentile_interval,
)
from rero.training.dice import segmentation_metrics
from rero.training.job import main_metric_interval
from rero.training.metrics import classification_metrics


def test_a_constant_metric_has_a_point_interval():
    assert percentile_interval(mean_statistic(np.full(50, 0.7)), 50) == pytest.approx((0.7, 0.7))


def test_the_interval_of_a_mean_is_the_normal_one_for_many_examples():
    values = np.tile([0.0, 1.0], 200)  # p = 1/2, n = 400: 1/2 ± 1.96 · sqrt(1/4 / 400)
    low, high = percentile_interval(mean_statistic(values), len(values), resamples=4000)
    half = 1.959964 * math.sqrt(0.25 / 400)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half), abs=0.006)


def test_the_interval_agrees_with_scipys_percentile_bootstrap():
    values = np.random.default_rng(1).gamma(2.0, size=120)
    ours = percentile_interval(mean_statistic(values), len(values), resamples=4000, seed=3)
    theirs = stats.bootstrap(
        (values,), np.mean, n_resamples=4000, method="percentile", random_state=3
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.04)


def test_the_interval_is_reproducible_by_its_seed():
    values = np.random.default_rng(0).random(30)
    first = percentile_interval(mean_statistic(values), 30, resamples=200, seed=5)
    assert percentile_interval(mean_statistic(values), 30, resamples=200, seed=5) == first
    assert percentile_interval(mean_statistic(values), 30, resamples=200, seed=6) != first


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_the_mcc_of_a_confusion_matrix_is_scikit_learns(classes):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, 300)
    predictions = np.where(rng.random(300) < 0.6, labels, rng.integers(0, classes, 300))
    expected = matthews_corrcoef(labels, predictions)
    assert mcc_statistic(labels, predictions, classes)(np.arange(300)) == pytest.approx(expected)
    index = rng.integers(0, 300, 300)
    assert mcc_statistic(labels, predictions, classes)(index) == pytest.approx(
        matthews_corrcoef(labels[index], predictions[index])
    )


def test_an_undefined_mcc_is_zero_as_scikit_learn_has_it():
    labels, predictions = [0] * 5 + [1] * 3, [0] * 8  # one predicted class: MCC is 0/0
    assert (
        confusion_mcc(np.array([[5, 0], [3, 0]])) == 0.0 == matthews_corrcoef(labels, predictions)
    )


def test_nonsense_settings_are_refused():
    with pytest.raises(ValueError, match="need size >= 1, resamples >= 1 and 0 < level < 1"):
        percentile_interval(mean_statistic(np.ones(3)), 3, level=1.0)


def test_a_classification_run_records_the_interval_of_its_mcc():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200)
    probabilities = rng.dirichlet(np.ones(3), 200)
    probabilities[np.arange(200), labels] += 0.5  # better than chance
    interval = main_metric_interval({"task": "classification"}, labels, probabilities)
    expected = percentile_interval(mcc_statistic(labels, probabilities.argmax(axis=1), 3), 200)
    assert (interval["low"], interval["high"]) == expected
    mcc = classification_metrics(labels, probabilities)["mcc"]
    assert interval["metric"] == "mcc" and interval["low"] < mcc < interval["high"]
    assert (interval["level"], interval["resamples"], interval["seed"]) == (0.95, 1000, 0)


def test_a_segmentation_run_resamples_images_of_its_mean_soft_dice():
    rng = np.random.default_rng(4)
    masks = rng.integers(0, 3, (40, 6, 6))
    probabilities = rng.dirichlet(np.ones(3), (40, 6, 6)).transpose(0, 3, 1, 2)
    meta = {"task": "segmentation", "class_names": ["background", "a", "b"]}
    interval = main_metric_interval(meta, masks, probabilities)
    dice = segmentation_metrics(masks, probabilities, meta["class_names"])["dice"]
    assert interval["metric"] == "dice" and interval["low"] < dice < interval["high"]
    one = main_metric_interval(meta, masks[:1], probabilities[:1])  # one image: nothing to resample
    assert one["low"] == pytest.approx(one["high"])
    assert one["low"] == pytest.approx(
        segmentation_metrics(masks[:1], probabilities[:1], meta["class_names"])["dice"]
    )
