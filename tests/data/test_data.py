"""Dataset loaders, prepared-split files and the prepare-data command."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

import rero.cli
from rero.data.medmnist import load_medmnist
from rero.data.mni152 import (
    GUARD_SLICES,
    load_mni152,
    load_volumes,
    slice_splits,
    tissue_labels,
)
from rero.data.prepare import prepare_dataset, read_meta
from rero.data.registry import LOADERS
from rero.data.store import load_split, unit_float
from tests.helpers import SHARED_DATA, write_medmnist

PNEUMONIAMNIST = SHARED_DATA / "pneumoniamnist.npz"
SMALL_MNI = {"n_train": 300, "n_val": 60, "n_test": 90}
META_KEYS = {
    "dataset",
    "loader",
    "source",
    "num_classes",
    "class_names",
    "shape",
    "dtype",
    "num_train",
    "splits",
    "skipped",
    "mean",
    "std",
    "options",
    "provenance",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- MNI152 default dataset


@pytest.fixture(scope="module")
def mni_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mni") / "small"
    prepare_dataset("small", "mni152", SMALL_MNI, out)
    return out


def test_slice_layout_keeps_test_blocks_whole_and_splits_apart() -> None:
    roles = slice_splits(189)
    test = np.flatnonzero(roles == 2)
    assert test.tolist() == [*range(40, 50), *range(90, 100), *range(140, 150)]
    assert np.flatnonzero(roles == 1).tolist() == [*range(30, 36), *range(80, 86), *range(130, 136)]
    assert roles[:20].tolist() == [-1] * 20 and (roles[150:] == -1).all()
    for a, b in itertools.combinations(range(3), 2):
        gap = np.abs(np.flatnonzero(roles == a)[:, None] - np.flatnonzero(roles == b)[None, :])
        assert gap.min() > GUARD_SLICES


def test_mni152_split_files_follow_the_contract(mni_dir: Path) -> None:
    meta = read_meta(mni_dir)
    assert set(meta) >= META_KEYS
    assert meta["shape"] == [1, 28, 28] and meta["num_classes"] == 3 and meta["num_train"] == 300
    assert meta["dtype"] == "float32" and meta["skipped"] == 0
    assert meta["class_names"] == ["grey matter", "white matter", "cerebrospinal fluid"]
    assert meta["options"] == {
        **SMALL_MNI,
        "patch_size": 28,
        "mask_size": 8,
        "num_classes": 3,
        "seed": 0,
    }
    train_images, _ = load_split(mni_dir, "train")
    # numpy's own float64 statistics of the whole split, to the bit (the default study's numbers)
    assert meta["mean"] == train_images.mean(axis=(0, 2, 3), dtype=np.float64).tolist()
    assert meta["std"] == train_images.std(axis=(0, 2, 3), dtype=np.float64).tolist()
    for split, n in (("train", 300), ("val", 60), ("test", 90)):
        images, labels = load_split(mni_dir, split)
        assert isinstance(images, np.memmap) and not images.flags.writeable
        assert images.shape == (n, 1, 28, 28) and images.dtype == np.float32
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.5
        counts = np.bincount(labels, minlength=3)
        assert counts.tolist() == [n // 3] * 3  # class-balanced
        assert meta["splits"][split] == {
            "n": n,
            "sha256": {
                name: sha256(mni_dir / name)
                for name in (f"{split}_images.npy", f"{split}_labels.npy", f"{split}_voxel.npy")
            },
            "class_counts": counts.tolist(),
            "skipped": 0,
        }
        assert not images[:, :, 10:18, 10:18].any()  # central 8x8 zeroed
        assert images[:, :, [9, 18], 10:18].any() and images[:, :, 10:18, [9, 18]].any()


def test_mni152_patches_sit_on_labelled_voxels_of_disjoint_slices(mni_dir: Path) -> None:
    t1, gm, wm = load_volumes()
    labels_volume = tissue_labels(gm, wm, 3)
    roles = slice_splits(t1.shape[2])
    slices = {}
    for index, split in enumerate(("train", "val", "test")):
        images, labels = load_split(mni_dir, split)
        voxel = np.load(mni_dir / f"{split}_voxel.npy")
        x, y, z = voxel.T
        assert (labels_volume[x, y, z] == labels).all()
        assert (roles[z] == index).all()
        # pixel (9, 14): five voxels above the centre along x, just outside the zeroed square
        assert np.array_equal(images[:, 0, 9, 14], t1[x - 5, y, z])
        slices[split] = set(z.tolist())
    for a, b in itertools.combinations(slices.values(), 2):
        assert min(abs(i - j) for i in a for j in b) > GUARD_SLICES


@pytest.mark.slow
def test_mni152_same_seed_same_files_other_seed_other_files(mni_dir: Path, tmp_path: Path) -> None:
    again = prepare_dataset("small", "mni152", SMALL_MNI, tmp_path / "again")
    other = prepare_dataset("small", "mni152", {**SMALL_MNI, "seed": 1}, tmp_path / "other")
    first = read_meta(mni_dir)
    for split in ("train", "val", "test"):
        assert again["splits"][split]["sha256"] == first["splits"][split]["sha256"]
        assert other["splits"][split]["sha256"] != first["splits"][split]["sha256"]


@pytest.mark.slow
def test_mni152_test_set_does_not_depend_on_train_size() -> None:
    small = load_mni152(n_train=30, n_val=30, n_test=90)
    large = load_mni152(n_train=300, n_val=30, n_test=90)
    assert np.array_equal(small.test.images, large.test.images)


def test_mni152_two_classes_without_mask() -> None:
    splits = load_mni152(num_classes=2, mask_size=0, patch_size=16, n_train=40, n_val=10, n_test=20)
    assert splits.class_names == ["grey matter", "white matter"]
    assert splits.train.images.shape == (40, 1, 16, 16)
    assert set(splits.train.labels.tolist()) == {0, 1}
    t1 = load_volumes()[0]
    x, y, z = splits.test.extras["voxel"].T
    centre = splits.test.images[:, 0, 8, 8]
    assert np.array_equal(centre, t1[x, y, z])  # unmasked: pixel [p//2, p//2] is the voxel
    assert centre[splits.test.labels == 0].mean() < centre[splits.test.labels == 1].mean() - 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"patch_size": 4}, "'patch_size' must be >= 8"),
        ({"patch_size": 28.0}, "'patch_size' must be an integer"),
        ({"mask_size": 27}, "'mask_size' must be >= 0 and <= 26"),
        ({"num_classes": 4}, "'num_classes' must be >= 2 and <= 3"),
        ({"n_train": True}, "'n_train' must be an integer"),
        ({"n_val": 2}, "'n_val' must be >= 3"),
        ({"seed": -1}, "'seed' must be >= 0"),
        ({"n_test": 10**6}, "'n_test' asks for"),
    ],
)
def test_mni152_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_mni152(**options)


# ---------------------------------------------------------------- MedMNIST .npz loader


def test_medmnist_grayscale_kept_uint8_and_channel_first(tmp_path: Path) -> None:
    path = write_medmnist(tmp_path / "toy.npz")
    splits = load_medmnist(str(path))
    with np.load(path) as raw:
        for split in ("train", "val", "test"):
            part = splits.split(split)
            assert part.images.dtype == np.uint8 and part.labels.dtype == np.int64
            assert part.images.shape == (len(raw[f"{split}_images"]), 1, 8, 8)
            np.testing.assert_array_equal(part.images[:, 0], raw[f"{split}_images"])
            np.testing.assert_array_equal(part.labels, raw[f"{split}_labels"][:, 0])
    assert splits.class_names == ["0", "1", "2"]
    assert splits.options == {"path": str(path), "n_train": None, "seed": 0}


def test_medmnist_rgb_moves_channels_first(tmp_path: Path) -> None:
    path = write_medmnist(tmp_path / "toy_rgb.npz", rgb=True, column_labels=False)
    splits = load_medmnist(str(path))
    with np.load(path) as raw:
        images = raw["test_images"]
    assert splits.test.images.shape == (12, 3, 8, 8)
    assert splits.test.images[5, 2, 3, 4] == images[5, 3, 4, 2]
    assert splits.test.labels.tolist() == (np.arange(12) % 3).tolist()


def test_medmnist_known_file_name_gives_class_names(tmp_path: Path) -> None:
    labels = {
        f"{split}_labels": np.array([[0], [1]] * 3, dtype=np.uint8)
        for split in ("train", "val", "test")
    }
    images = {
        f"{split}_images": np.zeros((6, 8, 8), np.uint8) for split in ("train", "val", "test")
    }
    path = tmp_path / "pneumoniamnist_64.npz"
    np.savez(path, **labels, **images)
    assert load_medmnist(str(path)).class_names == ["normal", "pneumonia"]


def test_medmnist_stratified_train_subsample(tmp_path: Path) -> None:
    train_labels = np.array([0] * 20 + [1] * 10, dtype=np.uint8)
    path = write_medmnist(tmp_path / "toy.npz", train_labels=train_labels)
    full = load_medmnist(str(path))
    first = load_medmnist(str(path), n_train=15, seed=3)
    assert np.bincount(first.train.labels).tolist() == [10, 5]
    assert np.array_equal(
        first.train.images, load_medmnist(str(path), n_train=15, seed=3).train.images
    )
    assert not np.array_equal(
        first.train.images, load_medmnist(str(path), n_train=15, seed=4).train.images
    )
    rows = {row.tobytes() for row in full.train.images}
    assert all(row.tobytes() in rows for row in first.train.images)
    assert np.array_equal(first.test.images, full.test.images)
    with pytest.raises(ValueError, match="'n_train' must be >= 1 and <= 30"):
        load_medmnist(str(path), n_train=31)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"val_labels": None}, "missing key 'val_labels'"),
        ({"test_images": np.zeros((12, 8, 8), np.float32)}, "'test_images' is float32"),
        ({"train_labels": np.zeros((30, 3), np.uint8)}, "multi-label files are not supported"),
        ({"train_labels": np.zeros(30, np.float32)}, "'train_labels' is float32"),
        ({"train_labels": np.zeros(29, np.int64)}, r"expected integers of shape \(30,\)"),
        ({"val_labels": np.full(9, -1, np.int64)}, "'val_labels' has labels in -1..-1"),
        ({"test_labels": np.full(12, 5, np.int64)}, r"labels present are \[0, 1, 2, 5\]"),
    ],
)
def test_medmnist_rejects_malformed_files(tmp_path: Path, replace: dict, message: str) -> None:
    path = write_medmnist(tmp_path / "bad.npz", **replace)
    with pytest.raises(ValueError, match=message) as error:
        load_medmnist(str(path))
    assert str(path) in str(error.value)


def test_medmnist_known_dataset_label_out_of_range(tmp_path: Path) -> None:
    path = write_medmnist(tmp_path / "breastmnist.npz")  # labels 0..2, BreastMNIST has 2 classes
    with pytest.raises(ValueError, match=r"expected 0..1 \(breastmnist has 2 classes\)"):
        load_medmnist(str(path))


def test_medmnist_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing}: file not found")):
        load_medmnist(str(missing))


def test_real_pneumoniamnist(tmp_path: Path) -> None:
    if not PNEUMONIAMNIST.is_file():
        pytest.skip(f"reference file {PNEUMONIAMNIST} is absent (only CI has ../shared/data)")
    meta = prepare_dataset("pneumonia", "medmnist", {"path": str(PNEUMONIAMNIST)}, tmp_path)
    assert meta["shape"] == [1, 28, 28] and meta["class_names"] == ["normal", "pneumonia"]
    assert [meta["splits"][split]["n"] for split in ("train", "val", "test")] == [3882, 524, 624]
    images, labels = load_split(tmp_path, "val")
    with np.load(PNEUMONIAMNIST) as raw:
        np.testing.assert_array_equal(images[:, 0], raw["val_images"])
        np.testing.assert_array_equal(labels, raw["val_labels"][:, 0])
        assert (
            meta["splits"]["test"]["class_counts"] == np.bincount(raw["test_labels"][:, 0]).tolist()
        )


# ---------------------------------------------------------------- registry and split files


def test_registry_errors(tmp_path: Path) -> None:
    assert {"mni152", "medmnist", "ham10000", "radimagenet"} <= set(LOADERS)
    with pytest.raises(
        ValueError,
        match="unknown loader 'ham'; known loaders: ham10000, medmnist, mni152, mni152_seg, msd_",
    ):
        prepare_dataset("x", "ham", {}, tmp_path)
    with pytest.raises(ValueError, match=r"unknown option\(s\) patch; allowed: patch_size"):
        prepare_dataset("x", "mni152", {"patch": 28}, tmp_path)
    with pytest.raises(ValueError, match=r"missing required option\(s\) path"):
        prepare_dataset("x", "medmnist", {}, tmp_path)
    with pytest.raises(ValueError, match="dataset name must be"):
        prepare_dataset("../up", "mni152", {}, tmp_path)
    assert not any(tmp_path.iterdir())


def test_prepare_and_load_roundtrip(tmp_path: Path) -> None:
    source = write_medmnist(tmp_path / "toy.npz", rgb=True)
    out = tmp_path / "prepared"
    meta = prepare_dataset("toy", "medmnist", {"path": str(source)}, out)
    assert read_meta(out) == json.loads(json.dumps(meta))
    assert meta["shape"] == [3, 8, 8] and meta["num_classes"] == 3 and meta["dtype"] == "uint8"
    images, labels = load_split(out, "train")
    assert isinstance(images, np.memmap) and images.dtype == np.uint8
    with np.load(source) as raw:
        # the float32 pixels the loader gave before it stored uint8: raw / 255 in float32
        before = raw["train_images"].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_array_equal(unit_float(images[np.arange(30)]), before)
    np.testing.assert_array_equal(labels, load_medmnist(str(source)).train.labels)
    np.testing.assert_allclose(meta["mean"], before.mean(axis=(0, 2, 3), dtype=np.float64))
    np.testing.assert_allclose(meta["std"], before.std(axis=(0, 2, 3), dtype=np.float64))
    assert meta["splits"]["train"]["class_counts"] == [10, 10, 10]
    for name, digest in meta["splits"]["val"]["sha256"].items():
        assert sha256(out / name) == digest
    assert not [path.name for path in out.iterdir() if path.name.startswith(".")]


def test_prepare_replaces_meta_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed preparation leaves no meta.json behind (it was removed first), so no reader
    takes half-written splits for a dataset."""
    source = write_medmnist(tmp_path / "toy.npz")
    out = tmp_path / "prepared"
    prepare_dataset("toy", "medmnist", {"path": str(source)}, out)
    import rero.data.prepare as prepare

    def fail(*args, **kwargs):
        raise ValueError("disk full")

    monkeypatch.setattr(prepare, "write_split", fail)
    with pytest.raises(ValueError, match="disk full"):
        prepare_dataset("toy", "medmnist", {"path": str(source)}, out)
    assert not (out / "meta.json").exists()


