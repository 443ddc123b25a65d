"""Percentile-bootstrap intervals of one run's test metric over its test examples (Efron and
Tibshirani 1993, ch. 13): the uncertainty that the finite test set adds to one trained model's
score, not the spread over training seeds. Numpy only; the statistic is given as a function of
the indices of one resample."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: the interval every training run records: 1000 resamples, 95 %, a fixed seed (reproducible)
RESAMPLES = 1000
LEVEL = 0.95
SEED = 0

Statistic = Callable[[np.ndarray], float]


def percentile_interval(
    statistic: Statistic,
    size: int,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[float, float]:
    """(low, high): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``statistic``
    over ``resamples`` resamples of ``size`` example indices drawn with replacement by a
    generator seeded with ``seed``."""
    if size < 1 or resamples < 1 or not 0 < level < 1:
        raise ValueError(
            f"bootstrap: need size >= 1, resamples >= 1 and 0 < level < 1; got size {size}, "
            f"resamples {resamples}, level {level}"
        )
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, size, size)) for _ in range(resamples)]
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def confusion_mcc(confusion: np.ndarray) -> float:
    """Matthews correlation of a K x K confusion matrix (rows true, columns predicted) in
    Gorodkin's K-class form (2004); 0 where it is undefined, as scikit-learn has it."""
    counts = np.asarray(confusion, dtype=np.float64)
    true, predicted, total = counts.sum(axis=1), counts.sum(axis=0), counts.sum()
    covariance = np.trace(counts) * total - true @ predicted
    scale = (total**2 - predicted @ predicted) * (total**2 - true @ true)
    return float(covariance / np.sqrt(scale)) if scale > 0 else 0.0


def mcc_statistic(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> Statistic:
    """The MCC of the resampled examples' labels and predicted classes (integers in [0, K))."""
    codes = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predictions)

    def mcc(index: np.ndarray) -> float:
        confusion = np.bincount(codes[index], minlength=num_classes**2)
        return confusion_mcc(confusion.reshape(num_classes, num_classes))

    return mcc


def mean_statistic(values: np.ndarray) -> Statistic:
    """The mean of the resampled examples' values (a metric that is a mean over examples)."""
    per_example = np.asarray(values, dtype=np.float64)
    return lambda index: float(per_example[index].mean())
