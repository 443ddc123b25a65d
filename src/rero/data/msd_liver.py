"""The Medical Segmentation Decathlon's Task03 Liver: abdominal CT with liver and liver-tumour
masks (Simpson et al. 2019, "A large annotated medical image dataset for the development and
evaluation of segmentation algorithms", arXiv:1902.09063; Antonelli et al. 2022, "The Medical
Segmentation Decathlon", Nature Communications 13:4128), the 3-D segmentation task of Ziller et
al. 2024. The volumes come from the LiTS challenge; the licence is CC BY-SA 4.0.

The download (``Task03_Liver.tar`` from http://medicaldecathlon.com/) unpacks to
``dataset.json``, ``imagesTr/liver_<k>.nii.gz`` (131 CT volumes, HU), ``labelsTr/liver_<k>.nii.gz``
(0 background, 1 liver, 2 cancer) and ``imagesTs/`` (unlabelled, ignored). Only the volumes that
``dataset.json`` lists under "training" are read, so stray files in the folders (the macOS
``._liver_<k>.nii.gz`` twins the tar holds) do no harm; each listed file is checked to be a
non-empty regular file before any job (:func:`msd_liver_survey`).

Preprocessing: each volume is read with nibabel and reoriented to the closest canonical (RAS+)
orientation, windowed to [-150, 200] HU and scaled to float32 [0, 1], then resampled to a grid of
``size`` x ``size`` x ``depth`` voxels in (x, y, z): the image trilinearly, the label by nearest
neighbour (``scipy.ndimage.zoom``, order 1 and 0, corner voxel centres aligned). A sample is
stored as image (1, D, H, W) = (1, z, y, x) and mask (D, H, W) uint8 in {0, 1, 2}. The split is
by volume, seeded: ``n_val`` volumes to val, ``n_test`` to test, the rest to train (131 ->
106 / 12 / 13), each split in the order of ``dataset.json``.

``Split.labels`` (the largest class in each mask) are computed when the splits are built, by
reading every label file (small: uint8, highly compressed) and resampling it; the images are
decoded only when the splits are written, one volume at a time per worker, and each label is
read again then for its mask.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import (
    SPLIT_NAMES,
    Chunk,
    DatasetSplits,
    Moments,
    Split,
    in_order,
    require_folder,
    require_int,
    require_workers,
)
from rero.data.msd_dataset_json import (
    ARCHIVE,
    DATASET_JSON,
    DOWNLOAD_PAGE,
    EXPECTED_LAYOUT,
    Entry,
    read_dataset_json,
)
from rero.data.planning_cache import Survey
from rero.data.shapes import DatasetShape
from rero.data.unpacked import file_problems, first, unpack_command
from rero.data.volumes import canonical_data, open_nifti, resample, spatial_shape, stored_layout

CLASS_NAMES = ("background", "liver", "tumour")
HU_WINDOW = (-150.0, 200.0)


@dataclass(frozen=True)
class Grid:
    """The output grid: ``size`` x ``size`` voxels in x and y, ``depth`` slices in z."""

    size: int
    depth: int

    @property
    def xyz(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.depth)


@dataclass(frozen=True)
class Options:
    """The loader's options, each checked (a ValueError names the option)."""

    size: int
    depth: int
    n_val: int
    n_test: int
    seed: int
    workers: int

    @classmethod
    def checked(
        cls, size: Any, depth: Any, n_val: Any, n_test: Any, seed: Any, workers: Any
    ) -> Options:
        return cls(
            size=require_int("size", size, 16, 1024),
            depth=require_int("depth", depth, 8, 1024),
            n_val=require_int("n_val", n_val, 1),
            n_test=require_int("n_test", n_test, 1),
            seed=require_int("seed", seed, 0),
            workers=require_workers(workers),
        )

    @classmethod
    def of(cls, options: dict[str, Any]) -> Options:
        """:meth:`checked` of a loader options mapping (defaults filled)."""
        keys = ("size", "depth", "n_val", "n_test", "seed", "workers")
        return cls.checked(*(options[key] for key in keys))

    @property
    def grid(self) -> Grid:
        return Grid(self.size, self.depth)


def root_folder(root: Any) -> Path:
    """The ``root`` option as the Task03_Liver folder."""
    return require_folder("root", root, EXPECTED_LAYOUT)


def require_enough(path: Path, entries: Sequence[Entry], options: Options) -> None:
    """An error unless the entries leave at least one volume to train on."""
    needed = options.n_val + options.n_test + 1
    if len(entries) < needed:
        raise ValueError(
            f"{path}: {len(entries)} training volume(s), fewer than n_val + n_test + 1 = "
            f"{needed} (option 'n_val' {options.n_val}, option 'n_test' {options.n_test})"
        )


