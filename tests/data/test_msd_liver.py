"""The MSD Task03 Liver loader (3-D CT segmentation) on a tiny folder in the official layout."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import pytest

from rero.data.base import Moments, check_splits
from rero.data.msd_liver import (
    CLASS_NAMES,
    LiverVolumes,
    load_msd_liver,
    msd_liver_files,
    msd_liver_split_sizes,
)
from tests.helpers.msd import AFFINE, liver_case, save_nifti, write_msd_liver

SPLITS = ("train", "val", "test")
SMALL = {"size": 16, "depth": 8, "n_val": 1, "n_test": 1, "seed": 0, "workers": 1}


def load(root: Path, **options: Any) -> Any:
    return load_msd_liver(str(root), **{**SMALL, **options})


def sizes(root: Path, **options: Any) -> dict[str, int]:
    return msd_liver_split_sizes({"root": str(root), **SMALL, **options})


def cases(splits: Any) -> dict[str, list[int]]:
    return {split: splits.split(split).extras["case"].tolist() for split in SPLITS}


def training_order(root: Path) -> list[int]:
    """The case numbers in the order dataset.json lists them."""
    entries = json.loads((root / "dataset.json").read_text())["training"]
    return [int(re.search(r"liver_(\d+)", entry["image"]).group(1)) for entry in entries]


def pair(case: int) -> dict[str, str]:
    """A training entry of dataset.json."""
    return {"image": f"./imagesTr/liver_{case}.nii.gz", "label": f"./labelsTr/liver_{case}.nii.gz"}


def one_entry(image: str, label: str) -> dict[str, Any]:
    """The dataset.json keys of a training list of one entry."""
    return {"numTraining": 1, "training": [{"image": image, "label": label}]}


@pytest.fixture(scope="module")
def liver_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six cases (tumours in 1, 3, 5) of (40, 36, 12) voxels; tests must not change it."""
    return write_msd_liver(tmp_path_factory.mktemp("msd") / "Task03_Liver")


@pytest.fixture
def root(liver_root: Path, tmp_path: Path) -> Path:
    """A copy of the fixture that a test may damage."""
    return Path(shutil.copytree(liver_root, tmp_path / "Task03_Liver"))


def test_fixture_is_the_official_layout(liver_root: Path) -> None:
    dataset = json.loads((liver_root / "dataset.json").read_text())
    assert dataset["labels"] == {"0": "background", "1": "liver", "2": "cancer"}
    assert dataset["modality"] == {"0": "CT"} and dataset["numTraining"] == 6
    assert sorted(training_order(liver_root)) == list(range(6))
    assert training_order(liver_root) != list(range(6))  # listed unsorted, as the official file
    for entry in dataset["training"]:
        assert re.fullmatch(r"\./imagesTr/liver_\d+\.nii\.gz", entry["image"])
        assert entry["label"] == entry["image"].replace("imagesTr", "labelsTr")
        image, label = (nibabel.load(liver_root / entry[key]) for key in ("image", "label"))
        assert image.get_data_dtype() == np.int16 and label.get_data_dtype() == np.uint8
        assert image.shape == label.shape == (40, 36, 12)
        assert np.allclose(image.affine, AFFINE) and np.allclose(label.affine, AFFINE)
        assert np.allclose(image.header.get_zooms(), (0.8, 0.8, 2.5))
        assert set(np.unique(np.asanyarray(label.dataobj))) <= {0, 1, 2}
    assert sorted(path.name for path in (liver_root / "imagesTs").iterdir()) == [
        "liver_6.nii.gz",
        "liver_7.nii.gz",
    ]
    assert msd_liver_files({"root": str(liver_root)}) == [liver_root / "dataset.json"]


def test_split_sizes_agree_with_load(liver_root: Path) -> None:
    splits = load(liver_root)
    assert splits.task == "segmentation" and splits.class_names == list(CLASS_NAMES)
    got = {split: len(splits.split(split).source()) for split in SPLITS}
    assert got == sizes(liver_root) == {"train": 4, "val": 1, "test": 1}
    assert sizes(liver_root, n_val=2, n_test=3) == {"train": 1, "val": 2, "test": 3}
    for split in SPLITS:
        part = splits.split(split)
        assert part.labels.dtype == np.int64 and part.labels.shape == (len(part.source()),)
        assert part.extras["case"].dtype == np.int64


def test_split_is_seeded_by_volume_in_dataset_json_order(liver_root: Path) -> None:
    first, again = cases(load(liver_root)), cases(load(liver_root))
    assert first == again
    assert sorted(case for listed in first.values() for case in listed) == list(
        range(6)
    )  # each volume in one split
    order = training_order(liver_root)
    for listed in first.values():
        assert listed == sorted(listed, key=order.index)
    others = [cases(load(liver_root, seed=seed)) for seed in range(1, 6)]
    assert any(other != first for other in others)


