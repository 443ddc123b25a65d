"""Index files at the paper's scale, written fast: RadImageNet's split CSVs with 1.35 M rows in
all and, for what checks them, the images they list as hard links (one small PNG per class
folder, linked under every name: no data block per image)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from rero.data import radimagenet

#: rows of each split CSV: 1.35 M in all (Mei et al. 2022), cut 80 / 10 / 10 (the official
#: split's sizes are not published with the paper)
PAPER_ROWS = {"train": 1_080_000, "val": 135_000, "test": 135_000}
#: RadImageNet's classes (Mei et al. 2022)
PAPER_CLASSES = 165


def image_name(row: int, num_classes: int) -> tuple[str, str]:
    """(filename relative to the root, label) of row ``row``: class ``row % num_classes``."""
    label = row % num_classes
    return f"{radimagenet.IMAGE_FOLDER}/CT/c{label:03d}/image{row:07d}.png", f"CT-c{label:03d}"


def write_radimagenet_csvs(
    root: Path, rows: dict[str, int] = PAPER_ROWS, num_classes: int = PAPER_CLASSES
) -> Path:
    """``RadiologyAI_{train,val,test}.csv`` in ``root`` with ``rows[split]`` rows each (columns
    filename, label; distinct file names across the splits). Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in rows.items():
        lines = ["filename,label"]
        lines += [",".join(image_name(row, num_classes)) for row in range(start, start + count)]
        (root / radimagenet.CSV_FILES[split]).write_text("\n".join(lines) + "\n")
        start += count
    return root


def write_radimagenet_images(
    root: Path, rows: dict[str, int] = PAPER_ROWS, num_classes: int = PAPER_CLASSES
) -> Path:
    """Every image :func:`write_radimagenet_csvs` lists for ``rows``, under ``root``: a 1 x 1
    grayscale PNG per class folder (``root/seeds/``), hard-linked under each of its names.
    Returns ``root``."""
    png = io.BytesIO()
    Image.new("L", (1, 1)).save(png, format="PNG")
    seeds = root / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    for label in range(num_classes):
        seed = seeds / f"c{label:03d}.png"
        seed.write_bytes(png.getvalue())
        (root / image_name(label, num_classes)[0]).parent.mkdir(parents=True, exist_ok=True)
    for row in range(sum(rows.values())):
        name = image_name(row, num_classes)[0]
        os.link(seeds / f"c{row % num_classes:03d}.png", root / name)
    return root
