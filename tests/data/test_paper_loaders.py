"""The paper's 2-D datasets (HAM10000, RadImageNet) on tiny folders in the official layouts."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rero.data.base as data_base
from rero.data.base import Moments, stratified_quota
from rero.data.ham10000 import DOWNLOAD_PAGE, load_ham10000
from rero.data.images import FileImageSource, square_size
from rero.data.prepare import prepare_dataset
from rero.data.radimagenet import load_radimagenet
from rero.data.registry import expected_split_sizes, source_files
from rero.data.store import load_split, unit_float
from tests.helpers.paper import write_ham10000, write_radimagenet

SPLITS = ("train", "val", "test")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ham_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 lesions with 1-3 small JPEGs each, in the two official image folders."""
    return write_ham10000(tmp_path_factory.mktemp("ham") / "HAM10000", 120, size=(60, 45))


@pytest.fixture(scope="module")
def ham_prepared(ham_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ham_out")
    prepare_dataset("ham", "ham10000", {"root": str(ham_root), "size": 16, "workers": 1}, out)
    return out


@pytest.fixture(scope="module")
def rad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = ("MR/knee/normal", "CT/abd/normal", "US/thyroid", "CT/lung/nodule", "MR/abd/x")
    root = tmp_path_factory.mktemp("rad") / "RadImageNet"
    return write_radimagenet(root, per_class=(4, 2, 2), classes=classes, size=(24, 24))


def split_rows(out: Path) -> dict[str, np.ndarray]:
    return {split: np.load(out / f"{split}_source_row.npy") for split in SPLITS}


# ---------------------------------------------------------------- HAM10000


def test_fixture_is_the_official_layout(ham_root: Path, tmp_path: Path) -> None:
    rows = csv_rows(ham_root / "HAM10000_metadata.csv")
    assert list(rows[0]) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    parts = [ham_root / "HAM10000_images_part_1", ham_root / "HAM10000_images_part_2"]
    files = sorted(path.name for part in parts for path in part.iterdir())
    assert files == sorted(f"{row['image_id']}.jpg" for row in rows)
    assert all(any(part.iterdir()) for part in parts)
    with Image.open(next(parts[0].iterdir())) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (60, 45))
    one = write_ham10000(tmp_path / "one", 3, two_folders=False)
    assert sorted(path.name for path in one.iterdir()) == [
        "HAM10000_images",
        "HAM10000_metadata.csv",
    ]


def test_no_lesion_in_two_splits_and_every_image_once(ham_root: Path, ham_prepared: Path) -> None:
    rows = csv_rows(ham_root / "HAM10000_metadata.csv")
    lesions = {
        split: {rows[r]["lesion_id"] for r in got}
        for split, got in split_rows(ham_prepared).items()
    }
    assert not lesions["train"] & lesions["val"]
    assert not lesions["train"] & lesions["test"]
    assert not lesions["val"] & lesions["test"]
    every = np.concatenate(list(split_rows(ham_prepared).values()))
    assert sorted(every.tolist()) == list(range(len(rows)))
    # 10 % of the 120 lesions are the test set, 10 % of the other 108 the validation set
    assert [len(lesions[split]) for split in SPLITS] == [97, 11, 12]
    for split, got in split_rows(ham_prepared).items():  # each split in image_id order
        ids = [rows[r]["image_id"] for r in got]
        assert ids == sorted(ids), split


def test_split_is_stratified_by_label(ham_root: Path, ham_prepared: Path) -> None:
    rows = csv_rows(ham_root / "HAM10000_metadata.csv")
    positive = {row["lesion_id"]: row["dx"] in ("akiec", "bcc", "mel") for row in rows}
    counts = np.bincount(list(positive.values()), minlength=2)
    test_lesions = {rows[r]["lesion_id"] for r in split_rows(ham_prepared)["test"]}
    in_test = np.bincount([positive[lesion] for lesion in test_lesions], minlength=2)
    assert in_test.tolist() == stratified_quota(counts, 12).tolist()
    assert 0 < in_test[1] < in_test[0]


