"""The planning cache (rero.data.planning_cache): a second planning call on unchanged data reads no
index file, stats no RadImageNet image and hashes nothing; any change it depends on (an index file
edited with its mtime restored, an image replaced, added or removed, a folder renamed) is seen; a
corrupt cache file is ignored and rewritten; a file changed in the last seconds is not cached."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rero.data import file_hashes, ham10000, planning_cache, radimagenet, unpacked
from rero.data.fingerprint import source_digest
from rero.data.registry import checked_split_sizes, expected_split_sizes, planning_digest
from tests.helpers.paper import write_ham10000, write_radimagenet

RAD_SIZES = {"train": 8, "val": 4, "test": 4}


class Reads:
    """What planning read: the split CSVs parsed, the metadata files parsed, the files hashed,
    the folders walked and the paths stat-ed."""

    def __init__(self) -> None:
        self.csvs: list[str] = []
        self.metadata: list[Path] = []
        self.hashed: list[Path] = []
        self.walks: list[Path] = []
        self.stats: list[str] = []

    def clear(self) -> None:
        for reads in vars(self).values():
            reads.clear()

    def images_stated(self) -> list[str]:
        return [path for path in self.stats if path.endswith((".png", ".jpg"))]


@pytest.fixture
def reads(monkeypatch, tmp_path) -> Reads:
    """Counted readers; the caches live in ``tmp_path``, and every file counts as settled (the
    clock 10 s ahead), as the files written here are seconds old."""
    monkeypatch.chdir(tmp_path)
    later = file_hashes.time.time_ns() + 10**10
    monkeypatch.setattr(file_hashes.time, "time_ns", lambda: later)
    counted = Reads()

    def counting(module, name, log):
        original = getattr(module, name)

        def wrapper(*arguments):
            log.append(arguments[0] if name != "read_split_csv" else arguments[1])
            return original(*arguments)

        monkeypatch.setattr(module, name, wrapper)

    counting(radimagenet, "read_split_csv", counted.csvs)
    counting(ham10000, "read_metadata", counted.metadata)
    counting(file_hashes, "file_sha256", counted.hashed)
    counting(unpacked, "walk_files", counted.walks)
    monkeypatch.setattr(ham10000, "walk_files", unpacked.walk_files)
    stat = os.stat

    def counting_stat(path, *arguments, **keywords):
        counted.stats.append(os.fspath(path))
        return stat(path, *arguments, **keywords)

    monkeypatch.setattr(os, "stat", counting_stat)
    return counted


def rad_root(tmp_path: Path) -> Path:
    return write_radimagenet(tmp_path / "RadImageNet", per_class=(2, 1, 1), size=(8, 8))


def entries() -> list[Path]:
    return sorted(planning_cache.CACHE_FOLDER.glob("*.json"))


def set_back(path: Path, status: os.stat_result) -> None:
    """The mtime (and atime) of ``path`` set back to ``status``'s, as `cp -p` or `touch -r` do."""
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def same_size_other_content(path: Path) -> bytes:
    content = bytearray(path.read_bytes())
    content[-2] = ord("x") if content[-2] != ord("x") else ord("y")
    return bytes(content)


def test_a_second_radimagenet_plan_reads_no_csv_and_stats_no_image(tmp_path, reads):
    options = {"root": str(rad_root(tmp_path))}
    assert checked_split_sizes("radimagenet", options) == RAD_SIZES
    digest = planning_digest("radimagenet", options)
    assert sorted(reads.csvs) == ["test", "train", "val"] and reads.images_stated()
    assert len(entries()) == 1 and len(reads.hashed) == 3  # the CSVs, not the images
    reads.clear()
    assert checked_split_sizes("radimagenet", options) == RAD_SIZES
    assert expected_split_sizes("radimagenet", options) == RAD_SIZES
    assert planning_digest("radimagenet", options) == digest
    assert reads.csvs == [] and reads.images_stated() == [] and reads.hashed == []
    # another option value is another entry, surveyed once
    assert checked_split_sizes("radimagenet", {**options, "size": 64}) == RAD_SIZES
    assert sorted(reads.csvs) == ["test", "train", "val"] and len(entries()) == 2


def test_a_second_ham10000_plan_reads_no_csv_walks_and_hashes_nothing(tmp_path, reads):
    root = write_ham10000(tmp_path / "ham", 12, images_per_lesion=1, size=(20, 15))
    options = {"root": str(root)}
    sizes = checked_split_sizes("ham10000", options)
    digest = planning_digest("ham10000", options)
    assert reads.metadata and reads.walks and len(reads.hashed) == 13  # metadata, 12 JPEGs
    reads.clear()
    assert checked_split_sizes("ham10000", options) == sizes
    assert planning_digest("ham10000", options) == digest
    assert reads.metadata == reads.walks == reads.hashed == []
    assert source_digest("ham10000", options) == digest  # what prepare_data records


def changed_csv(root: Path) -> None:
    """One more training row, the CSV's mtime set back."""
    train = root / radimagenet.CSV_FILES["train"]
    status = train.stat()
    image = next((root / "radiology_ai" / "CT" / "abd" / "normal").iterdir())
    shutil.copy(image, image.with_name("extra.png"))
    with open(train, "a") as handle:
        handle.write("radiology_ai/CT/abd/normal/extra.png,CT-abd-normal\n")
    set_back(train, status)


def same_size_label(root: Path) -> None:
    """A label renamed in place in the val CSV, same size, mtime set back."""
    val = root / radimagenet.CSV_FILES["val"]
    status, text = val.stat(), val.read_bytes()
    val.write_bytes(text.replace(b"CT-abd-normal", b"CT-lung-nodul", 1))
    set_back(val, status)


