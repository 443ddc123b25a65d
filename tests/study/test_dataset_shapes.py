"""Each loader states its task, classes and image shape before any data is prepared, and the study
refuses, before any job, training settings the dataset's shape or classes cannot take (one line
naming the key, the value, the dataset and what was expected)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from rero.attacks import matching
from rero.data import file_hashes, radimagenet, shapes
from rero.data.medmnist import load_medmnist
from rero.data.registry import LOADERS, checked_split_sizes, dataset_shape
from rero.data.shapes import DatasetShape
from rero.study import config as study_config
from rero.study.engines import SSIM_WINDOW
from tests.helpers import REPO, shipped_config_text, write_medmnist
from tests.helpers.index_files import write_radimagenet_csvs, write_radimagenet_images

SCHEMA = study_config.load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
ROWS = {"train": 40, "val": 10, "test": 10}


def sizes_8000(loader: str, options: dict) -> dict[str, int]:
    return {"train": 8000, "val": 1000, "test": 2000}


def radimagenet_root(folder: Path, num_classes: int) -> Path:
    root = write_radimagenet_csvs(folder / "RadImageNet", ROWS, num_classes)
    return write_radimagenet_images(root, ROWS, num_classes)


def options_of(loader: str, folder: Path) -> dict:
    """Options under which each loader's shape needs no data beyond a small file or none."""
    return {
        "mni152": {},
        "mni152_seg": {},
        "medmnist": {"path": str(write_medmnist(folder / "toy.npz"))},
        "ham10000": {"root": "/nowhere"},
        "radimagenet": {"root": str(write_radimagenet_csvs(folder / "rad", ROWS, 4))},
        "msd_liver": {"root": "/nowhere"},
    }[loader]