def test_labels_follow_dx_and_the_split_follows_the_seed(
    ham_root: Path, ham_prepared: Path
) -> None:
    rows = csv_rows(ham_root / "HAM10000_metadata.csv")
    for split, got in split_rows(ham_prepared).items():
        _, labels = load_split(ham_prepared, split)
        expected = [int(rows[r]["dx"] in ("akiec", "bcc", "mel")) for r in got]
        assert labels.tolist() == expected
    again = load_ham10000(str(ham_root), seed=0, workers=1)
    other = load_ham10000(str(ham_root), seed=1, workers=1)
    assert np.array_equal(again.test.extras["source_row"], split_rows(ham_prepared)["test"])
    assert not np.array_equal(other.test.extras["source_row"], split_rows(ham_prepared)["test"])
    assert again.class_names == [
        "no urgent attention (bkl, df, nv, vasc)",
        "needs attention (akiec, bcc, mel)",
    ]


def test_round_trip_through_memory_maps(ham_root: Path, ham_prepared: Path) -> None:
    from rero.data.prepare import read_meta

    meta = read_meta(ham_prepared)
    assert meta["dtype"] == "uint8" and meta["shape"] == [3, 16, 16] and meta["skipped"] == 0
    assert meta["options"] == {
        "root": str(ham_root),
        "size": 16,
        "seed": 0,
        "on_unreadable": "error",
    }
    rows = csv_rows(ham_root / "HAM10000_metadata.csv")
    found = {path.stem: path for path in ham_root.rglob("*.jpg")}
    for split in SPLITS:
        images, labels = load_split(ham_prepared, split)
        assert isinstance(images, np.memmap) and not images.flags.writeable
        assert images.shape == (meta["splits"][split]["n"], 3, 16, 16) == (len(labels), 3, 16, 16)
        for name, digest in meta["splits"][split]["sha256"].items():
            assert sha256(ham_prepared / name) == digest
        row = int(np.load(ham_prepared / f"{split}_source_row.npy")[0])
        with Image.open(found[rows[row]["image_id"]]) as image:
            first = np.asarray(image.convert("RGB").resize((21, 16), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(images[0], first[:, 2:18].transpose(2, 0, 1))
    train, _ = load_split(ham_prepared, "train")
    pixels = unit_float(np.asarray(train)).astype(np.float64)
    np.testing.assert_allclose(meta["mean"], pixels.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(meta["std"], pixels.std(axis=(0, 2, 3)), rtol=1e-12)


def test_resize_shorter_side_then_centre_crop(tmp_path: Path) -> None:
    assert square_size(600, 450, 224) == (298, 224)  # torchvision's Resize(224) rounding
    assert square_size(450, 600, 224) == (224, 298)
    root = write_ham10000(tmp_path / "ham", 12, images_per_lesion=1)  # 600 x 450 originals
    splits = load_ham10000(str(root), size=32, workers=1)
    chunk = next(splits.train.images.chunks())
    assert chunk.images.shape[1:] == (3, 32, 32) and chunk.images.dtype == np.uint8
    row = int(splits.train.extras["source_row"][0])
    image_id = csv_rows(root / "HAM10000_metadata.csv")[row]["image_id"]
    with Image.open(next(root.rglob(f"{image_id}.jpg"))) as image:
        resized = image.convert("RGB").resize((42, 32), Image.Resampling.BILINEAR)
    expected = np.asarray(resized)[:, 5:37].transpose(2, 0, 1)  # left = round((42 - 32) / 2)
    np.testing.assert_array_equal(chunk.images[0], expected)


def test_one_image_folder_gives_the_same_dataset(tmp_path: Path) -> None:
    two = write_ham10000(tmp_path / "two", 15, size=(40, 30), seed=3)
    one = write_ham10000(tmp_path / "one", 15, size=(40, 30), seed=3, two_folders=False)
    options = {"size": 8, "workers": 1}
    a = prepare_dataset("a", "ham10000", {"root": str(two), **options}, tmp_path / "a")
    b = prepare_dataset("b", "ham10000", {"root": str(one), **options}, tmp_path / "b")
    assert a["splits"] == b["splits"]


def test_expected_split_sizes_reads_only_the_csv(
    ham_root: Path, ham_prepared: Path, tmp_path: Path
) -> None:
    from rero.data.prepare import read_meta

    bare = tmp_path / "csv_only"
    bare.mkdir()
    shutil.copy(ham_root / "HAM10000_metadata.csv", bare)  # no image at all
    meta = read_meta(ham_prepared)
    assert expected_split_sizes("ham10000", {"root": str(bare)}) == {
        split: meta["splits"][split]["n"] for split in SPLITS
    }
    assert expected_split_sizes("ham10000", {"root": str(bare), "seed": 1})["train"] > 0
    assert source_files("ham10000", {"root": str(bare)}) == [str(bare / "HAM10000_metadata.csv")]


def test_missing_files_show_the_expected_layout(ham_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="folder not found") as error:
        load_ham10000(str(tmp_path / "nowhere"))
    assert DOWNLOAD_PAGE in str(error.value) and "HAM10000_images_part_1" in str(error.value)
    no_metadata = re.escape(
        f"{tmp_path}: no metadata file (HAM10000_metadata.csv, HAM10000_metadata, "
        "HAM10000_metadata.tab) found; expected the HAM10000 download"
    )
    with pytest.raises(FileNotFoundError, match=no_metadata):
        load_ham10000(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=no_metadata):
        expected_split_sizes("ham10000", {"root": str(tmp_path)})
    shutil.copy(ham_root / "HAM10000_metadata.csv", tmp_path)
    rows = len(csv_rows(ham_root / "HAM10000_metadata.csv"))
    with pytest.raises(FileNotFoundError, match=rf"{rows} of {rows} .* found no JPEG under"):
        load_ham10000(str(tmp_path))
    shutil.copytree(ham_root / "HAM10000_images_part_1", tmp_path / "HAM10000_images_part_1")
    with pytest.raises(
        FileNotFoundError, match=r"image\(s\) listed in .* not found under .*first: ISIC_"
    ):
        load_ham10000(str(tmp_path))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[3].update(dx="melanoma"), "line 5: .*dx 'melanoma'; expected"),
        (lambda rows: rows[4].update(image_id=rows[2]["image_id"]), "already on line 4"),
        (lambda rows: [row.pop("lesion_id") for row in rows], r"missing column\(s\) lesion_id"),
        (
            lambda rows: (rows[0].update(dx="mel"), rows[1].update(dx="nv")),
            "lesion 'HAM_0000000' has images with dx of both labels",
        ),
    ],
)
def test_malformed_metadata(tmp_path: Path, edit, message: str) -> None:
    root = write_ham10000(tmp_path / "ham", 8, images_per_lesion=2, size=(20, 15))
    rows = csv_rows(root / "HAM10000_metadata.csv")
    edit(rows)
    write_csv(root / "HAM10000_metadata.csv", rows)
    with pytest.raises(ValueError, match=message):
        load_ham10000(str(root))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_unreadable": "ignore"}, "'on_unreadable' must be one of error, skip, got 'ignore'"),
        ({"size": 4}, "'size' must be >= 8"),
        ({"seed": -1}, "'seed' must be >= 0"),
        ({"workers": 0}, "'workers' must be >= 1"),
    ],
)
def test_bad_options(ham_root: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_ham10000(str(ham_root), **options)


def corrupt_one_image(root: Path, row: int, data: bytes | None = None) -> Path:
    image_id = csv_rows(root / "HAM10000_metadata.csv")[row]["image_id"]
    path = next(root.rglob(f"{image_id}.jpg"))
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 3] if data is None else data)
    return path


