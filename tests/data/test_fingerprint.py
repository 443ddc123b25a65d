"""The source data identified by content: a changed file changes the digest whatever its mtime;
an unchanged one is not read again; meta.json records the digest."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from rero.data import file_hashes
from rero.data.fingerprint import source_digest
from rero.data.prepare import prepare_dataset
from tests.helpers import write_medmnist
from tests.helpers.paper import write_ham10000


def known_digest(files: list[Path]) -> str:
    """The digest by its definition: each file's path and SHA-256, in order."""
    lines = "".join(f"{file}\0{hashlib.sha256(file.read_bytes()).hexdigest()}\n" for file in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def same_size_other_content(path: Path) -> bytes:
    """The file's bytes with the one before the last changed to another ASCII letter."""
    content = bytearray(path.read_bytes())
    content[-2] = ord("x") if content[-2] != ord("x") else ord("y")
    return bytes(content)


def test_digest_is_the_hash_of_each_file_read(tmp_path: Path) -> None:
    npz = write_medmnist(tmp_path / "toy.npz")
    assert source_digest("medmnist", {"path": str(npz)}) == known_digest([npz])
    root = write_ham10000(tmp_path / "ham", 6, images_per_lesion=1, size=(20, 15))
    with open(root / "HAM10000_metadata.csv", newline="") as handle:
        rows = [row["image_id"] for row in csv.DictReader(handle)]
    images = [next(root.rglob(f"{image}.jpg")) for image in rows]  # in the CSV's order
    digest = source_digest("ham10000", {"root": str(root)}, tmp_path / "cache")
    assert digest == known_digest([root / "HAM10000_metadata.csv", *images])


def test_new_content_with_the_old_mtime_changes_the_digest(tmp_path: Path) -> None:
    """`cp -p` or `tar x` of a new release (a new file, same size and mtime), and a file edited
    in place with its mtime set back, each give a new digest; the cache hides neither."""
    root = write_ham10000(tmp_path / "ham", 6, images_per_lesion=1, size=(20, 15))
    options, cache = {"root": str(root)}, tmp_path / "cache"
    before = source_digest("ham10000", options, cache)
    image = sorted(root.rglob("*.jpg"))[0]
    status = image.stat()
    release = tmp_path / "release.jpg"
    release.write_bytes(same_size_other_content(image))
    os.utime(release, ns=(status.st_atime_ns, status.st_mtime_ns))
    shutil.copy2(release, image)  # cp -p
    assert image.stat().st_mtime_ns == status.st_mtime_ns
    copied = source_digest("ham10000", options, cache)
    assert copied != before
    metadata = root / "HAM10000_metadata.csv"
    status = metadata.stat()
    metadata.write_bytes(metadata.read_bytes())  # rewritten, the same content
    os.utime(metadata, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert source_digest("ham10000", options, cache) == copied
    metadata.write_bytes(same_size_other_content(metadata))
    os.utime(metadata, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert source_digest("ham10000", options, cache) not in (before, copied)


def test_unchanged_files_are_not_read_again(tmp_path: Path, monkeypatch) -> None:
    root = write_ham10000(tmp_path / "ham", 6, images_per_lesion=1, size=(20, 15))
    options, cache = {"root": str(root)}, tmp_path / "cache"
    read: list[Path] = []
    hash_file = file_hashes.file_sha256
    monkeypatch.setattr(
        file_hashes, "file_sha256", lambda path: read.append(path) or hash_file(path)
    )
    later = file_hashes.time.time_ns() + 10**10  # every file settled (older than SETTLE_SECONDS)
    monkeypatch.setattr(file_hashes.time, "time_ns", lambda: later)
    first = source_digest("ham10000", options, cache)
    files = len(read)
    assert files == 1 + len(list(root.rglob("*.jpg")))
    assert source_digest("ham10000", options, cache) == first and len(read) == files
    image = sorted(root.rglob("*.jpg"))[0]
    release = tmp_path / "release.jpg"  # a new file (inode) in its place, as `tar x` leaves
    release.write_bytes(same_size_other_content(image))
    release.replace(image)
    assert source_digest("ham10000", options, cache) != first
    assert read[files:] == [image]


def test_an_unreadable_file_counts_as_its_reason(tmp_path: Path) -> None:
    npz = write_medmnist(tmp_path / "toy.npz")
    readable = source_digest("medmnist", {"path": str(npz)})
    npz.unlink()
    npz.mkdir()  # a folder where the file was: IsADirectoryError
    gone = source_digest("medmnist", {"path": str(npz)})
    line = f"{npz}\0unreadable (Is a directory)\n"
    assert gone == hashlib.sha256(line.encode()).hexdigest() != readable


def test_meta_records_the_source_digest(tmp_path: Path) -> None:
    npz = write_medmnist(tmp_path / "toy.npz")
    meta = prepare_dataset("toy", "medmnist", {"path": str(npz)}, tmp_path / "out")
    assert meta["source_digest"] == known_digest([npz])


@pytest.mark.parametrize("loader", ["mni152", "mni152_seg"])
def test_bundled_data_has_the_digest_of_no_files(loader: str) -> None:
    assert source_digest(loader, {}) == hashlib.sha256(b"").hexdigest()
