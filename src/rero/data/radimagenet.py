"""RadImageNet (Mei et al., Radiology: Artificial Intelligence 4:e210315, 2022): 1.35 million
CT, MR and ultrasound images in 165 classes, grayscale, 224 x 224.

The download (by request, https://www.radimagenet.com/) holds the images under
``radiology_ai/<CT|MR|US>/.../<label>/<file>.png`` (a region level below CT and MR, none below
US) and the official split files ``RadiologyAI_train.csv``, ``RadiologyAI_val.csv`` and
``RadiologyAI_test.csv`` (columns ``filename``, e.g. ``radiology_ai/CT/abd/normal/<file>.png``,
and ``label``). ``root`` is the folder holding ``radiology_ai/`` or ``radiology_ai/`` itself; the
split files are read beside it or inside it, and a filename is resolved against ``radiology_ai/``
with or without its leading ``radiology_ai/``. The classes are the labels of the training CSV,
sorted; images are resized (shorter side) and centre-cropped to ``size`` only when they differ
from it.

Before any job (:func:`radimagenet_survey`) every listed image is looked up in a listing of its
folder (one listing per folder: 0.9 µs a name on a warm local disk, against 6.6 µs a stat, 9 s
for all 1.35 million, and a server round trip a stat on a network file system), and a seeded
sample of :data:`SAMPLE` of them is checked with a stat each to be a non-empty regular file.
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
)
from rero.data.file_hashes import Status, file_status
from rero.data.files import read_csv
from rero.data.images import Decoding
from rero.data.planning_cache import Survey
from rero.data.shapes import DatasetShape
from rero.data.unpacked import archives_in, file_problems, first, unpack_command

REQUEST_PAGE = "https://www.radimagenet.com/"
IMAGE_FOLDER = "radiology_ai"
MODALITIES = ("CT", "MR", "US")
CSV_FILES = {split: f"RadiologyAI_{split}.csv" for split in SPLIT_NAMES}
COLUMNS = ("filename", "label")
SAMPLE = 1000  # images checked with a stat before any job (all of them when fewer)
SAMPLE_SEED = 0
EXPECTED_LAYOUT = (
    f"expected the RadImageNet download ({REQUEST_PAGE}) in the folder given as option 'root': "
    f"<root>/{IMAGE_FOLDER}/<CT|MR|US>/.../<label>/<file>.png and the split files "
    f"{', '.join(CSV_FILES.values())} in <root> or in <root>/{IMAGE_FOLDER}, with columns "
    f"filename (e.g. {IMAGE_FOLDER}/CT/abd/normal/<file>.png, or CT/abd/normal/<file>.png) and "
    f"label; or 'root' set to the {IMAGE_FOLDER} folder itself"
)


@dataclass(frozen=True)
class Layout:
    """Where the pieces of a RadImageNet download are: the ``root`` option's folder, the folder
    of the split CSVs and the image folder (``radiology_ai/``, holding CT/, MR/, US/)."""

    root: Path
    tables: Path
    images: Path

    @classmethod
    def of(cls, root: Path) -> Layout:
        """The layout under ``root``, which holds ``radiology_ai/`` or is it (the CSVs beside or
        inside it); an error saying what is there and how to unpack it otherwise."""
        images = root / IMAGE_FOLDER if (root / IMAGE_FOLDER).is_dir() else root
        if not any((images / modality).is_dir() for modality in MODALITIES):
            raise FileNotFoundError(
                f"{root}: no {IMAGE_FOLDER}/ folder and no {', '.join(MODALITIES)} folder in "
                f"it{unpack_hint(root)}; {EXPECTED_LAYOUT}"
            )
        tables = images if not (root / CSV_FILES["train"]).is_file() else root
        return cls(root, tables, images)

    def image_path(self, filename: str) -> str:
        """The file a CSV's ``filename`` names, with or without its leading ``radiology_ai/``."""
        prefix = f"{IMAGE_FOLDER}/"
        relative = filename[len(prefix) :] if filename.startswith(prefix) else filename
        return os.path.join(self.images, relative)


def tables_folder(root: Path) -> Path:
    """The folder that holds (or should hold) the split CSVs: ``root``, else
    ``root/radiology_ai`` when only that one has the training CSV. Raises nothing."""
    inside = root / IMAGE_FOLDER
    if not (root / CSV_FILES["train"]).is_file() and (inside / CSV_FILES["train"]).is_file():
        return inside
    return root


def unpack_hint(root: Path) -> str:
    """The command that unpacks the archive found in ``root``, if one is."""
    archives = archives_in(root)
    if not archives:
        return ""
    return (
        f" (found the archive {archives[0]}: unpack it with `{unpack_command(archives[0], root)}`)"
    )


def root_folder(root: Any) -> Path:
    """The ``root`` option as the RadImageNet folder."""
    return require_folder("root", root, EXPECTED_LAYOUT)


#: split CSV → (its status when last read in this process, (rows, sorted distinct labels)), so
#: that planning's split sizes, file check and classes share one read of each
_SUMMARIES: dict[Path, tuple[Status, tuple[int, tuple[str, ...]]]] = {}


def read_split_csv(root: Path, split: str) -> tuple[list[str], list[str]]:
    """(filenames, labels) of ``RadiologyAI_<split>.csv``, checked for columns and empty cells;
    its :func:`split_summary` is remembered."""
    path = root / CSV_FILES[split]
    status = file_status(path) if path.is_file() else None
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
    if status is not None:
        _SUMMARIES[path] = (status, (len(filenames), tuple(sorted(set(labels)))))
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
    tables = tables_folder(Path(options["root"]).expanduser())
    return [tables / name for name in CSV_FILES.values()]


