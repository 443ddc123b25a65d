"""Loader for 2-D MedMNIST ``.npz`` files (Yang et al., Scientific Data 10:41, 2023).

The file holds ``{train,val,test}_images`` uint8, (N, H, W) grayscale or (N, H, W, 3) RGB, and
``{train,val,test}_labels`` integers, (N,) or (N, 1). Multi-label files (N, k > 1), such as
ChestMNIST, are not supported. Users bring the file; nothing is downloaded. Images stay uint8
(prepared as they are; ``unit_float`` gives the [0, 1] floats).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rero.data.base import (
    SPLIT_NAMES,
    DatasetSplits,
    Split,
    require_int,
    stratified_quota,
)
from rero.data.files import npz_member, npz_member_header, open_npz, read_npz
from rero.data.shapes import DatasetShape

EXPECTED_FORMAT = (
    "a MedMNIST .npz with keys train_images, train_labels, val_images, val_labels, test_images, "
    "test_labels: images uint8 (N, H, W) or (N, H, W, 3), labels integers (N,) or (N, 1)"
)

# Class names of the single-label 2-D MedMNIST v2 datasets, from the MedMNIST INFO table.
ORGAN_NAMES = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)
KNOWN_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "pathmnist": (
        "adipose",
        "background",
        "debris",
        "lymphocytes",
        "mucus",
        "smooth muscle",
        "normal colon mucosa",
        "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium",
    ),
    "dermamnist": (
        "actinic keratoses and intraepithelial carcinoma",
        "basal cell carcinoma",
        "benign keratosis-like lesions",
        "dermatofibroma",
        "melanoma",
        "melanocytic nevi",
        "vascular lesions",
    ),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "breastmnist": ("malignant", "normal, benign"),
    "bloodmnist": (
        "basophil",
        "eosinophil",
        "erythroblast",
        "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ),
    "tissuemnist": (
        "Collecting Duct, Connecting Tubule",
        "Distal Convoluted Tubule",
        "Glomerular endothelial cells",
        "Interstitial endothelial cells",
        "Leukocytes",
        "Podocytes",
        "Proximal Tubule Segments",
        "Thick Ascending Limb",
    ),
    "organamnist": ORGAN_NAMES,
    "organcmnist": ORGAN_NAMES,
    "organsmnist": ORGAN_NAMES,
}


def known_dataset(path: Path) -> str | None:
    """The MedMNIST dataset a file name refers to ("pneumoniamnist_64.npz" -> "pneumoniamnist")."""
    stem = path.stem.lower().split("_")[0]
    return stem if stem in KNOWN_CLASS_NAMES else None


def image_shape(path: Path, split: str, shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    """(C, H, W) of one image of a split whose ``{split}_images`` array has ``shape`` and
    ``dtype``; an error naming the key unless they are uint8 (N, H, W) or (N, H, W, 3)."""
    if dtype != np.uint8 or not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 3)):
        raise ValueError(
            f"{path}: key '{split}_images' is {dtype} {shape}; "
            "expected uint8 (N, H, W) or (N, H, W, 3)"
        )
    return (1, *shape[1:]) if len(shape) == 3 else (3, *shape[1:3])


def read_split(arrays: dict[str, np.ndarray], path: Path, split: str) -> Split:
    """Check and convert one split: uint8 images channel-first (N, C, H, W), int64 labels."""
    for key in (f"{split}_images", f"{split}_labels"):
        if key not in arrays:
            raise ValueError(f"{path}: missing key {key!r}; expected {EXPECTED_FORMAT}")
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    rgb = image_shape(path, split, images.shape, images.dtype)[0] == 3
    if len(images) == 0:
        raise ValueError(
            f"{path}: key '{split}_images' holds no images (an empty {split} split); "
            "expected N >= 1"
        )
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise ValueError(
            f"{path}: key '{split}_labels' has shape {labels.shape}: multi-label files are not "
            "supported; expected one integer label per image, (N,) or (N, 1)"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape not in (
        (len(images),),
        (len(images), 1),
    ):
        raise ValueError(
            f"{path}: key '{split}_labels' is {labels.dtype} {labels.shape}; "
            f"expected integers of shape ({len(images)},) or ({len(images)}, 1)"
        )
    channels_first = images.transpose(0, 3, 1, 2) if rgb else images[:, np.newaxis]
    return Split(
        images=np.ascontiguousarray(channels_first), labels=labels.reshape(-1).astype(np.int64)
    )


def stratified_subsample(part: Split, total: int, rng: np.random.Generator) -> Split:
    """``total`` samples without replacement, each class keeping its share (largest remainder)."""
    classes, counts = np.unique(part.labels, return_counts=True)
    chosen = [
        rng.choice(np.flatnonzero(part.labels == cls), size=count, replace=False)
        for cls, count in zip(classes, stratified_quota(counts, total), strict=True)
    ]
    keep = np.sort(np.concatenate(chosen))
    return Split(images=part.images[keep], labels=part.labels[keep])


def medmnist_files(options: dict[str, Any]) -> list[Path]:
    """The one file :func:`load_medmnist` reads."""
    return [Path(options["path"]).expanduser()]


def medmnist_split_sizes(options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`load_medmnist` for ``options`` (defaults filled): the file's
    images per split, train cut to ``n_train``; read from the labels, not the images."""
    file = Path(options["path"]).expanduser()
    with open_npz(file, EXPECTED_FORMAT) as archive:
        sizes = {
            split: len(npz_member(archive, file, f"{split}_labels", EXPECTED_FORMAT))
            for split in SPLIT_NAMES
        }
    for split, size in sizes.items():
        if size == 0:
            raise ValueError(
                f"{file}: key '{split}_labels' holds no labels (an empty {split} split); "
                f"expected {EXPECTED_FORMAT}, with N >= 1"
            )
    requested = options.get("n_train")
    if requested is not None:
        if require_int("n_train", requested, 1) > sizes["train"]:
            raise ValueError(
                f"option 'n_train' is {requested}, more than the {sizes['train']} training "
                f"images of {file}"
            )
        sizes["train"] = int(requested)
    return sizes


