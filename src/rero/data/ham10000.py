"""HAM10000 dermatoscopic images (Tschandl et al., Scientific Data 5:180161, 2018), the paper's
binary task: does a lesion need attention (dx akiec, bcc or mel: label 1) or not (0)?

The official download (Harvard Dataverse, doi:10.7910/DVN/DBW86T) holds ``HAM10000_metadata.csv``
(one row per image: lesion_id, image_id, dx, dx_type, age, sex, localization) and the 600x450
RGB JPEGs ``<image_id>.jpg`` in ``HAM10000_images_part_1/`` and ``HAM10000_images_part_2/``; one
folder ``HAM10000_images/`` works too. Several images may show one lesion, so the split is by
lesion: stratified by label and seeded, 10 % of the lesions are the test set, 10 % of the rest
the validation set, the others the training set; no lesion is in two splits. Images are resized
(shorter side to ``size``) and centre-cropped to ``size`` x ``size`` (Ziller et al., 2024).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import (
    SPLIT_NAMES,
    DatasetSplits,
    require_folder,
    require_int,
    stratified_pick,
)
from rero.data.files import read_csv
from rero.data.images import Decoding

DOWNLOAD_PAGE = "https://doi.org/10.7910/DVN/DBW86T"
METADATA = "HAM10000_metadata.csv"
IMAGE_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2", "HAM10000_images")
EXPECTED_LAYOUT = (
    f"expected the HAM10000 download from the Harvard Dataverse ({DOWNLOAD_PAGE}) unpacked into "
    f"the folder given as option 'root': <root>/{METADATA} (columns lesion_id, image_id, dx, ...) "
    f"and the JPEGs <root>/{IMAGE_FOLDERS[0]}/<image_id>.jpg and "
    f"<root>/{IMAGE_FOLDERS[1]}/<image_id>.jpg, or all of them in <root>/{IMAGE_FOLDERS[2]}/"
)
COLUMNS = ("lesion_id", "image_id", "dx")
DIAGNOSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
NEEDS_ATTENTION = ("akiec", "bcc", "mel")
CLASS_NAMES = ("no urgent attention (bkl, df, nv, vasc)", "needs attention (akiec, bcc, mel)")
TEST_FRACTION = 0.1  # of the lesions
VAL_FRACTION = 0.1  # of the lesions left after the test set


@dataclass(frozen=True)
class Metadata:
    """The columns of ``HAM10000_metadata.csv`` that the loader uses, one entry per row."""

    path: Path
    image_ids: np.ndarray
    lesion_ids: np.ndarray
    labels: np.ndarray


def read_metadata(root: Path) -> Metadata:
    """``<root>/HAM10000_metadata.csv``, checked: columns, known dx, each image once."""
    path = root / METADATA
    image_ids: list[str] = []
    lesion_ids: list[str] = []
    labels: list[int] = []
    line_of: dict[str, int] = {}
    for line, row in read_csv(path, COLUMNS, EXPECTED_LAYOUT):
        lesion, image, dx = (row[column] or "" for column in COLUMNS)
        if not image or not lesion or dx not in DIAGNOSES:
            raise ValueError(
                f"{path}, line {line}: lesion_id {lesion!r}, image_id {image!r}, dx {dx!r}; "
                f"expected non-empty ids and dx one of {', '.join(DIAGNOSES)}"
            )
        if image in line_of:
            raise ValueError(
                f"{path}, line {line}: image_id {image!r} already on line {line_of[image]}; "
                "expected each image once"
            )
        line_of[image] = line
        image_ids.append(image)
        lesion_ids.append(lesion)
        labels.append(int(dx in NEEDS_ATTENTION))
    return Metadata(path, np.array(image_ids), np.array(lesion_ids), np.array(labels, np.int64))


def lesion_split(metadata: Metadata, seed: int) -> dict[str, np.ndarray]:
    """CSV rows of each split, in image_id order: lesions drawn stratified by label, seeded."""
    lesions, lesion_of_row = np.unique(metadata.lesion_ids, return_inverse=True)
    lesion_labels = np.zeros(len(lesions), dtype=np.int64)
    lesion_labels[lesion_of_row] = metadata.labels
    mixed = np.flatnonzero(lesion_labels[lesion_of_row] != metadata.labels)
    if len(mixed):
        lesion = str(metadata.lesion_ids[mixed[0]])
        raise ValueError(
            f"{metadata.path}: lesion {lesion!r} has images with dx of both labels "
            f"(needs attention: {', '.join(NEEDS_ATTENTION)}, or not); expected one dx per lesion"
        )
    rng = np.random.default_rng(seed)
    test = stratified_pick(lesion_labels, TEST_FRACTION, rng)
    rest = np.flatnonzero(~test)
    val = np.zeros(len(lesions), dtype=bool)
    val[rest[stratified_pick(lesion_labels[rest], VAL_FRACTION, rng)]] = True
    role_of_row = np.where(test, 2, np.where(val, 1, 0))[lesion_of_row]
    empty = [split for role, split in enumerate(SPLIT_NAMES) if not np.any(role_of_row == role)]
    if empty:
        raise ValueError(
            f"{metadata.path}: its {len(lesions)} lesion(s) leave the {' and '.join(empty)} "
            f"split(s) empty ({TEST_FRACTION:.0%} of the lesions go to test, {VAL_FRACTION:.0%} "
            "of the rest to val, by label); expected enough lesions of each label for all three"
        )
    order = np.argsort(metadata.image_ids, kind="stable")
    return {split: order[role_of_row[order] == role] for role, split in enumerate(SPLIT_NAMES)}


def image_files(root: Path, metadata: Metadata) -> np.ndarray:
    """The JPEG of every CSV row, found in the image folder(s) of ``root``."""
    folders = [root / name for name in IMAGE_FOLDERS if (root / name).is_dir()]
    if not folders:
        raise FileNotFoundError(
            f"{root}: no image folder ({', '.join(IMAGE_FOLDERS)}) found; {EXPECTED_LAYOUT}"
        )
    found: dict[str, str] = {}
    for folder in folders:
        with os.scandir(folder) as entries:
            for entry in entries:
                stem, extension = os.path.splitext(entry.name)
                if extension.lower() != ".jpg":
                    continue
                if stem in found:
                    raise ValueError(
                        f"{entry.path} and {found[stem]}: image {stem!r} found twice; "
                        "expected each image in one folder"
                    )
                found[stem] = entry.path
    missing = [image for image in metadata.image_ids if image not in found]
    if missing:
        listed = ", ".join(f"{image}.jpg" for image in missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} image(s) of {metadata.path} not found in "
            f"{', '.join(map(str, folders))} (first: {listed}); {EXPECTED_LAYOUT}"
        )
    return np.array([found[image] for image in metadata.image_ids])


def root_folder(root: Any) -> Path:
    """The ``root`` option as the HAM10000 folder."""
    return require_folder("root", root, EXPECTED_LAYOUT)


def ham10000_files(options: dict[str, Any]) -> list[Path]:
    """The metadata CSV (the images are too many to list)."""
    return [Path(options["root"]).expanduser() / METADATA]


def ham10000_content_files(options: dict[str, Any]) -> list[Path]:
    """Every file :func:`load_ham10000` reads for ``options`` (defaults filled): the metadata,
    then the JPEG of each row."""
    folder = root_folder(options["root"])
    metadata = read_metadata(folder)
    return [metadata.path, *map(Path, image_files(folder, metadata).tolist())]


def ham10000_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_ham10000` for ``options`` (defaults filled), from the CSV
    alone (fewer when ``on_unreadable: skip`` leaves images out)."""
    seed = require_int("seed", options["seed"], 0)
    rows = lesion_split(read_metadata(root_folder(options["root"])), seed)
    return {split: len(rows[split]) for split in SPLIT_NAMES}