@pytest.mark.parametrize("data", [b"not a jpeg", None], ids=["garbage", "truncated"])
def test_unreadable_jpeg_is_an_error_naming_it(tmp_path: Path, data: bytes | None) -> None:
    root = write_ham10000(tmp_path / "ham", 10, size=(64, 48))
    splits = load_ham10000(str(root), size=16, workers=1)
    bad = corrupt_one_image(root, int(splits.val.extras["source_row"][0]), data)
    with pytest.raises(ValueError, match=re.escape(f"{bad}: unreadable image")) as error:
        prepare_dataset("ham", "ham10000", {"root": str(root), "size": 16}, tmp_path / "out")
    assert "on_unreadable: skip" in str(error.value)
    assert not (tmp_path / "out" / "meta.json").exists()


def test_unreadable_jpeg_skipped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(data_base, "CHUNK_BYTES", 3 * 16 * 16 * 4)  # 4 images per chunk
    root = write_ham10000(tmp_path / "ham", 30, images_per_lesion=1, size=(32, 24))
    splits = load_ham10000(str(root), size=16, workers=1)
    rows = splits.train.extras["source_row"]
    bad = corrupt_one_image(root, int(rows[5]))
    options = {"root": str(root), "size": 16, "on_unreadable": "skip", "workers": 1}
    meta = prepare_dataset("ham", "ham10000", options, tmp_path / "out")
    assert f"skipped {bad}: unreadable image" in capsys.readouterr().err
    assert meta["skipped"] == 1 and meta["splits"]["train"]["skipped"] == 1
    assert meta["num_train"] == len(rows) - 1 == meta["splits"]["train"]["n"]
    kept = np.load(tmp_path / "out" / "train_source_row.npy")
    assert kept.tolist() == np.delete(rows, 5).tolist()
    images, labels = load_split(tmp_path / "out", "train")
    assert len(images) == len(labels) == len(rows) - 1
    np.testing.assert_array_equal(labels, np.delete(splits.train.labels, 5))
    for name, digest in meta["splits"]["train"]["sha256"].items():
        assert sha256(tmp_path / "out" / name) == digest
    clean = load_ham10000(str(write_ham10000(tmp_path / "clean", 30, 1, (32, 24))), 16, workers=1)
    chunks = list(clean.train.images.chunks())
    reference = np.concatenate([chunk.images for chunk in chunks])
    np.testing.assert_array_equal(images, np.delete(reference, 5, axis=0))