@pytest.mark.parametrize("loader", LOADERS)
def test_every_loader_states_the_shape_of_its_task(loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shape = dataset_shape(loader, options_of(loader, tmp_path))
    assert shape.task == LOADERS[loader].task
    assert shape.num_classes >= 2 and len(shape.image_shape) in (3, 4)


@pytest.mark.parametrize(
    ("name", "rgb", "expected"),
    [
        ("toy.npz", False, DatasetShape("classification", 3, (1, 8, 8))),
        ("toy.npz", True, DatasetShape("classification", 3, (3, 8, 8))),
        ("dermamnist_8.npz", False, DatasetShape("classification", 7, (1, 8, 8))),
    ],
)
def test_a_medmnist_shape_is_what_loading_gives(name, rgb, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_medmnist(tmp_path / name, rgb=rgb)
    assert dataset_shape("medmnist", {"path": str(path)}) == expected
    splits = load_medmnist(str(path))
    assert len(splits.class_names) == expected.num_classes
    assert splits.train.images.shape[1:] == expected.image_shape


def test_radimagenet_classes_come_from_the_read_planning_makes(tmp_path, monkeypatch):
    """Planning's file check reads each CSV once; the classes come from that read, and later
    from the shape cache, never from a second read of the training CSV."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(file_hashes, "SETTLE_SECONDS", 0)
    root = radimagenet_root(tmp_path, num_classes=5)
    reads: list[str] = []
    reader = radimagenet.read_split_csv

    def counting_reader(folder, split):
        reads.append(split)
        return reader(folder, split)

    monkeypatch.setattr(radimagenet, "read_split_csv", counting_reader)
    options = {"root": str(root), "size": 64}
    checked_split_sizes("radimagenet", options)
    assert sorted(reads) == ["test", "train", "val"]
    expected = DatasetShape("classification", 5, (1, 64, 64))
    assert dataset_shape("radimagenet", options) == expected
    assert sorted(reads) == ["test", "train", "val"]
    radimagenet._SUMMARIES.clear()  # a later planning process: the shape cache answers
    assert dataset_shape("radimagenet", options) == expected
    assert sorted(reads) == ["test", "train", "val"]
    assert len(list(shapes.CACHE_FOLDER.glob("*.json"))) == 1


def study(datasets: dict, **training) -> dict:
    """The shipped config with ``datasets`` and top-level ``training`` settings, defaults filled,
    the audit off (it has its own checks)."""
    config = yaml.safe_load(shipped_config_text())
    config["datasets"] = copy.deepcopy(datasets)
    config["training"].update(training)
    config["audit"]["eps"] = []
    study_config.fill_defaults(config, SCHEMA)
    return config


def medmnist_set(tmp_path: Path, name: str, **replace) -> dict:
    return {
        "loader": "medmnist",
        "options": {"path": str(write_medmnist(tmp_path / name, **replace))},
    }


SMALL = np.zeros((30, 6, 6), dtype=np.uint8)
#: one config per problem kind, and the line it gives: (config of tmp_path, line of tmp_path)
CASES: dict[str, tuple[Callable[[Path], dict], Callable[[Path], str]]] = {
    "a dataset's own single logit on a 7-class MedMNIST file": (
        lambda tmp: study(
            {"derm": {**medmnist_set(tmp, "dermamnist.npz"), "training": {"single_logit": True}}}
        ),
        lambda tmp: (
            "datasets.derm.training.single_logit: true needs a dataset of 2 classes; "
            f"dataset 'derm' (medmnist with options {{'path': '{tmp / 'dermamnist.npz'}'}}) has 7 "
            "(expected false)"
        ),
    ),
    "single logit on RadImageNet labels of 3 classes": (
        lambda tmp: study(
            {"rad": {"loader": "radimagenet", "options": {"root": str(radimagenet_root(tmp, 3))}}},
            single_logit=True,
        ),
        lambda tmp: (
            "training.single_logit: true needs a dataset of 2 classes; dataset 'rad' "
            f"(radimagenet with options {{'root': '{tmp / 'RadImageNet'}'}}) has 3 (expected false)"
        ),
    ),
    "shift as large as the HAM10000 size": (
        lambda tmp: study(
            {"derm": {"loader": "ham10000", "options": {"root": "/nowhere", "size": 32}}},
            max_shift=32,
        ),
        lambda tmp: (
            "training.max_shift: 32 px needs images larger than that (reflected "
            "borders); dataset 'derm' (ham10000 with options {'root': '/nowhere', 'size': 32}) has "
            "32x32 (expected max_shift < 32)"
        ),
    ),
    "shift beyond the MedMNIST images": (
        lambda tmp: study({"toy": medmnist_set(tmp, "toy.npz")}, max_shift=9),
        lambda tmp: (
            "training.max_shift: 9 px needs images larger than that (reflected borders);"
            f" dataset 'toy' (medmnist with options {{'path': '{tmp / 'toy.npz'}'}}) has 8x8 "
            "(expected max_shift < 8)"
        ),
    ),
    "ResNet-9 on 6x6 images": (
        lambda tmp: study(
            {
                "tiny": medmnist_set(
                    tmp,
                    "tiny.npz",
                    train_images=SMALL,
                    val_images=SMALL[:9],
                    test_images=SMALL[:12],
                )
            },
            model="resnet9",
        ),
        lambda tmp: (
            "training.model: 'resnet9' needs images of at least 8 px a side; dataset 'tiny' "
            f"(medmnist with options {{'path': '{tmp / 'tiny.npz'}'}}) has 6x6 (expected one of "
            "small_cnn, or options giving larger images)"
        ),
    ),
    "a dataset's own U-Net on MSD Liver volumes of 8 slices": (
        lambda tmp: study(
            {
                "liver": {
                    "loader": "msd_liver",
                    "options": {"root": "/nowhere", "depth": 8},
                    "training": {"model": "unet3d"},
                }
            }
        ),
        lambda tmp: (
            "datasets.liver.training.model: 'unet3d' needs images of at least 16 px a "
            "side; dataset 'liver' (msd_liver with options {'root': '/nowhere', 'depth': 8}) has "
            "8x128x128 (expected options giving larger images)"
        ),
    ),
    "HAM10000 images smaller than the attack's SSIM window": (
        lambda tmp: study({"derm": {"loader": "ham10000", "options": {"root": "/x", "size": 10}}}),
        lambda tmp: (
            "datasets.derm.options: dataset 'derm' (ham10000 with options {'root': '/x', "
            "'size': 10}) has 10x10 images, smaller than the 11x11 window of the imprint attack's "
            "SSIM (expected options giving images of at least 11 px a side)"
        ),
    ),
}


@pytest.mark.parametrize(("config", "line"), CASES.values(), ids=CASES.keys())
def test_a_setting_the_dataset_cannot_take_is_refused_before_any_job(config, line, tmp_path):
    errors = study_config.study_errors(config(tmp_path), sizes_8000)
    assert line(tmp_path) in errors, errors


def test_a_setting_the_task_already_refuses_is_named_once(tmp_path):
    """A classifier or one logit on a segmentation task: the task's line, not a shape's too."""
    config = study(
        {"liver": {"loader": "msd_liver", "options": {"root": "/nowhere"}}}, single_logit=True
    )
    errors = study_config.study_errors(config, sizes_8000)
    assert [line.split(":")[0] for line in errors] == ["training.model", "training.single_logit"]
    assert "is a classification model, the dataset a segmentation task" in errors[0]
    assert "is not supported for segmentation" in errors[1]


def test_settings_the_dataset_takes_pass(tmp_path):
    ham = {"loader": "ham10000", "options": {"root": "/nowhere", "size": 32}}
    config = study({"derm": ham}, single_logit=True, max_shift=31, model="resnet9")
    assert study_config.study_errors(config, sizes_8000) == []


def test_the_study_knows_the_ssim_window_the_attack_uses():
    window = 2 * int(matching.SSIM_TRUNCATE * matching.SSIM_SIGMA + 0.5) + 1
    assert window == SSIM_WINDOW
    with pytest.raises(ValueError, match=f"at least {window}x{window}"):
        matching.ssim_matrix(np.zeros((1, 1, window - 1, 20)), np.zeros((1, 1, window - 1, 20)))
    assert matching.ssim_matrix(np.zeros((1, 1, window, 20)), np.zeros((1, 1, window, 20))).shape