def medmnist_shape(options: dict[str, Any]) -> DatasetShape:
    """What :func:`load_medmnist` gives for ``options`` (defaults filled): the image shape from
    the ``.npy`` headers of the file's images (their data is not read); the classes of the
    MedMNIST dataset the file name names, else one more than the largest label."""
    file = Path(options["path"]).expanduser()
    name = known_dataset(file)
    with open_npz(file, EXPECTED_FORMAT) as archive:
        shapes = {
            split: image_shape(
                file,
                split,
                *npz_member_header(archive, file, f"{split}_images", EXPECTED_FORMAT),
            )
            for split in SPLIT_NAMES
        }
        if name is None:
            num_classes = 1 + max(
                int(np.max(npz_member(archive, file, f"{split}_labels", EXPECTED_FORMAT)))
                for split in SPLIT_NAMES
            )
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{file}: image shapes differ between splits: {shapes}")
    if name is not None:
        num_classes = len(KNOWN_CLASS_NAMES[name])
    return DatasetShape("classification", num_classes, shapes["train"])


def load_medmnist(path: str, n_train: int | None = None, seed: int = 0) -> DatasetSplits:
    """The three splits of a 2-D MedMNIST ``.npz`` file; optionally a class-stratified train subset.

    Class names come from the MedMNIST table when the file name matches a known dataset,
    otherwise they are the label indices as strings.
    """
    if not isinstance(path, str | Path) or not str(path):
        raise ValueError(f"option 'path' must name a MedMNIST .npz file, got {path!r}")
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{file}: file not found (expected {EXPECTED_FORMAT})")
    seed = require_int("seed", seed, 0)
    arrays = read_npz(file, EXPECTED_FORMAT)
    parts = {split: read_split(arrays, file, split) for split in SPLIT_NAMES}

    name = known_dataset(file)
    shapes = {split: part.images.shape[1:] for split, part in parts.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{file}: image shapes differ between splits: {shapes}")
    num_classes = (
        len(KNOWN_CLASS_NAMES[name])
        if name
        else 1 + max(int(part.labels.max()) for part in parts.values())
    )
    for split, part in parts.items():
        if part.labels.min() < 0 or part.labels.max() >= num_classes:
            raise ValueError(
                f"{file}: key '{split}_labels' has labels in {part.labels.min()}.."
                f"{part.labels.max()}; expected 0..{num_classes - 1}"
                + (f" ({name} has {num_classes} classes)" if name else "")
            )
    present = np.unique(np.concatenate([part.labels for part in parts.values()]))
    if num_classes < 2 or (name is None and len(present) < num_classes):
        raise ValueError(
            f"{file}: labels present are {present.tolist()}; expected at least 2 classes "
            "numbered 0..K-1 with every class present"
        )
    if n_train is not None:
        n_train = require_int("n_train", n_train, 1, len(parts["train"].labels))
        parts["train"] = stratified_subsample(parts["train"], n_train, np.random.default_rng(seed))

    class_names = (
        list(KNOWN_CLASS_NAMES[name]) if name else [str(index) for index in range(num_classes)]
    )
    return DatasetSplits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        class_names=class_names,
        source=f"MedMNIST-format file {file.resolve()}"
        + (f" ({name}, MedMNIST v2, CC BY 4.0)" if name else ""),
        options={"path": str(path), "n_train": n_train, "seed": seed},
    )
