"""HAM10000 dermatoscopic images (Tschandl et al., Scientific Data 5:180161, 2018), the paper's
binary task: does a lesion need attention (dx akiec, bcc or mel: label 1) or not (0)?

The official download (Harvard Dataverse, doi:10.7910/DVN/DBW86T) holds the metadata (one row per
image: lesion_id, image_id, dx, dx_type, age, sex, localization) and the 600x450 RGB JPEGs
``<image_id>.jpg`` in ``HAM10000_images_part_1.zip`` and ``HAM10000_images_part_2.zip``, which
hold them with no folder. The metadata is read as ``HAM10000_metadata.csv``, ``HAM10000_metadata``
(the name in the "download all" bundle) or ``HAM10000_metadata.tab`` (the Dataverse's tabular
export), comma or tab separated, with or without a byte-order mark; the JPEGs are found by
image_id anywhere under ``root`` (one walk), so every way of unzipping them works. Several images
may show one lesion, so the split is by lesion: stratified by label and seeded, 10 % of the
lesions are the test set, 10 % of the rest the validation set, the others the training set; no
lesion is in two splits. Images are resized (shorter side to ``size``) and centre-cropped to
``size`` x ``size`` (Ziller et al., 2024).
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
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
from rero.data.planning_cache import Survey
from rero.data.shapes import DatasetShape
from rero.data.unpacked import (
    archive_suffix,
    file_problems,
    first,
    is_appledouble,
    unpack_command,
    walk_files,
)

DOWNLOAD_PAGE = "https://doi.org/10.7910/DVN/DBW86T"
METADATA_NAMES = ("HAM10000_metadata.csv", "HAM10000_metadata", "HAM10000_metadata.tab")
IMAGE_ARCHIVES = ("HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip")
EXPECTED_LAYOUT = (
    f"expected the HAM10000 download from the Harvard Dataverse ({DOWNLOAD_PAGE}) in the folder "
    f"given as option 'root': the metadata <root>/{METADATA_NAMES[0]} (or {METADATA_NAMES[1]}, "
    f"{METADATA_NAMES[2]}; comma or tab separated; columns lesion_id, image_id, dx, ...) and the "
    f"JPEGs <image_id>.jpg anywhere under <root>, as {' and '.join(IMAGE_ARCHIVES)} unzip"
)
COLUMNS = ("lesion_id", "image_id", "dx")
DIAGNOSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
NEEDS_ATTENTION = ("akiec", "bcc", "mel")
CLASS_NAMES = ("no urgent attention (bkl, df, nv, vasc)", "needs attention (akiec, bcc, mel)")
TEST_FRACTION = 0.1  # of the lesions
VAL_FRACTION = 0.1  # of the lesions left after the test set


@dataclass(frozen=True)
class Metadata:
    """The columns of the metadata file at ``path`` that the loader uses, one entry per row."""

    path: Path
    image_ids: np.ndarray
    lesion_ids: np.ndarray
    labels: np.ndarray


def metadata_files(root: Path) -> list[Path]:
    """The metadata files of :data:`METADATA_NAMES` in ``root`` (none if it is no folder)."""
    return [root / name for name in METADATA_NAMES if (root / name).is_file()]


def metadata_path(root: Path) -> Path:
    """The one metadata file in ``root``; an error naming what is there if none or several."""
    found = metadata_files(root)
    if len(found) > 1:
        raise ValueError(
            f"{root}: holds {', '.join(path.name for path in found)}; expected one metadata file "
            f"(keep one: rm {' '.join(str(path) for path in found[1:])})"
        )
    if not found:
        raise FileNotFoundError(
            f"{root}: no metadata file ({', '.join(METADATA_NAMES)}) found{metadata_hint(root)}"
        )
    return found[0]


def metadata_hint(root: Path) -> str:
    """What to do when ``root`` has no metadata file: set ``root`` to the folder one level down
    that has it, or unpack the archive in ``root`` that may hold it; else the layout."""
    deeper = sorted(
        path
        for name in METADATA_NAMES
        for path in root.glob(f"*/{name}")
        if path.is_file() and not path.parent.name.startswith(".")
    )
    if deeper:
        return f" (found {deeper[0]}: set the option 'root' to {deeper[0].parent})"
    bundles = sorted(
        path
        for path in root.iterdir()
        if archive_suffix(path.name) and path.name not in IMAGE_ARCHIVES and path.is_file()
    )
    if bundles:
        return (
            f" (found the archive {bundles[0]}: unpack it with "
            f"`{unpack_command(bundles[0], root)}`)"
        )
    return f"; {EXPECTED_LAYOUT}"


def read_metadata(root: Path) -> Metadata:
    """The metadata of ``root`` (:func:`metadata_path`), checked: columns, known dx, each image
    once."""
    path = metadata_path(root)
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


@dataclass(frozen=True)
class ImageIndex:
    """Every ``<image_id>.jpg`` under a folder, from one walk: the path of each image_id, the
    second path of an image_id found twice, the JPEGs per folder, the zip archives found and
    the folders listed."""

    paths: dict[str, str]
    twice: dict[str, str]
    per_folder: Counter[str]
    archives: tuple[str, ...]
    folders: tuple[str, ...]

    @classmethod
    def of(cls, root: Path) -> ImageIndex:
        paths: dict[str, str] = {}
        twice: dict[str, str] = {}
        per_folder: Counter[str] = Counter()
        archives = []
        folders: list[str] = []
        for entry in walk_files(root, folders):
            stem, extension = os.path.splitext(entry.name)
            if extension.lower() == ".jpg":
                per_folder[os.path.dirname(entry.path)] += 1
                if stem in paths:
                    twice.setdefault(stem, entry.path)
                else:
                    paths[stem] = entry.path
            elif extension.lower() == ".zip":
                archives.append(entry.path)
        return cls(paths, twice, per_folder, tuple(archives), tuple(folders))

    def found(self, root: Path) -> str:
        """Where the JPEGs are, in words: the count in each folder, the largest first."""
        if not self.per_folder:
            return f"found no JPEG under {root}"
        places = [
            f"{count} directly in {root}" if folder == str(root) else f"{count} in {folder}"
            for folder, count in self.per_folder.most_common()
        ]
        return f"found {sum(self.per_folder.values())} JPEG(s): {first(places)}"


def zip_members(archive: str) -> dict[str, str]:
    """image_id -> member name of the JPEGs in the zip ``archive`` (none if it is unreadable)."""
    try:
        with zipfile.ZipFile(archive) as packed:
            names = packed.namelist()
    except (OSError, zipfile.BadZipFile):
        return {}
    members = {}
    for name in names:
        stem, extension = os.path.splitext(os.path.basename(name))
        if extension.lower() == ".jpg" and not is_appledouble(stem):
            members[stem] = name
    return members


def unzip_fix(root: Path, index: ImageIndex, missing: set[str]) -> str:
    """The command that unpacks the missing images from the zips found under ``root`` that hold
    them: into the folder where the zip's other images are, else a folder named after the zip
    (or, if no zip holds them, the download and the commands for it)."""
    commands = []
    for archive in index.archives:
        members = zip_members(archive)
        if not missing & set(members):
            continue
        unpacked = next((image for image in members if image in index.paths), None)
        into = Path(archive).with_suffix("")
        if unpacked is not None and index.paths[unpacked].endswith(members[unpacked]):
            into = Path(index.paths[unpacked][: -len(members[unpacked])] or ".")
        commands.append(unpack_command(Path(archive), into))
    if commands:
        return f"unpack the archive(s) that hold them: `{' && '.join(commands)}`"
    commands = [unpack_command(root / name, root / Path(name).stem) for name in IMAGE_ARCHIVES]
    return (
        f"download {' and '.join(IMAGE_ARCHIVES)} from {DOWNLOAD_PAGE} into {root} and unpack "
        f"them: `{' && '.join(commands)}`"
    )


def image_files(
    root: Path, index: ImageIndex, metadata: Metadata, on_unreadable: str
) -> np.ndarray:
    """The JPEG of every metadata row, found by image_id in ``index`` (of ``root``), each checked
    to be a non-empty regular file (an empty one passes when ``on_unreadable`` is "skip": it is
    left out as unreadable when decoded). Errors give the count, the first few and the fix."""
    listed = [str(image) for image in metadata.image_ids]
    doubled = [
        f"{index.paths[image]} and {index.twice[image]}" for image in listed if image in index.twice
    ]
    if doubled:
        raise ValueError(
            f"{len(doubled)} image(s) of {metadata.path} found twice under {root} (first: "
            f"{first(doubled)}); expected each JPEG once: delete the second copy of each"
        )
    missing = [image for image in listed if image not in index.paths]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(listed)} image(s) listed in {metadata.path} not found under "
            f"{root} (first: {first([f'{image}.jpg' for image in missing])}); "
            f"{index.found(root)}; {unzip_fix(root, index, set(missing))}"
        )
    files = [index.paths[image] for image in listed]
    problems = file_problems(files, allow_empty=on_unreadable == "skip")
    if problems:
        raise ValueError(
            f"{len(problems)} of {len(listed)} image(s) listed in {metadata.path} cannot be read "
            f"(first: {first(problems)}); expected non-empty JPEG files: unzip them again, "
            "overwriting (unzip -o), or set the option on_unreadable: skip to leave empty ones out"
        )
    return np.array(files)


def root_folder(root: Any) -> Path:
    """The ``root`` option as the HAM10000 folder."""
    return require_folder("root", root, EXPECTED_LAYOUT)


def ham10000_files(options: dict[str, Any]) -> list[Path]:
    """The metadata file (the images are too many to list): the one found in ``root``, else the
    name expected first."""
    root = Path(options["root"]).expanduser()
    return metadata_files(root) or [root / METADATA_NAMES[0]]


def ham10000_content_files(options: dict[str, Any]) -> list[Path]:
    """Every file :func:`load_ham10000` reads for ``options`` (defaults filled): the metadata,
    then the JPEG of each row."""
    folder = root_folder(options["root"])
    metadata = read_metadata(folder)
    images = image_files(folder, ImageIndex.of(folder), metadata, options["on_unreadable"])
    return [metadata.path, *map(Path, images.tolist())]


def ham10000_survey(options: dict[str, Any]) -> Survey:
    """Before any job: the options, the split sizes and every file :func:`load_ham10000` reads
    for ``options`` (defaults filled), which identify the source by content: the metadata and
    the JPEG of each row, one stat each; the folders walked to find them are watched."""
    folder = root_folder(options["root"])
    decoding = Decoding.checked(options["size"], options["on_unreadable"], options["workers"])
    seed = require_int("seed", options["seed"], 0)
    metadata = read_metadata(folder)
    index = ImageIndex.of(folder)
    images = image_files(folder, index, metadata, decoding.on_unreadable)
    rows = lesion_split(metadata, seed)
    return Survey(
        split_sizes={split: len(rows[split]) for split in SPLIT_NAMES},
        files=(metadata.path, *map(Path, images.tolist())),
        watched=tuple(map(Path, index.folders)),
    )


def ham10000_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_ham10000` for ``options`` (defaults filled), from the CSV
    alone (fewer when ``on_unreadable: skip`` leaves images out)."""
    seed = require_int("seed", options["seed"], 0)
    rows = lesion_split(read_metadata(root_folder(options["root"])), seed)
    return {split: len(rows[split]) for split in SPLIT_NAMES}


def ham10000_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_ham10000` gives for ``options`` (defaults filled), from the options
    alone: RGB ``size`` x ``size`` images of the two :data:`CLASS_NAMES`."""
    size = Decoding.checked(options["size"], options["on_unreadable"], options["workers"]).size
    return DatasetShape("classification", len(CLASS_NAMES), (3, size, size))


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
    files = image_files(folder, ImageIndex.of(folder), metadata, decoding.on_unreadable)
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