def test_window_and_axes_on_a_known_volume(root: Path) -> None:
    hu = np.zeros((16, 16, 8), dtype=np.int16)  # already the output grid: no resampling
    hu[1, 2, 3], hu[4, 5, 6], hu[7, 8, 1], hu[9, 10, 2], hu[0, 0, 0] = -1000, 200, 1500, 25, -150
    for case in range(6):
        save_nifti(root / "imagesTr" / f"liver_{case}.nii.gz", hu)
        save_nifti(root / "labelsTr" / f"liver_{case}.nii.gz", (hu == 25).astype(np.uint8))
    chunk = next(load(root).train.source().chunks())
    image = chunk.images[0, 0]  # (D, H, W) = (z, y, x)
    assert image[3, 2, 1] == 0.0 and image[0, 0, 0] == 0.0
    assert image[6, 5, 4] == 1.0 and image[1, 8, 7] == 1.0
    assert image[2, 10, 9] == pytest.approx((25 + 150) / 350)
    assert image[4, 4, 4] == pytest.approx(150 / 350)  # 0 HU
    assert np.argwhere(chunk.masks[0]).tolist() == [[2, 10, 9]]


def test_resampled_shapes_and_nearest_neighbour_masks(liver_root: Path) -> None:
    splits = load(liver_root, size=24, depth=10)
    source = splits.train.source()
    assert isinstance(source, LiverVolumes)
    assert source.shape == (1, 10, 24, 24) and source.dtype == np.float32
    for chunk, case in zip(source.chunks(), splits.train.extras["case"], strict=True):
        labels = nibabel.load(liver_root / "labelsTr" / f"liver_{case}.nii.gz").get_fdata()
        nearest = [
            np.round(np.arange(m) * (n - 1) / (m - 1)).astype(int)
            for m, n in zip((24, 24, 10), labels.shape, strict=True)
        ]  # corner centres aligned
        expected = labels[np.ix_(*nearest)].transpose(2, 1, 0)
        np.testing.assert_array_equal(chunk.masks[0], expected)
        assert chunk.images.shape == (1, 1, 10, 24, 24) and chunk.images.dtype == np.float32
        assert chunk.masks.shape == (1, 10, 24, 24) and chunk.masks.dtype == np.uint8
        assert chunk.images.min() >= 0.0 and chunk.images.max() <= 1.0
        assert set(np.unique(chunk.masks)) <= {0, 1, 2}
        image, mask = chunk.images[0, 0], chunk.masks[0]
        # masks aligned with the images: liver voxels hold 60 HU, tumour ones 20 HU
        assert np.median(image[mask == 1]) == pytest.approx((60 + 150) / 350, abs=1e-6)
        if (mask == 2).any():  # a small tumour: its border voxels mix with the liver's
            assert np.median(image[mask == 2]) == pytest.approx((20 + 150) / 350, abs=0.02)
        assert np.median(image[mask == 0]) < 0.3  # mostly air and body


def test_canonical_orientation(root: Path, liver_root: Path) -> None:
    flipped = np.diag([-0.8, -0.8, 2.5, 1.0])  # x and y stored reversed (LPS-like)
    flipped[:2, 3] = [0.8 * 39, 0.8 * 35]
    for folder in ("imagesTr", "labelsTr"):
        for case in range(6):
            path = root / folder / f"liver_{case}.nii.gz"
            data = np.asanyarray(nibabel.load(path).dataobj)
            save_nifti(path, np.ascontiguousarray(data[::-1, ::-1]), flipped)
    want, got = load(liver_root).train.source(), load(root).train.source()
    for a, b in zip(want.chunks(), got.chunks(), strict=True):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.masks, b.masks)


def test_chunks_stream_one_volume_each(root: Path) -> None:
    splits = load(root)
    for split in SPLITS:
        part = splits.split(split)
        chunks = list(part.source().chunks())
        assert [chunk.index.tolist() for chunk in chunks] == [[i] for i in range(len(chunks))]
        for chunk, label in zip(chunks, part.labels, strict=True):
            moments = Moments.of(chunk.images)
            assert chunk.moments.n == moments.n == 8 * 16 * 16
            np.testing.assert_allclose(chunk.moments.mean, moments.mean)
            np.testing.assert_allclose(chunk.moments.var, moments.var)
            assert chunk.masks.max() == label
    train = splits.train
    stream = train.source().chunks()
    next(stream)  # the first volume is decoded; the last one is read only when its turn comes
    last = root / "imagesTr" / f"liver_{train.extras['case'][-1]}.nii.gz"
    last.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(last))):
        list(stream)


def test_labels_are_the_largest_class_present(liver_root: Path) -> None:
    splits = load(liver_root)
    for split in SPLITS:
        part = splits.split(split)
        maxima = [int(chunk.masks.max()) for chunk in part.source().chunks()]
        assert part.labels.tolist() == maxima
        assert maxima == [1 + case % 2 for case in part.extras["case"]]  # tumours in odd cases


