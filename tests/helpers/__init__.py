"""Shared test helpers: paths, and the one way tests build prepared datasets and privacy plans.

Both go through the project's own code: a dataset is a MedMNIST-layout file prepared by
``rero.data.prepare.prepare_dataset`` (the ``medmnist`` loader), a plan is a validated
``PrivacyPlan`` (σ given, or calibrated by ``rero.privacy.calibration.calibrate``). Test modules
import helpers from here (and ``tests.helpers.workflow``, ``.msd``, ``.paper``), never from each
other; fixtures are in the conftest files.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def shipped_config_text() -> str:
    """The committed config.yaml (git's copy), never the working file a user may have edited."""
    result = subprocess.run(
        ["git", "show", "HEAD:config.yaml"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return result.stdout


def band_images(labels: np.ndarray, size: int, num_classes: int, seed: int) -> np.ndarray:
    """uint8 (N, size, size) images in which class k brightens row band k (learnable)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.5, size=(len(labels), size, size))
    band = size // num_classes
    for index, label in enumerate(labels):
        images[index, label * band : (label + 1) * band] += 0.5
    return np.round(images * 255).astype(np.uint8)


def write_medmnist_file(
    path: Path,
    sizes: dict[str, int],
    *,
    num_classes: int = 3,
    size: int = 12,
    seed: int = 0,
    images: dict[str, np.ndarray] | None = None,
) -> Path:
    """A MedMNIST-layout ``.npz`` (uint8 images, (N, 1) labels) with band images or ``images``."""
    arrays = {}
    for index, (split, count) in enumerate(sizes.items()):
        labels = np.arange(count) % num_classes
        given = None if images is None else images.get(split)
        arrays[f"{split}_images"] = (
            given if given is not None else band_images(labels, size, num_classes, seed + index)
        )
        arrays[f"{split}_labels"] = labels.astype(np.uint8)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def prepare_toy_dataset(
    folder: Path,
    *,
    name: str = "toy",
    num_classes: int = 3,
    n_train: int = 48,
    n_eval: int = 24,
    size: int = 12,
    seed: int = 0,
    images: dict[str, np.ndarray] | None = None,
) -> Path:
    """A prepared dataset folder (splits + meta.json) made by the real ``prepare_dataset``."""
    from rero.data.prepare import prepare_dataset

    source = write_medmnist_file(
        folder.parent / f"{folder.name}-source.npz",
        {"train": n_train, "val": n_eval, "test": n_eval},
        num_classes=num_classes,
        size=size,
        seed=seed,
        images=images,
    )
    prepare_dataset(name, "medmnist", {"path": str(source)}, folder)
    return folder


def toy_plan(
    target: float,
    n: int,
    batch: int,
    epochs: int,
    *,
    sigma: float = 1.0,
    delta: float = 1e-5,
    dataset: str | None = "toy",
):
    """A validated privacy plan with σ given (not calibrated): the schedule of N, B and epochs.

    ``target = inf`` gives the non-private plan. ε is recorded as the target.
    """
    from rero.privacy.accounting.base import sampling_schedule
    from rero.privacy.plan import PrivacyPlan

    sample_rate, steps = sampling_schedule(n, batch, epochs)
    private = math.isfinite(target)
    return PrivacyPlan(
        target_epsilon=float(target),
        epsilon=float(target),
        epsilon_lower=None,
        sigma=sigma if private else 0.0,
        sample_rate=sample_rate,
        steps=steps,
        delta=delta,
        accountant="rdp" if private else "none",
        dataset=dataset,
        dataset_size=n,
        batch_size=batch,
        epochs=epochs,
        note="test plan: sigma given, not calibrated",
    )


#: the idealised DP-SGD mechanism of the audit tests: sampling rate, steps, δ and canaries
IDEAL_SAMPLE_RATE, IDEAL_STEPS, IDEAL_DELTA, IDEAL_CANARIES = 0.25, 8, 1e-5, 1000


def ideal_white_box(sigma: float, seed: int, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The white-box view of the idealised mechanism: steps x canaries, each canary's coordinate
    ``noise`` · N(0, 1) per step plus 1/σ in the steps that sample it (included canaries only,
    rate :data:`IDEAL_SAMPLE_RATE`), and which canaries are included (fair coins)."""
    from rero.audit.game import draw_membership

    rng = np.random.default_rng(seed)
    included = draw_membership(IDEAL_CANARIES, rng)
    sampled = included & (rng.random((IDEAL_STEPS, IDEAL_CANARIES)) < IDEAL_SAMPLE_RATE)
    return noise * rng.standard_normal((IDEAL_STEPS, IDEAL_CANARIES)) + sampled / sigma, included


def write_medmnist(path: Path, rgb: bool = False, column_labels: bool = True, **replace) -> Path:
    """A small MedMNIST-layout file: 3 classes, 8x8 images, split sizes 30/9/12."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 30), ("val", 9), ("test", 12)):
        shape = (n, 8, 8, 3) if rgb else (n, 8, 8)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        labels = (np.arange(n) % 3).astype(np.uint8)
        arrays[f"{split}_labels"] = labels[:, None] if column_labels else labels
    arrays.update(replace)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    np.savez(path, **arrays)
    return path
