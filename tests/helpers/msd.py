"""A tiny Medical Segmentation Decathlon Task03 Liver folder in exactly the official layout.

Each case is a small int16 CT volume in HU: air (-1000) around an elliptic body (0 HU) with a
bone block (700 HU), a liver ellipsoid (60 HU, label 1) placed at random and, in odd cases, a
tumour (20 HU, label 2) inside it. The affine has non-unit spacing (0.8, 0.8, 2.5) mm, as CT
does. ``dataset.json`` lists the cases in a shuffled order (the official one is not sorted
either) and ``imagesTs/`` holds two unlabelled volumes the loader must ignore.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
AIR_HU, BODY_HU, BONE_HU, LIVER_HU, TUMOUR_HU = -1000, 0, 700, 60, 20


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    """``data`` saved as a gzipped NIfTI-1 file with ``affine``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    return path


def liver_case(
    shape: tuple[int, int, int], tumour: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(int16 HU volume, uint8 label volume), both (x, y, z) of ``shape``."""
    centres = [(np.arange(n, dtype=np.float64) + 0.5) / n for n in shape]  # in (0, 1)
    x, y, z = np.meshgrid(*centres, indexing="ij")
    hu = np.full(shape, AIR_HU, dtype=np.int16)
    labels = np.zeros(shape, dtype=np.uint8)
    hu[((x - 0.5) / 0.46) ** 2 + ((y - 0.5) / 0.4) ** 2 < 1] = BODY_HU
    hu[(np.abs(x - 0.5) < 0.06) & (y > 0.75) & (y < 0.85)] = BONE_HU
    centre = (0.35 + rng.uniform(-0.04, 0.04), 0.45 + rng.uniform(-0.04, 0.04), 0.5)
    radii = (0.2, 0.2, 0.4)
    liver = (
        sum(((axis - c) / r) ** 2 for axis, c, r in zip((x, y, z), centre, radii, strict=True)) < 1
    )
    hu[liver] = LIVER_HU
    labels[liver] = 1
    if tumour:
        inner = sum(((axis - c) / 0.1) ** 2 for axis, c in zip((x, y, z), centre, strict=True)) < 1
        hu[inner] = TUMOUR_HU
        labels[inner] = 2
    return hu, labels


def write_msd_liver(
    root: Path,
    num_cases: int = 6,
    shape: tuple[int, int, int] = (40, 36, 12),
    seed: int = 0,
) -> Path:
    """A Task03_Liver folder at ``root``: ``dataset.json``, ``imagesTr/liver_<k>.nii.gz`` and
    ``labelsTr/liver_<k>.nii.gz`` for k < ``num_cases`` (a tumour in odd cases), two
    ``imagesTs/`` volumes. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for case in range(num_cases):
        hu, labels = liver_case(shape, tumour=case % 2 == 1, rng=rng)
        save_nifti(root / "imagesTr" / f"liver_{case}.nii.gz", hu)
        save_nifti(root / "labelsTr" / f"liver_{case}.nii.gz", labels)
    tests = [num_cases + offset for offset in range(2)]
    for case in tests:
        save_nifti(root / "imagesTs" / f"liver_{case}.nii.gz", liver_case(shape, True, rng)[0])
    order = rng.permutation(num_cases).tolist()
    dataset = {
        "name": "LiTS",
        "description": "Liver and liver tumor segmentation",
        "reference": "https://competitions.codalab.org/competitions/17094",
        "licence": "CC-BY-SA 4.0",
        "relase": "1.0 04/05/2018",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "numTraining": num_cases,
        "numTest": len(tests),
        "training": [
            {"image": f"./imagesTr/liver_{case}.nii.gz", "label": f"./labelsTr/liver_{case}.nii.gz"}
            for case in order
        ],
        "test": [f"./imagesTs/liver_{case}.nii.gz" for case in tests],
    }
    (root / "dataset.json").write_text(json.dumps(dataset, indent=4))
    return root