def load_ham10000(
    root: str,
    size: int = 224,
    seed: int = 0,
    on_unreadable: str = "error",
    workers: int | None = None,
) -> DatasetSplits:
    """The HAM10000 splits: images uint8 (N, 3, size, size), decoded while they are written.

    ``on_unreadable``: "error" stops at an unreadable JPEG, naming it; "skip" leaves it out
    (logged; counted in ``meta.json``). ``workers``: decoding processes (default: the cores this
    job has); it does not change the data. Every split stores ``source_row``, the sample's row
    (0-based, after the header) in the CSV.
    """
    folder = root_folder(root)
    decoding = Decoding.checked(size, on_unreadable, workers)
    seed = require_int("seed", seed, 0)
    metadata = read_metadata(folder)
    files = image_files(folder, metadata)
    parts = {
        split: decoding.split(
            tuple(files[rows].tolist()), "RGB", metadata.labels[rows], rows, EXPECTED_LAYOUT
        )
        for split, rows in lesion_split(metadata, seed).items()
    }
    return DatasetSplits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        class_names=list(CLASS_NAMES),
        source=(
            f"HAM10000 (Tschandl et al. 2018, {DOWNLOAD_PAGE}) at {folder.resolve()}: "
            f"{decoding.size}x{decoding.size} RGB (shorter side resized, centre crop), split by "
            f"lesion (test {TEST_FRACTION:.0%}, val {VAL_FRACTION:.0%} of the rest), seed {seed}"
        ),
        options={
            "root": str(root),
            "size": decoding.size,
            "seed": seed,
            "on_unreadable": decoding.on_unreadable,
        },
    )
