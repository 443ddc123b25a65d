"""RadImageNet (Mei et al., Radiology: Artificial Intelligence 4:e210315, 2022): 1.35 million
CT, MR and ultrasound images in 165 classes, grayscale, 224 x 224.

The download (by request, https://www.radimagenet.com/) holds the images under
``radiology_ai/<CT|MR|US>/.../<label>/<file>.png`` and the official split files
``RadiologyAI_train.csv``, ``RadiologyAI_val.csv`` and ``RadiologyAI_test.csv`` (columns
``filename``, relative to the folder holding them, and ``label``). The classes are the labels of
the training CSV, sorted; images are resized (shorter side) and centre-cropped to ``size`` only
when they differ from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import (
    SPLIT_NAMES,
    DatasetSplits,
    require_folder,
)
from rero.data.files import read_csv
from rero.data.images import Decoding

REQUEST_PAGE = "https://www.radimagenet.com/"
IMAGE_FOLDER = "radiology_ai"
CSV_FILES = {split: f"RadiologyAI_{split}.csv" for split in SPLIT_NAMES}
COLUMNS = ("filename", "label")
EXPECTED_LAYOUT = (
    f"expected the RadImageNet download ({REQUEST_PAGE}) in the folder given as option 'root': "
    f"<root>/{IMAGE_FOLDER}/<CT|MR|US>/.../<label>/<file>.png and the split files "
    f"<root>/{', '.join(CSV_FILES.values())} with columns filename (relative to <root>, e.g. "
    f"{IMAGE_FOLDER}/CT/abd/normal/<file>.png) and label"
)


def root_folder(root: Any) -> Path:
    """The ``root`` option as the RadImageNet folder."""
    return require_folder("root", root, EXPECTED_LAYOUT)


def read_split_csv(root: Path, split: str) -> tuple[list[str], list[str]]:
    """(filenames, labels) of ``RadiologyAI_<split>.csv``, checked for columns and empty cells."""
    path = root / CSV_FILES[split]
    filenames: list[str] = []
    labels: list[str] = []
    for line, row in read_csv(path, COLUMNS, EXPECTED_LAYOUT):
        filename, label = row["filename"] or "", row["label"] or ""
        if not filename or not label:
            raise ValueError(
                f"{path}, line {line}: filename {filename!r}, label {label!r}; "
                "expected both non-empty"
            )
        filenames.append(filename)
        labels.append(label)
    return filenames, labels


def label_indices(path: Path, labels: list[str], classes: list[str]) -> np.ndarray:
    """The class index of each label; an error for a label the training CSV does not have."""
    index = {name: position for position, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(
            f"{path}: label(s) {', '.join(map(repr, unknown[:5]))} are not labels of "
            f"{CSV_FILES['train']}; expected every class in the training split"
        )
    return np.array([index[label] for label in labels], dtype=np.int64)


def radimagenet_files(options: dict[str, Any]) -> list[Path]:
    """The three split CSVs (the images are too many to list)."""
    root = Path(options["root"]).expanduser()
    return [root / name for name in CSV_FILES.values()]


def radimagenet_content_files(options: dict[str, Any]) -> list[Path]:
    """Every file :func:`load_radimagenet` reads for ``options``: the split CSVs, then the image
    of each row."""
    folder = root_folder(options["root"])
    images = [
        folder / filename for split in SPLIT_NAMES for filename in read_split_csv(folder, split)[0]
    ]
    return [*(folder / name for name in CSV_FILES.values()), *images]


def radimagenet_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_radimagenet`: the rows of each split's CSV (fewer when
    ``on_unreadable: skip`` leaves images out)."""
    root = root_folder(options["root"])
    return {split: len(read_split_csv(root, split)[0]) for split in SPLIT_NAMES}


def load_radimagenet(
    root: str, size: int = 224, on_unreadable: str = "error", workers: int | None = None
) -> DatasetSplits:
    """The official RadImageNet splits: images uint8 (N, 1, size, size), decoded while written.

    ``on_unreadable``: "error" stops at an unreadable image, naming it; "skip" leaves it out
    (logged; counted in ``meta.json``). ``workers``: decoding processes (default: the cores this
    job has); it does not change the data. Every split stores ``source_row``, the sample's row
    (0-based, after the header) in its CSV.
    """
    folder = root_folder(root)
    decoding = Decoding.checked(size, on_unreadable, workers)
    if not (folder / IMAGE_FOLDER).is_dir():
        raise FileNotFoundError(f"{folder / IMAGE_FOLDER}: folder not found; {EXPECTED_LAYOUT}")
    tables = {split: read_split_csv(folder, split) for split in SPLIT_NAMES}
    classes = sorted(set(tables["train"][1]))
    if len(classes) < 2:
        raise ValueError(
            f"{folder / CSV_FILES['train']}: labels {classes}; expected at least 2 classes"
        )
    parts = {}
    for split, (filenames, labels) in tables.items():
        paths = tuple(os.path.join(folder, filename) for filename in filenames)
        parts[split] = decoding.split(
            paths,
            "L",
            label_indices(folder / CSV_FILES[split], labels, classes),
            np.arange(len(paths)),
            EXPECTED_LAYOUT,
        )
    return DatasetSplits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        class_names=classes,
        source=(
            f"RadImageNet (Mei et al. 2022, {REQUEST_PAGE}) at {folder.resolve()}: official "
            f"train/val/test CSVs, {len(classes)} classes, "
            f"grayscale {decoding.size}x{decoding.size}"
        ),
        options={"root": str(root), "size": decoding.size, "on_unreadable": decoding.on_unreadable},
    )