def test_workers_do_not_change_the_data(liver_root: Path) -> None:
    serial, pooled = load(liver_root), load(liver_root, workers=2)
    assert cases(serial) == cases(pooled)
    np.testing.assert_array_equal(serial.train.labels, pooled.train.labels)
    for a, b in zip(serial.train.source().chunks(), pooled.train.source().chunks(), strict=True):
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.masks, b.masks)


def test_missing_files_are_named_before_decoding(root: Path) -> None:
    (root / "labelsTr" / "liver_3.nii.gz").unlink()
    (root / "imagesTr" / "liver_4.nii.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load(root)
    assert "2 file(s)" in str(error.value)
    assert str(root / "labelsTr" / "liver_3.nii.gz") in str(error.value)
    assert str(root / "imagesTr" / "liver_4.nii.gz") in str(error.value)
    assert sizes(root) == {"train": 4, "val": 1, "test": 1}  # dataset.json alone


def test_label_values_outside_0_1_2_are_named(root: Path) -> None:
    path = root / "labelsTr" / "liver_2.nii.gz"
    labels = np.asanyarray(nibabel.load(path).dataobj).copy()
    labels[0, 0, 0], labels[1, 0, 0] = 3, 7
    save_nifti(path, labels)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: label values 0, 1, 3, 7"):
        load(root)


def test_mismatched_shapes_name_both_files(root: Path) -> None:
    label = root / "labelsTr" / "liver_1.nii.gz"
    save_nifti(label, liver_case((40, 36, 11), True, np.random.default_rng(0))[1])
    with pytest.raises(ValueError) as error:
        load(root)
    message = str(error.value)
    assert str(root / "imagesTr" / "liver_1.nii.gz") in message and str(label) in message
    assert "(40, 36, 12)" in message and "(40, 36, 11)" in message


def test_unreadable_nifti_is_named(root: Path) -> None:
    label = root / "labelsTr" / "liver_0.nii.gz"
    label.write_text("not a gzip file")
    with pytest.raises(ValueError, match=rf"{re.escape(str(label))}: not a readable \.nii\.gz"):
        load(root)
    save_nifti(label, liver_case((40, 36, 12), False, np.random.default_rng(0))[1])
    splits = load(root)
    case = int(splits.train.extras["case"][0])
    image = root / "imagesTr" / f"liver_{case}.nii.gz"
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])  # truncated: the header reads, the voxels do not
    assert gzip.decompress(data)[:4]  # the original was a valid gzip stream
    with pytest.raises(ValueError, match=rf"{re.escape(str(image))}: not a readable \.nii\.gz"):
        next(splits.train.source().chunks())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("size", 15),
        ("size", "128"),
        ("size", True),
        ("depth", 7),
        ("n_val", 0),
        ("n_test", 0),
        ("seed", -1),
        ("workers", 0),
    ],
)
def test_options_out_of_range_are_named(liver_root: Path, option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"option '{option}'"):
        load(liver_root, **{option: value})
    with pytest.raises(ValueError, match=f"option '{option}'"):
        sizes(liver_root, **{option: value})


def test_too_few_volumes_and_bad_root(liver_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dataset\.json: 6 training volume\(s\), fewer than"):
        load(liver_root, n_val=3, n_test=3)
    with pytest.raises(ValueError, match="n_val"):
        sizes(liver_root, n_val=3, n_test=3)
    with pytest.raises(FileNotFoundError, match=r"Task03_Liver\.tar"):
        load(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"dataset\.json: file not found"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": {"0": "background", "1": "liver"}}, "labels"),
        ({"labels": {"0": "background", "1": "pancreas", "2": "cancer"}}, "labels"),
        ({"modality": {"0": "MRI"}}, "modality"),
        ({"numTraining": 131}, "numTraining is 131"),
        ({"training": []}, "'training'"),
        (one_entry("./imagesTr/x.nii.gz", "./labelsTr/x.nii.gz"), "training entry 0 has image"),
        (one_entry("./imagesTr/liver_1.nii.gz", "./labelsTr/liver_2.nii.gz"), "one case number"),
        ({"numTraining": 2, "training": [pair(1), pair(1)]}, "training entries 0 and 1"),
    ],
)
def test_dataset_json_is_checked(root: Path, change: dict[str, Any], message: str) -> None:
    path = root / "dataset.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*{re.escape(message)}"):
        load(root)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        sizes(root)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: not readable JSON"):
        sizes(root)


def test_check_splits_when_it_takes_3d_segmentation(liver_root: Path) -> None:
    """The data contract's checker, once it accepts (N, C, D, H, W) images."""
    splits = load(liver_root)
    try:
        check_splits(splits)
    except ValueError as error:
        if "float32 (N, C, H, W), got" in str(error):  # the 2-D-only contract
            pytest.skip(f"check_splits does not accept 3-D images yet: {error}")
        raise