def test_sources_are_lazy_and_streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding happens chunk by chunk as they are consumed, and the peak of Python-visible
    memory while preparing does not grow with the number of images."""
    monkeypatch.setattr(data_base, "CHUNK_BYTES", 3 * 16 * 16 * 4)
    root = write_ham10000(tmp_path / "ham", 80, images_per_lesion=1, size=(80, 60))
    splits = load_ham10000(str(root), size=16, workers=1)
    corrupt_one_image(root, int(splits.train.extras["source_row"][-1]), b"broken")
    chunks = splits.train.images.chunks()
    assert len(next(chunks).images) == 4  # the broken last file is not read yet
    with pytest.raises(ValueError, match="unreadable image"):
        list(chunks)

    monkeypatch.setattr(data_base, "CHUNK_BYTES", 3 * 48 * 48 * 4)

    def peak(num_lesions: int) -> int:
        folder = write_ham10000(tmp_path / f"n{num_lesions}", num_lesions, 1, (64, 48))
        options = {"root": str(folder), "size": 48, "workers": 1}
        tracemalloc.start()
        prepare_dataset("ham", "ham10000", options, tmp_path / f"out{num_lesions}")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    # holding the 320 training images (48 x 48 RGB) at once would add 2.2 MB
    small, large = peak(40), peak(320)
    assert large < small + 300_000, (small, large)


def test_worker_pool_gives_the_same_files(ham_root: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data_base, "CHUNK_BYTES", 3 * 16 * 16 * 8)  # several tasks per split
    serial = prepare_dataset(
        "h", "ham10000", {"root": str(ham_root), "size": 16, "workers": 1}, tmp_path / "a"
    )
    pooled = prepare_dataset(
        "h", "ham10000", {"root": str(ham_root), "size": 16, "workers": 2}, tmp_path / "b"
    )
    assert pooled["splits"] == serial["splits"] and pooled["mean"] == serial["mean"]
    assert "workers" not in pooled["options"]


# ---------------------------------------------------------------- RadImageNet


def test_radimagenet_classes_labels_and_channels(rad_root: Path, tmp_path: Path) -> None:
    meta = prepare_dataset("rad", "radimagenet", {"root": str(rad_root), "size": 24}, tmp_path)
    names = ["CT-abd-normal", "CT-lung-nodule", "MR-abd-x", "MR-knee-normal", "US-thyroid"]
    assert meta["class_names"] == names and meta["num_classes"] == 5
    assert meta["shape"] == [1, 24, 24] and meta["dtype"] == "uint8"
    assert [meta["splits"][split]["n"] for split in SPLITS] == [20, 10, 10]
    for split in SPLITS:
        rows = csv_rows(rad_root / f"RadiologyAI_{split}.csv")
        images, labels = load_split(tmp_path, split)
        assert labels.tolist() == [names.index(row["label"]) for row in rows]
        with Image.open(rad_root / rows[3]["filename"]) as image:  # native size: pixels as stored
            np.testing.assert_array_equal(images[3, 0], np.asarray(image))
    assert expected_split_sizes("radimagenet", {"root": str(rad_root)}) == {
        split: meta["splits"][split]["n"] for split in SPLITS
    }


def test_radimagenet_resizes_only_images_of_another_size(rad_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "rad"
    shutil.copytree(rad_root, root)
    rows = csv_rows(root / "RadiologyAI_train.csv")
    odd = np.random.default_rng(0).integers(0, 255, size=(30, 40), dtype=np.uint8)
    Image.fromarray(odd).save(root / rows[2]["filename"])  # 40 wide, 30 high
    splits = load_radimagenet(str(root), size=24, workers=1)
    images = np.concatenate([chunk.images for chunk in splits.train.images.chunks()])
    resized = np.asarray(Image.fromarray(odd).resize((32, 24), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(images[2, 0], resized[:, 4:28])
    with Image.open(root / rows[1]["filename"]) as image:
        np.testing.assert_array_equal(images[1, 0], np.asarray(image))


def test_radimagenet_missing_pieces(rad_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "rad"
    shutil.copytree(rad_root, root)
    assert source_files("radimagenet", {"root": str(root)}) == [
        str(root / f"RadiologyAI_{split}.csv") for split in SPLITS
    ]
    (root / "RadiologyAI_val.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"RadiologyAI_val\.csv: file not found; expected"):
        load_radimagenet(str(root))
    with pytest.raises(FileNotFoundError, match=r"RadiologyAI_val\.csv: file not found"):
        expected_split_sizes("radimagenet", {"root": str(root)})
    shutil.copy(rad_root / "RadiologyAI_val.csv", root)
    rows = csv_rows(root / "RadiologyAI_test.csv")
    (root / rows[0]["filename"]).unlink()
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"not found (first: {root / rows[0]['filename']});")
    ):
        prepare_dataset("rad", "radimagenet", {"root": str(root), "size": 24}, tmp_path / "out")
    assert not (tmp_path / "out" / "meta.json").exists()
    shutil.rmtree(root / "radiology_ai")
    with pytest.raises(
        FileNotFoundError, match=r"no radiology_ai/ folder and no CT, MR, US folder in it; expec"
    ):
        load_radimagenet(str(root))


def test_radimagenet_label_not_in_train(rad_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "rad"
    shutil.copytree(rad_root, root)
    rows = csv_rows(root / "RadiologyAI_test.csv")
    rows[0]["label"] = "CT-brain-new"
    write_csv(root / "RadiologyAI_test.csv", rows)
    with pytest.raises(ValueError, match=r"RadiologyAI_test\.csv: label\(s\) 'CT-brain-new' are"):
        load_radimagenet(str(root))


# ---------------------------------------------------------------- shared pieces


def test_moments_merge_to_the_whole() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 3, 5, 7), dtype=np.uint8)
    merged = Moments.of(images[:13]).merge(Moments.of(images[13:31])).merge(Moments.of(images[31:]))
    floats = unit_float(images).astype(np.float64)
    np.testing.assert_allclose(merged.mean, floats.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(merged.var, floats.var(axis=(0, 2, 3)), rtol=1e-12)
    assert Moments.of(images[:0]).merge(merged) == merged


def test_file_source_shape(tmp_path: Path) -> None:
    source = FileImageSource(("a.png",), "L", 12, "error", 1, "layout")
    assert (len(source), source.shape, source.dtype) == (1, (1, 12, 12), np.uint8)
    with pytest.raises(FileNotFoundError, match=r"a\.png: file not found; layout"):
        next(source.chunks())