def test_unit_float() -> None:
    stored = np.array([[[[0, 1, 128, 255]]]], dtype=np.uint8)
    assert unit_float(stored).dtype == np.float32
    np.testing.assert_array_equal(unit_float(stored), stored.astype(np.float32) / 255.0)
    floats = np.full((1, 1, 2, 2), 0.25, dtype=np.float32)
    assert unit_float(floats) is floats
    with pytest.raises(ValueError, match="must be uint8 or float32, got float64"):
        unit_float(floats.astype(np.float64))


def test_load_split_and_read_meta_errors(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"{tmp_path / 'val_images.npy'}: file not found")
    ):
        load_split(tmp_path, "val")
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        load_split(tmp_path, "dev")
    (tmp_path / "train_images.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"train_images\.npy: text, not a \.npy array"):
        load_split(tmp_path, "train")
    np.save(tmp_path / "test_images.npy", np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(FileNotFoundError, match=r"test_labels\.npy: file not found"):
        load_split(tmp_path, "test")
    np.save(tmp_path / "test_labels.npy", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"test_labels\.npy: labels int64 \(3,\) for 2 images"):
        load_split(tmp_path, "test")
    np.save(tmp_path / "val_images.npy", np.zeros((2, 4, 4)))
    np.save(tmp_path / "val_labels.npy", np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"val_images\.npy: images float64"):
        load_split(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match=r"meta\.json: file not found"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"meta\.json: not valid JSON"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text('{"dataset": "x"}')
    with pytest.raises(ValueError, match=r"missing key\(s\) loader, task, source"):
        read_meta(tmp_path)


# ---------------------------------------------------------------- command line


def test_cli_prepare_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_medmnist(tmp_path / "toy.npz")
    out = tmp_path / "data" / "toy"
    options = json.dumps({"path": str(source), "n_train": 12})
    argv = ["prepare-data", "--dataset", "toy", "--loader", "medmnist", "--out-dir", str(out)]
    assert rero.cli.main([*argv, "--options", options]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.count("\n") == 0 and "train 12, val 9, test 12" in printed
    assert read_meta(out)["num_train"] == 12
    assert rero.cli.main([*argv, "--options", "[1, 2]"]) == 2
    assert "--options must be a JSON object" in capsys.readouterr().err
    assert rero.cli.main([*argv, "--options", "{oops"]) == 2
    assert "--options must be a JSON object" in capsys.readouterr().err
    assert rero.cli.main([*argv[:4], "nope", *argv[5:]]) == 2
    known = "known loaders: ham10000, medmnist, mni152, mni152_seg, msd_liver, radimagenet"
    assert known in capsys.readouterr().err


def test_expected_split_sizes_before_preparing(tmp_path):
    from rero.data.registry import expected_split_sizes

    assert expected_split_sizes("mni152", {})["train"] == 8000
    assert expected_split_sizes("mni152", {"n_train": 300})["train"] == 300
    path = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        **{
            f"{split}_{kind}": (
                rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
                if kind == "images"
                else np.arange(n).reshape(n, 1) % 2
            )
            for split, n in (("train", 30), ("val", 10), ("test", 10))
            for kind in ("images", "labels")
        },
    )
    assert expected_split_sizes("medmnist", {"path": str(path)})["train"] == 30
    assert expected_split_sizes("medmnist", {"path": str(path), "n_train": 12})["train"] == 12
    with pytest.raises(ValueError, match=r"'n_train' is 31, more than the 30 training images of"):
        expected_split_sizes("medmnist", {"path": str(path), "n_train": 31})
    with pytest.raises(FileNotFoundError, match=r"missing\.npz: file not found"):
        expected_split_sizes("medmnist", {"path": str(tmp_path / "missing.npz")})
    with pytest.raises(ValueError, match="unknown option"):
        expected_split_sizes("mni152", {"colour": 1})


@pytest.mark.parametrize("bad", [np.nan, 1.5, -0.1])
def test_float_images_outside_unit_range_are_refused(tmp_path: Path, bad: float) -> None:
    from rero.data.base import Split
    from rero.data.store import write_split

    images = np.full((3, 1, 2, 2), 0.5, dtype=np.float32)
    images[1, 0, 1, 1] = bad
    part = Split(images, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"train images must lie in \[0, 1\]"):
        write_split(tmp_path, "train", part, 2)
    assert not list(tmp_path.iterdir())
