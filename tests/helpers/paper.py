"""Tiny HAM10000 and RadImageNet folders in exactly the official layouts, made with Pillow.

The images are synthetic but learnable: in HAM10000 a lesion that needs attention is a darker
disc, in RadImageNet class k brightens horizontal band k. Both functions are fast enough to
write a few hundred small images for a CPU workflow run. :func:`pack_ham10000` turns a HAM10000
folder into the Harvard Dataverse download itself (the metadata as the bundle or the tabular
export names it, the JPEGs in two zips with no folder inside), for tests that unzip it as users do.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from rero.data import ham10000, radimagenet
from tests.helpers import REPO
from tests.helpers.msd import write_msd_liver

PAPER_CONFIG = REPO / "workflow" / "configs" / "paper.yaml"

# dx frequencies of the real HAM10000 (Tschandl et al. 2018, Table 1), rounded.
DX_SHARES = {
    "nv": 0.670,
    "mel": 0.111,
    "bkl": 0.110,
    "bcc": 0.051,
    "akiec": 0.033,
    "vasc": 0.014,
    "df": 0.011,
}
DX_TYPES = ("histo", "follow_up", "consensus", "confocal")
SITES = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "scalp")
HAM_METADATA = "HAM10000_metadata.csv"
HAM_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2", "HAM10000_images")
# the official tree has a region level below CT and MR, none below US
RADIMAGENET_CLASSES = ("CT/abd/normal", "CT/lung/nodule", "MR/knee/normal", "US/thyroid")
HAM_ARCHIVES = ("HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip")


def lesion_image(
    size: tuple[int, int], needs_attention: bool, rng: np.random.Generator
) -> np.ndarray:
    """An RGB uint8 (height, width, 3) skin-coloured image with one disc-shaped lesion."""
    width, height = size
    y, x = np.ogrid[:height, :width]
    skin = np.array([224, 172, 150]) + rng.integers(-12, 13, size=3)
    lesion = np.array([70, 40, 30] if needs_attention else [160, 110, 90]) + rng.integers(-15, 16)
    cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65)
    radius = min(width, height) * rng.uniform(0.15, 0.35)
    inside = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
    shade = (y / height * 20).astype(np.int64)
    image = np.where(inside[..., np.newaxis], lesion, skin) - shade[..., np.newaxis]
    return np.clip(image, 0, 255).astype(np.uint8)


def write_ham10000(
    root: Path,
    num_lesions: int,
    images_per_lesion: int | tuple[int, int] = (1, 3),
    size: tuple[int, int] = (600, 450),
    seed: int = 0,
    two_folders: bool = True,
) -> Path:
    """A HAM10000 folder: ``HAM10000_metadata.csv`` and ``<image_id>.jpg`` files.

    ``images_per_lesion``: a count, or an inclusive (low, high) range drawn per lesion.
    ``size``: (width, height) of the JPEGs (the originals are 600 x 450). ``two_folders``: the
    images in ``HAM10000_images_part_1/`` and ``_part_2/`` (as downloaded), else in one folder.
    Rows are grouped by lesion; image ids are shuffled across lesions. Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    if isinstance(images_per_lesion, int):
        images_per_lesion = (images_per_lesion, images_per_lesion)
    counts = rng.integers(images_per_lesion[0], images_per_lesion[1] + 1, size=num_lesions)
    shares = np.array(list(DX_SHARES.values()))
    dx = rng.choice(list(DX_SHARES), size=num_lesions, p=shares / shares.sum())
    image_numbers = 24306 + rng.permutation(int(counts.sum()))
    split_at = np.median(image_numbers)
    names = HAM_FOLDERS[:2] if two_folders else HAM_FOLDERS[2:]
    folders = [root / name for name in names]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    rows = []
    numbers = iter(image_numbers)
    for lesion in range(num_lesions):
        for _ in range(counts[lesion]):
            number = next(numbers)
            image_id = f"ISIC_{number:07d}"
            pixels = lesion_image(size, dx[lesion] in ham10000.NEEDS_ATTENTION, rng)
            folder = folders[0] if number < split_at else folders[-1]
            Image.fromarray(pixels).save(folder / f"{image_id}.jpg", quality=90)
            rows.append(
                {
                    "lesion_id": f"HAM_{lesion:07d}",
                    "image_id": image_id,
                    "dx": dx[lesion],
                    "dx_type": rng.choice(DX_TYPES),
                    "age": float(5 * rng.integers(0, 18)),
                    "sex": rng.choice(["male", "female"]),
                    "localization": rng.choice(SITES),
                }
            )
    with open(root / HAM_METADATA, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def pack_ham10000(root: Path, metadata: str = "HAM10000_metadata") -> Path:
    """The HAM10000 folder ``root`` (two image folders) turned into the Dataverse download: each
    ``HAM10000_images_part_<k>/`` into ``HAM10000_images_part_<k>.zip`` holding its JPEGs with no
    folder (plus a macOS ``__MACOSX/._<name>`` twin of the first), and ``HAM10000_metadata.csv``
    renamed ``metadata``: "HAM10000_metadata" (the bundle's name) keeps it comma-separated,
    "HAM10000_metadata.tab" rewrites it tab-separated with quoted text, as the Dataverse's
    tabular export. Returns ``root``."""
    for folder_name, archive in zip(HAM_FOLDERS[:2], HAM_ARCHIVES, strict=True):
        folder = root / folder_name
        images = sorted(folder.iterdir())
        with zipfile.ZipFile(root / archive, "w") as packed:
            for image in images:
                packed.write(image, image.name)
            packed.writestr(f"__MACOSX/._{images[0].name}", b"\x00\x05\x16\x07AppleDouble")
        for image in images:
            image.unlink()
        folder.rmdir()
    source = root / HAM_METADATA
    if metadata.endswith(".tab"):
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
        with open(root / metadata, "w", newline="") as handle:
            handle.write("\t".join(rows[0]) + "\n")  # the header unquoted, text cells quoted
            writer = csv.DictWriter(
                handle, fieldnames=list(rows[0]), delimiter="\t", quoting=csv.QUOTE_NONNUMERIC
            )
            writer.writerows({**row, "age": float(row["age"])} for row in rows)
        source.unlink()
    else:
        source.rename(root / metadata)
    return root


def radiology_image(
    size: tuple[int, int], cls: int, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """A grayscale uint8 (height, width) image whose band ``cls`` of ``num_classes`` is bright."""
    width, height = size
    image = rng.integers(0, 96, size=(height, width))
    band = max(1, height // num_classes)
    image[cls * band : (cls + 1) * band] += 128
    return image.astype(np.uint8)


def write_radimagenet(
    root: Path,
    per_class: tuple[int, int, int] = (6, 2, 2),
    classes: Sequence[str] = RADIMAGENET_CLASSES,
    seed: int = 0,
    size: tuple[int, int] = (224, 224),
    csv_inside: bool = False,
) -> Path:
    """A RadImageNet folder: ``radiology_ai/<class path>/<file>.png`` and the three
    ``RadiologyAI_{train,val,test}.csv`` files (columns filename, as
    ``radiology_ai/<class path>/<file>.png``, and label).

    ``per_class``: (train, val, test) images of each class; ``classes``: class folders under
    ``radiology_ai/`` (e.g. "CT/abd/normal"), whose label is the path with "-" for "/"
    ("CT-abd-normal"); ``size``: (width, height) of the grayscale PNGs; ``csv_inside``: the CSVs
    in ``radiology_ai/`` (as some public code keeps them), else beside it. Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    tables: dict[str, list[dict[str, str]]] = {split: [] for split in radimagenet.CSV_FILES}
    for index, class_path in enumerate(classes):
        folder = root / radimagenet.IMAGE_FOLDER / class_path
        folder.mkdir(parents=True, exist_ok=True)
        stem = class_path.replace("/", "_").lower()
        number = 0
        for split, count in zip(radimagenet.CSV_FILES, per_class, strict=True):
            for _ in range(count):
                name = f"{stem}{number:06d}.png"
                number += 1
                Image.fromarray(radiology_image(size, index, len(classes), rng)).save(folder / name)
                tables[split].append(
                    {
                        "filename": f"{radimagenet.IMAGE_FOLDER}/{class_path}/{name}",
                        "label": class_path.replace("/", "-"),
                    }
                )
    tables_folder = root / radimagenet.IMAGE_FOLDER if csv_inside else root
    for split, rows in tables.items():
        with open(tables_folder / radimagenet.CSV_FILES[split], "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["filename", "label"])
            writer.writeheader()
            writer.writerows(rows)
    return root


def paper_config(tmp_path) -> dict:
    """The shipped paper config with its two roots pointed at generated data in the real layout.

    The generated sets are far smaller than the paper's logical batches (2,048 and 3,328),
    RadImageNet's attacked batches (5 x 128), the imprint bins (32, 256 and 10, placed by
    quantiles of the val split), MSD Liver's 12 + 13 held-out volumes and the prior-aware sets,
    so those are scaled down to fit (all are checked against the split sizes before any job);
    nothing else changes.
    """
    config = yaml.safe_load(PAPER_CONFIG.read_text())
    ham = write_ham10000(tmp_path / "HAM10000", num_lesions=60, size=(60, 45))
    rad = write_radimagenet(tmp_path / "RadImageNet", per_class=(12, 1, 1), size=(32, 32))
    for name, root in (("ham10000", ham), ("radimagenet", rad)):
        config["datasets"][name]["options"]["root"] = str(root)
        config["datasets"][name]["training"]["batch_size"] = 8
    config["datasets"]["ham10000"]["attack"]["imprint"].update(num_bins=8)
    config["datasets"]["radimagenet"]["attack"]["imprint"].update(batch_size=8, num_bins=4)
    liver = config["datasets"]["msd_liver"]
    liver["options"].update(root=str(write_msd_liver(tmp_path / "Task03_Liver", 12)))
    liver["options"].update(n_val=3, n_test=3)
    liver["attack"]["imprint"].update(num_bins=3)
    liver["attack"]["prior_aware"] = {"prior_size": 2, "known_size": 4}
    return config
