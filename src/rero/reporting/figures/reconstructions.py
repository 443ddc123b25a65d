"""The reconstruction grid: attacked training images beside the imprint attack's best
reconstruction of each at every budget ε."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rero.reporting.figures.labels import eps_label
from rero.reporting.figures.style import (
    DOUBLE_COLUMN_IN,
    SINGLE_COLUMN_IN,
    SMALLEST_TEXT_PT,
    new_figure,
    save_figure,
    styled,
)

CELL_IN = 1.1  # the height of one row of images
MAX_SINGLE_COLUMN_CELLS = 3  # up to this many columns of images fit a 3.5-inch column
#: the attack seeds its noise per batch, not per budget (rero.attacks.imprint)
NOISE_NOTE = "Noise: one draw per batch, the same at every ε, scaled by that ε's σ."


def read_reconstructions(
    recon_files: Sequence[str | Path],
) -> dict[str, dict[float, dict[str, np.ndarray]]]:
    """dataset -> target ε -> the arrays of its ``recon.npz``; the attacked images of one
    dataset must be the same at every ε (the attack reuses its batches)."""
    by_dataset: dict[str, dict[float, dict[str, np.ndarray]]] = {}
    for file in recon_files:
        with np.load(file) as archive:
            arrays = {key: archive[key] for key in archive.files}
        dataset, target = str(arrays["dataset"]), float(arrays["target_epsilon"])
        runs = by_dataset.setdefault(dataset, {})
        first = next(iter(runs.values()), None)
        if first is not None and not np.array_equal(first["originals"], arrays["originals"]):
            raise ValueError(
                f"{file}: the attacked images of dataset {dataset!r} at {eps_label(target)} "
                "differ from those at the other budgets; expected the same batches at every ε"
            )
        runs[target] = arrays
    return by_dataset


def drawn_images(count: int, num_images: int, rng: np.random.Generator) -> np.ndarray:
    """``num_images`` of ``count`` image indices (all if fewer), drawn uniformly without
    replacement, ascending."""
    return np.sort(rng.choice(count, size=min(num_images, count), replace=False))


def _picture(image: np.ndarray) -> np.ndarray:
    """(C, H, W) or a volume's (C, D, H, W) as an imshow array (its middle axial slice)."""
    if image.ndim == 4:
        image = image[:, image.shape[1] // 2]
    picture = np.moveaxis(image, 0, -1)
    return picture.squeeze(-1) if picture.shape[-1] == 1 else picture


@styled
def reconstructions(
    recon_files: Sequence[str | Path], path: str | Path, num_images: int = 6, seed: int = 0
) -> Figure:
    """Rows: ``num_images`` attacked images per dataset drawn uniformly at random (``seed``);
    columns: the original, then its best-matching reconstruction (by SSIM, written below it)
    at each ε, the non-private update last (volumes: their middle axial slice); a note under
    them says that the noise is one draw scaled by each budget's σ."""
    by_dataset = read_reconstructions(recon_files)
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, int]] = []
    drawn = []
    for dataset, runs in sorted(by_dataset.items()):
        count = len(next(iter(runs.values()))["ssim"])
        chosen = drawn_images(count, num_images, rng)
        rows.extend((dataset, int(index)) for index in chosen)
        drawn.append(f"{len(chosen)} of the {count} attacked images of {dataset}")
    columns = sorted({target for runs in by_dataset.values() for target in runs})
    width = SINGLE_COLUMN_IN if len(columns) + 1 <= MAX_SINGLE_COLUMN_CELLS else DOUBLE_COLUMN_IN
    figure, axes = new_figure(width, CELL_IN * len(rows) + 0.6, len(rows), len(columns) + 1)
    for row, (dataset, index) in enumerate(rows):
        runs = by_dataset[dataset]
        cells = [("original", next(iter(runs.values()))["originals"][index], None)] + [
            (
                eps_label(target),
                runs[target]["reconstructions"][index] if target in runs else None,
                float(runs[target]["ssim"][index]) if target in runs else None,
            )
            for target in columns
        ]
        for col, (title, image, ssim) in enumerate(cells):
            axis = axes[row, col]
            axis.set_xticks([])
            axis.set_yticks([])
            if image is not None:
                axis.imshow(_picture(image), cmap="gray", vmin=0, vmax=1)
            if row == 0:
                axis.set_title(title)
            if ssim is not None and math.isfinite(ssim):
                axis.set_xlabel(f"SSIM {ssim:.2f}", labelpad=1)
            if col == 0:
                axis.set_ylabel(f"{dataset} #{index}" if len(by_dataset) > 1 else f"image {index}")
    figure.supxlabel(
        "Rows: " + "; ".join(drawn) + f", drawn at random (seed {seed}).\n" + NOISE_NOTE,
        fontsize=SMALLEST_TEXT_PT,
    )
    return save_figure(figure, path)
