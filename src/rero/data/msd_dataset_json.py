"""The ``dataset.json`` of the Medical Segmentation Decathlon's Task03 Liver (Simpson et al. 2019,
arXiv:1902.09063): its training entries, each an image and a label file of one case, checked
against the task's labels and modality and the file names of the official layout, every error
naming the file and the layout expected (:mod:`rero.data.msd_liver` reads the volumes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOWNLOAD_PAGE = "http://medicaldecathlon.com/"
ARCHIVE = "Task03_Liver.tar"
DATASET_JSON = "dataset.json"
LABELS = {"0": "background", "1": "liver", "2": "cancer"}  # as dataset.json names them
MODALITY = {"0": "CT"}
CASE_NAME = re.compile(r"liver_(\d+)\.nii\.gz")
EXPECTED_LAYOUT = (
    f"expected the Medical Segmentation Decathlon {ARCHIVE} ({DOWNLOAD_PAGE}) unpacked into the "
    f"folder given as option 'root': <root>/{DATASET_JSON} (labels {LABELS}, training: a list of "
    '{"image": "./imagesTr/liver_<k>.nii.gz", "label": "./labelsTr/liver_<k>.nii.gz"}), '
    "<root>/imagesTr/liver_<k>.nii.gz (CT, HU) and <root>/labelsTr/liver_<k>.nii.gz "
    "(uint8 0 background, 1 liver, 2 cancer)"
)


@dataclass(frozen=True)
class Entry:
    """One training volume of ``dataset.json``: its image and label files and case number."""

    image: Path
    label: Path
    case: int


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; {EXPECTED_LAYOUT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable JSON ({error}); {EXPECTED_LAYOUT}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a JSON {type(data).__name__}, not an object; {EXPECTED_LAYOUT}")
    return data


def case_of(path: Path, position: int, key: str, value: Any) -> int:
    """The case number k of the file name ``liver_<k>.nii.gz`` in a training entry."""
    name = Path(value).name if isinstance(value, str) else ""
    match = CASE_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"{path}: training entry {position} has {key} {value!r}; expected a path "
            f"./{'imagesTr' if key == 'image' else 'labelsTr'}/liver_<k>.nii.gz"
        )
    return int(match.group(1))


def read_dataset_json(root: Path) -> list[Entry]:
    """The training entries of ``<root>/dataset.json``, checked: labels, modality, names."""
    path = root / DATASET_JSON
    data = read_json_object(path)
    labels = data.get("labels")
    names = (
        {str(key): str(name).strip().lower() for key, name in labels.items()}
        if isinstance(labels, dict)
        else None
    )
    if names != LABELS:
        raise ValueError(f"{path}: labels {labels!r}; expected {LABELS} (Task03 Liver)")
    modality = data.get("modality", MODALITY)
    if modality != MODALITY:
        raise ValueError(f"{path}: modality {modality!r}; expected {MODALITY} (Task03 Liver)")
    training = data.get("training")
    if not isinstance(training, list) or not training:
        raise ValueError(f"{path}: 'training' is {training!r}; {EXPECTED_LAYOUT}")
    count = data.get("numTraining", len(training))
    if count != len(training):
        raise ValueError(
            f"{path}: numTraining is {count!r} but 'training' lists {len(training)} entries; "
            "expected them to agree"
        )
    entries: list[Entry] = []
    position_of: dict[int, int] = {}
    for position, item in enumerate(training):
        if not isinstance(item, dict):
            raise ValueError(
                f"{path}: training entry {position} is {item!r}; expected an object with "
                '"image" and "label"'
            )
        case = case_of(path, position, "image", item.get("image"))
        if case_of(path, position, "label", item.get("label")) != case:
            raise ValueError(
                f"{path}: training entry {position} pairs image {item['image']!r} with label "
                f"{item['label']!r}; expected one case number in both"
            )
        if case in position_of:
            raise ValueError(
                f"{path}: case liver_{case} is listed by training entries {position_of[case]} "
                f"and {position}; expected each volume once"
            )
        position_of[case] = position
        entries.append(Entry(root / item["image"], root / item["label"], case))
    return entries