def radimagenet_content_files(options: dict[str, Any]) -> list[Path]:
    """Every file :func:`load_radimagenet` reads for ``options``: the split CSVs, then the image
    of each row."""
    layout = Layout.of(root_folder(options["root"]))
    images = [
        Path(layout.image_path(filename))
        for split in SPLIT_NAMES
        for filename in read_split_csv(layout.tables, split)[0]
    ]
    return [*(layout.tables / name for name in CSV_FILES.values()), *images]


def split_summary(tables: Path, split: str) -> tuple[int, tuple[str, ...]]:
    """(rows, sorted distinct labels) of ``RadiologyAI_<split>.csv``: what planning needs of it,
    from this process's last :func:`read_split_csv` of it while the file is unchanged."""
    path = tables / CSV_FILES[split]
    remembered = _SUMMARIES.get(path)
    if remembered is None or not path.is_file() or remembered[0] != file_status(path):
        read_split_csv(tables, split)
    return _SUMMARIES[path][1]


def radimagenet_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_radimagenet`: the rows of each split's CSV (fewer when
    ``on_unreadable: skip`` leaves images out)."""
    tables = tables_folder(root_folder(options["root"]))
    return {split: split_summary(tables, split)[0] for split in SPLIT_NAMES}


def radimagenet_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_radimagenet` gives for ``options`` (defaults filled): grayscale ``size``
    x ``size`` images of the training CSV's labels (read with the split sizes, not again)."""
    size = Decoding.checked(options["size"], options["on_unreadable"], options["workers"]).size
    tables = tables_folder(root_folder(options["root"]))
    classes = split_summary(tables, "train")[1]
    require_classes(tables, list(classes))
    return DatasetShape("classification", len(classes), (1, size, size))


def require_classes(tables: Path, classes: list[str]) -> None:
    """An error unless the training CSV has at least 2 labels."""
    if len(classes) < 2:
        raise ValueError(
            f"{tables / CSV_FILES['train']}: labels {classes}; expected at least 2 classes"
        )


def missing_images(paths: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(missing files, missing folders, every folder) of ``paths``, in their order: one listing
    of each folder (names split off with ``str.rpartition``: 0.4 s for 200,000 paths here, 1.0 s
    with ``os.path``)."""
    by_folder: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        folder, _, name = path.rpartition(os.sep)
        by_folder.setdefault(folder, []).append((name, path))
    missing: set[str] = set()
    folders: list[str] = []
    for folder, listed in by_folder.items():
        try:
            names = set(os.listdir(folder))
        except OSError:
            folders.append(folder)
            names = set()
        missing.update(path for name, path in listed if name not in names)
    return [path for path in paths if path in missing], folders, list(by_folder)


def require_images(layout: Layout, paths: list[str], on_unreadable: str) -> list[str]:
    """An error unless every one of ``paths`` is listed in its folder and a seeded sample of
    :data:`SAMPLE` of them are non-empty regular files (empty ones pass when ``on_unreadable``
    is "skip": they are left out as unreadable when decoded). Returns the images' folders, in
    the order of ``paths``."""
    source = f"the split CSVs in {layout.tables}"
    missing, folders, listed = missing_images(paths)
    if missing:
        absent = f"; {len(folders)} folder(s) missing (first: {first(folders)})" if folders else ""
        found = ", ".join(sorted(os.listdir(layout.images))[:10])
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} image(s) listed in {source} not found (first: "
            f"{first(missing)}){absent}; found in {layout.images}: {found}"
            f"{unpack_hint(layout.root)}; {EXPECTED_LAYOUT}"
        )
    rng = np.random.default_rng(SAMPLE_SEED)
    picked = sorted(rng.choice(len(paths), size=min(SAMPLE, len(paths)), replace=False))
    problems = file_problems([paths[row] for row in picked], allow_empty=on_unreadable == "skip")
    if problems:
        raise ValueError(
            f"{len(problems)} of {len(picked)} image(s) checked (a seeded sample of those listed "
            f"in {source}) cannot be read (first: {first(problems)}); expected non-empty PNG "
            "files: unpack them again, or set the option on_unreadable: skip to leave empty ones "
            "out"
        )
    return listed


def radimagenet_survey(options: dict[str, Any]) -> Survey:
    """Before any job: the options, the split CSVs and the images they list (each looked up in
    its folder's listing, a seeded sample of :data:`SAMPLE` stat-ed) for ``options`` (defaults
    filled). The CSVs identify the source by content, the images' folders by their status (an
    image added, removed, renamed or replaced by a new file changes its folder's); the layout's
    folders are watched."""
    layout = Layout.of(root_folder(options["root"]))
    decoding = Decoding.checked(options["size"], options["on_unreadable"], options["workers"])
    names = {split: read_split_csv(layout.tables, split)[0] for split in SPLIT_NAMES}
    paths = [layout.image_path(filename) for split in SPLIT_NAMES for filename in names[split]]
    folders = require_images(layout, paths, decoding.on_unreadable)
    return Survey(
        split_sizes={split: len(names[split]) for split in SPLIT_NAMES},
        files=tuple(layout.tables / name for name in CSV_FILES.values()),
        folders=tuple(map(Path, folders)),
        watched=(layout.root, layout.images),
    )


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
    layout = Layout.of(folder)
    tables = {split: read_split_csv(layout.tables, split) for split in SPLIT_NAMES}
    classes = sorted(set(tables["train"][1]))
    require_classes(layout.tables, classes)
    require_images(
        layout,
        [layout.image_path(name) for names, _ in tables.values() for name in names],
        decoding.on_unreadable,
    )
    parts = {}
    for split, (filenames, labels) in tables.items():
        paths = tuple(layout.image_path(filename) for filename in filenames)
        parts[split] = decoding.split(
            paths,
            "L",
            label_indices(layout.tables / CSV_FILES[split], labels, classes),
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
