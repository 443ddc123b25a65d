"""The planning cache (rero.data.planning_cache): a second planning call on the same index files
reads no CSV; a content change, even one that keeps the mtime, is read again; a corrupt entry
is ignored and rewritten."""

from __future__ import annotations

import os

import pytest

from rero.data import radimagenet
from rero.data.planning_cache import CACHE_FOLDER
from rero.data.registry import expected_split_sizes
from tests.helpers.index_files import write_radimagenet_csvs

ROWS = {"train": 20_000, "val": 2_500, "test": 2_500}


@pytest.fixture
def csv_reads(monkeypatch, tmp_path):
    """The CSV files RadImageNet's reader opens, in order; the cache lives in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    reads: list[str] = []
    reader = radimagenet.read_split_csv

    def counting_reader(folder, split):
        reads.append(split)
        return reader(folder, split)

    monkeypatch.setattr(radimagenet, "read_split_csv", counting_reader)
    return reads


def entries():
    return sorted((CACHE_FOLDER / "split_sizes").glob("*.json"))


def test_a_second_call_reads_no_csv(tmp_path, csv_reads):
    root = write_radimagenet_csvs(tmp_path / "RadImageNet", ROWS, num_classes=5)
    assert expected_split_sizes("radimagenet", {"root": str(root)}) == ROWS
    assert sorted(csv_reads) == ["test", "train", "val"]
    assert len(entries()) == 1
    csv_reads.clear()
    assert expected_split_sizes("radimagenet", {"root": str(root)}) == ROWS
    assert csv_reads == []
    # another option value is another entry, read once
    assert expected_split_sizes("radimagenet", {"root": str(root), "size": 64}) == ROWS
    assert sorted(csv_reads) == ["test", "train", "val"]
    assert len(entries()) == 2


def test_a_content_change_that_keeps_the_mtime_is_read_again(tmp_path, csv_reads):
    root = write_radimagenet_csvs(tmp_path / "RadImageNet", ROWS, num_classes=5)
    expected_split_sizes("radimagenet", {"root": str(root)})
    train = root / radimagenet.CSV_FILES["train"]
    before = train.stat()
    # one more row, the mtime set back (as `touch -r` or `cp -p` would)
    with open(train, "a") as handle:
        handle.write("radiology_ai/CT/c000/extra.png,CT-c000\n")
    os.utime(train, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert train.stat().st_mtime_ns == before.st_mtime_ns
    sizes = expected_split_sizes("radimagenet", {"root": str(root)})
    assert sizes == {**ROWS, "train": ROWS["train"] + 1}
    # a same-size edit with the mtime kept: a label renamed in place
    csv_reads.clear()
    text = train.read_bytes()
    train.write_bytes(text.replace(b"CT-c004\n", b"CT-c005\n", 1))
    os.utime(train, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert train.stat().st_size == len(text)
    expected_split_sizes("radimagenet", {"root": str(root)})
    assert "train" in csv_reads


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"value": {"train": -1}}', b"[1, 2]"])
def test_a_corrupt_entry_is_ignored_and_rewritten(tmp_path, csv_reads, garbage):
    root = write_radimagenet_csvs(tmp_path / "RadImageNet", ROWS, num_classes=5)
    expected_split_sizes("radimagenet", {"root": str(root)})
    (entry,) = entries()
    entry.write_bytes(garbage)
    csv_reads.clear()
    assert expected_split_sizes("radimagenet", {"root": str(root)}) == ROWS
    assert csv_reads  # read again, not taken from the broken entry
    csv_reads.clear()
    assert expected_split_sizes("radimagenet", {"root": str(root)}) == ROWS
    assert csv_reads == []  # the entry was rewritten