def require_files(root: Path, entries: Sequence[Entry]) -> None:
    """An error unless every image and label file of ``entries`` is a non-empty regular file
    (one stat each), naming the count, the first few and, when ``Task03_Liver.tar`` is beside
    ``root``, the command that unpacks it again."""
    paths = [str(path) for entry in entries for path in (entry.image, entry.label)]
    problems = file_problems(paths)
    if problems:
        archive = root.parent / ARCHIVE
        fix = (
            f"; unpack {archive} again: `{unpack_command(archive, root.parent)}`"
            if archive.is_file()
            else ""
        )
        raise FileNotFoundError(
            f"{len(problems)} of {len(paths)} file(s) listed in {root / DATASET_JSON} cannot be "
            f"read (first: {first(problems)}){fix}; {EXPECTED_LAYOUT}"
        )


def volume_split(count: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Entry positions of each split, ascending: a seeded permutation, val first, then test."""
    order = np.random.default_rng(seed).permutation(count)
    parts = (order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test])
    return {split: np.sort(part) for split, part in zip(SPLIT_NAMES, parts, strict=True)}


def read_hu(path: Path) -> np.ndarray:
    """The CT volume at ``path``, float32 HU (x, y, z), canonical orientation."""
    return canonical_data(
        path,
        lambda image: image.get_fdata(dtype=np.float32, caching="unchanged"),
        EXPECTED_LAYOUT,
    )


def label_values(labels: np.ndarray) -> np.ndarray:
    """The distinct values in a label volume (a histogram for uint8, the usual dtype)."""
    if labels.dtype == np.uint8:
        return np.flatnonzero(np.bincount(labels.reshape(-1), minlength=256))
    return np.unique(labels)


def read_labels(path: Path) -> np.ndarray:
    """The label volume at ``path``, uint8 (x, y, z) in {0, 1, 2}, canonical orientation."""
    labels = canonical_data(path, lambda image: np.asanyarray(image.dataobj), EXPECTED_LAYOUT)
    values = label_values(labels)
    if not np.isin(values, (0, 1, 2)).all():
        found = ", ".join(f"{value:g}" for value in values[:20].tolist())
        raise ValueError(
            f"{path}: label values {found}{', ...' if len(values) > 20 else ''}; expected only "
            "0 (background), 1 (liver), 2 (cancer)"
        )
    return labels.astype(np.uint8, copy=False)


def window(hu: np.ndarray) -> np.ndarray:
    """HU windowed to ``HU_WINDOW`` and scaled to [0, 1], in place (float32)."""
    low, high = HU_WINDOW
    np.clip(hu, low, high, out=hu)
    hu -= np.float32(low)
    hu /= np.float32(high - low)
    return hu


def read_mask(entry: Entry, grid: Grid) -> tuple[np.ndarray, tuple[int, ...]]:
    """The label of ``entry`` resampled to the grid (D, H, W) uint8, and its canonical shape."""
    labels = read_labels(entry.label)
    return stored_layout(resample(labels, grid.xyz, order=0)), labels.shape


def inspect_case(entry: Entry, grid: Grid) -> int:
    """The largest class in the resampled mask of ``entry``; checks the image header's shape
    against the label's and the label's values."""
    image_shape = spatial_shape(entry.image, open_nifti(entry.image, EXPECTED_LAYOUT).shape)
    label_shape = spatial_shape(entry.label, open_nifti(entry.label, EXPECTED_LAYOUT).shape)
    if image_shape != label_shape:
        raise ValueError(
            f"{entry.image} has shape {image_shape} but its label {entry.label} has shape "
            f"{label_shape}; expected the same voxel grid"
        )
    mask, _ = read_mask(entry, grid)
    return int(mask.max())


def decode_case(position: int, entry: Entry, grid: Grid, label: int) -> Chunk:
    """The chunk of one volume: image (1, 1, D, H, W) float32 [0, 1], mask (1, D, H, W)."""
    hu = read_hu(entry.image)
    image_shape = hu.shape
    volume = resample(window(hu), grid.xyz, order=1)
    del hu
    image = stored_layout(np.clip(volume, 0.0, 1.0, out=volume))[np.newaxis, np.newaxis]
    mask, label_shape = read_mask(entry, grid)
    if label_shape != image_shape:
        raise ValueError(
            f"{entry.image} has shape {image_shape} but its label {entry.label} has shape "
            f"{label_shape} (canonical orientation); expected the same voxel grid"
        )
    if int(mask.max()) != label:
        raise ValueError(
            f"{entry.label}: largest class {int(mask.max())}, but {label} when the split was "
            "built; the file changed meanwhile"
        )
    index = np.array([position], dtype=np.int64)
    return Chunk(index, image, Moments.of(image), masks=mask[np.newaxis])


@dataclass(frozen=True)
class LiverVolumes:
    """The volumes of one split as an :class:`~rero.data.base.ImageSource`: float32
    (1, depth, size, size) images with their masks, one volume per chunk, decoded by
    ``workers`` processes; ``labels`` are the largest classes found when the split was built."""

    entries: tuple[Entry, ...]
    grid: Grid
    labels: tuple[int, ...]
    workers: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (1, self.grid.depth, self.grid.size, self.grid.size)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.entries)

    def chunks(self) -> Iterator[Chunk]:
        tasks = [
            (position, entry, self.grid, label)
            for position, (entry, label) in enumerate(zip(self.entries, self.labels, strict=True))
        ]
        yield from in_order(decode_case, tasks, self.workers)


def msd_liver_files(options: dict[str, Any]) -> list[Path]:
    """``dataset.json`` (the volumes are too large to hash on every run)."""
    return [Path(options["root"]).expanduser() / DATASET_JSON]


def msd_liver_content_files(options: dict[str, Any]) -> list[Path]:
    """Every file :func:`load_msd_liver` reads for ``options``: ``dataset.json``, then each
    entry's volume and label map."""
    folder = root_folder(options["root"])
    volumes = [path for entry in read_dataset_json(folder) for path in (entry.image, entry.label)]
    return [folder / DATASET_JSON, *volumes]


def msd_liver_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_msd_liver` for ``options`` (defaults filled), from
    ``dataset.json`` alone."""
    checked = Options.of(options)
    folder = root_folder(options["root"])
    entries = read_dataset_json(folder)
    require_enough(folder / DATASET_JSON, entries, checked)
    rows = volume_split(len(entries), checked.n_val, checked.n_test, checked.seed)
    return {split: len(rows[split]) for split in SPLIT_NAMES}


def msd_liver_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_msd_liver` gives for ``options`` (defaults filled), from the options
    alone: one-channel ``depth`` x ``size`` x ``size`` volumes, each voxel one of
    :data:`CLASS_NAMES`."""
    checked = Options.of(options)
    return DatasetShape(
        "segmentation", len(CLASS_NAMES), (1, checked.depth, checked.size, checked.size)
    )


def msd_liver_survey(options: dict[str, Any]) -> Survey:
    """Before any job: the options, the split sizes and every file :func:`load_msd_liver` reads
    for ``options`` (defaults filled), which identify the source by content: ``dataset.json``
    and each volume it lists, one stat each."""
    sizes = msd_liver_split_sizes(options)
    folder = root_folder(options["root"])
    entries = read_dataset_json(folder)
    require_files(folder, entries)
    volumes = (path for entry in entries for path in (entry.image, entry.label))
    return Survey(sizes, (folder / DATASET_JSON, *volumes))


def load_msd_liver(
    root: str,
    size: int = 128,
    depth: int = 50,
    n_val: int = 12,
    n_test: int = 13,
    seed: int = 0,
    workers: int | None = None,
) -> DatasetSplits:
    """The MSD Task03 Liver splits: images float32 (N, 1, depth, size, size), masks uint8
    (N, depth, size, size), decoded while they are written.

    Every label file is read (and checked) here, for ``Split.labels``; a missing file, a label
    outside {0, 1, 2} or an image and label of different shapes stops before any image is
    decoded. ``workers``: decoding processes (default: the cores this job has); it does not
    change the data. Every split stores ``case``, the k of ``liver_<k>.nii.gz``.
    """
    options = Options.checked(size, depth, n_val, n_test, seed, workers)
    folder = root_folder(root)
    entries = read_dataset_json(folder)
    require_enough(folder / DATASET_JSON, entries, options)
    require_files(folder, entries)
    grid = options.grid
    largest = np.array(
        list(in_order(inspect_case, [(entry, grid) for entry in entries], options.workers)),
        dtype=np.int64,
    )
    cases = np.array([entry.case for entry in entries], dtype=np.int64)
    parts = {}
    for split, rows in volume_split(
        len(entries), options.n_val, options.n_test, options.seed
    ).items():
        source = LiverVolumes(
            tuple(entries[row] for row in rows),
            grid,
            tuple(largest[rows].tolist()),
            options.workers,
        )
        parts[split] = Split(source, largest[rows], {"case": cases[rows]})
    return DatasetSplits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        class_names=list(CLASS_NAMES),
        source=(
            f"MSD Task03 Liver (Simpson et al. 2019, Antonelli et al. 2022, {DOWNLOAD_PAGE}) at "
            f"{folder.resolve()}: CT windowed to [{HU_WINDOW[0]:g}, {HU_WINDOW[1]:g}] HU, "
            f"resampled to {options.size}x{options.size}x{options.depth} (x, y, z), split by "
            f"volume (val {options.n_val}, test {options.n_test}), seed {options.seed}"
        ),
        options={
            "root": str(root),
            "size": options.size,
            "depth": options.depth,
            "n_val": options.n_val,
            "n_test": options.n_test,
            "seed": options.seed,
        },
        task="segmentation",
    )