def image_replaced(root: Path) -> None:
    """An image replaced by a new file of the same size and mtime (`tar x`, `rsync`)."""
    image = sorted((root / "radiology_ai" / "MR" / "knee" / "normal").iterdir())[0]
    status = image.stat()
    release = image.with_name("release.tmp")
    release.write_bytes(same_size_other_content(image))
    set_back(release, status)
    release.replace(image)


def image_added(root: Path) -> None:
    """An image added beside the listed ones (not listed)."""
    folder = root / "radiology_ai" / "US" / "thyroid"
    shutil.copy2(next(folder.iterdir()), folder / "unlisted.png")


def folder_renamed(root: Path) -> None:
    """A class folder renamed away and an exact copy (names, bytes and mtimes) put in its
    place."""
    folder = root / "radiology_ai" / "CT" / "lung" / "nodule"
    folder.rename(folder.with_name("old"))
    shutil.copytree(folder.with_name("old"), folder, copy_function=shutil.copy2)


@pytest.mark.parametrize(
    "change", [changed_csv, same_size_label, image_replaced, image_added, folder_renamed]
)
def test_a_radimagenet_change_is_seen(tmp_path, reads, change):
    root = rad_root(tmp_path)
    options = {"root": str(root)}
    digest = planning_digest("radimagenet", options)
    change(root)
    reads.clear()
    assert planning_digest("radimagenet", options) != digest
    assert sorted(reads.csvs) == ["test", "train", "val"]  # surveyed again
    if change is changed_csv:
        assert checked_split_sizes("radimagenet", options)["train"] == RAD_SIZES["train"] + 1


def test_a_removed_image_fails_the_check_again(tmp_path, reads):
    root = rad_root(tmp_path)
    options = {"root": str(root)}
    checked_split_sizes("radimagenet", options)
    removed = sorted((root / "radiology_ai" / "CT" / "abd" / "normal").iterdir())[-1]
    removed.unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 16 image\(s\) listed .* not found"):
        checked_split_sizes("radimagenet", options)


def test_a_radimagenet_image_rewritten_in_place_is_seen_by_the_preparation_only(tmp_path, reads):
    """Planning does not stat each of RadImageNet's images: an image whose content is rewritten
    in place (same inode, size and mtime) leaves its folder as it was; the digest that
    prepare_data records in meta.json reads every image and sees it."""
    root = rad_root(tmp_path)
    options = {"root": str(root)}
    planned, prepared = (
        planning_digest("radimagenet", options),
        source_digest("radimagenet", options),
    )
    image = sorted((root / "radiology_ai" / "CT" / "abd" / "normal").iterdir())[0]
    status = image.stat()
    image.write_bytes(same_size_other_content(image))
    set_back(image, status)
    assert planning_digest("radimagenet", options) == planned
    assert source_digest("radimagenet", options) != prepared


def test_a_ham10000_image_rewritten_in_place_is_seen(tmp_path, reads):
    """`cp -p` of a new release onto an image: same inode, size and mtime, a new ctime."""
    root = write_ham10000(tmp_path / "ham", 12, images_per_lesion=1, size=(20, 15))
    options = {"root": str(root)}
    digest = planning_digest("ham10000", options)
    image = sorted(root.rglob("*.jpg"))[0]
    status = image.stat()
    release = tmp_path / "release.jpg"
    release.write_bytes(same_size_other_content(image))
    set_back(release, status)
    shutil.copy2(release, image)
    assert image.stat().st_ino == status.st_ino and image.stat().st_mtime_ns == status.st_mtime_ns
    reads.clear()
    assert planning_digest("ham10000", options) != digest
    assert reads.hashed == [image]  # the other files' hashes are remembered


def test_a_ham10000_image_added_is_surveyed_again(tmp_path, reads):
    root = write_ham10000(tmp_path / "ham", 12, images_per_lesion=1, size=(20, 15))
    options = {"root": str(root)}
    digest = planning_digest("ham10000", options)
    image = sorted(root.rglob("*.jpg"))[0]
    shutil.copy2(image, root / image.name)  # the same image_id twice
    with pytest.raises(ValueError, match="found twice"):
        planning_digest("ham10000", options)
    (root / image.name).unlink()
    reads.clear()
    assert planning_digest("ham10000", options) == digest and reads.metadata


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"version": 2, "value": [1]}', b"[1]"])
def test_a_corrupt_entry_is_ignored_and_rewritten(tmp_path, reads, garbage):
    options = {"root": str(rad_root(tmp_path))}
    digest = planning_digest("radimagenet", options)
    (entry,) = entries()
    entry.write_bytes(garbage)
    for hashes in file_hashes.CACHE_FOLDER.glob("*.json"):
        hashes.write_bytes(garbage)
    reads.clear()
    assert planning_digest("radimagenet", options) == digest
    assert reads.csvs and len(reads.hashed) == 3  # surveyed and hashed again
    reads.clear()
    assert planning_digest("radimagenet", options) == digest
    assert reads.csvs == reads.hashed == []  # both rewritten


def test_files_changed_in_the_last_seconds_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = {"root": str(rad_root(tmp_path))}  # written just now
    digest = planning_digest("radimagenet", options)
    assert entries() == [] and list(file_hashes.CACHE_FOLDER.glob("*.json")) == []
    later = file_hashes.time.time_ns() + 10**10
    monkeypatch.setattr(file_hashes.time, "time_ns", lambda: later)
    assert planning_digest("radimagenet", options) == digest
    assert len(entries()) == 1
