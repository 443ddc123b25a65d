"""A preparation that fails leaves no split file, no meta.json and no hidden temporary file; a
full disk is refused before any write, naming the folder and the space needed."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

import rero.data.prepare as prepare
import rero.data.store as store
from rero.runtime import io
from tests.helpers import write_medmnist


def reporting_free(free: int):
    """A stand-in for shutil.disk_usage reporting ``free`` bytes free."""
    disk_usage = io.shutil.disk_usage
    return lambda folder: disk_usage(folder)._replace(free=free)


def toy(tmp_path: Path) -> dict:
    return {"path": str(write_medmnist(tmp_path / "toy.npz"))}


def test_full_disk_is_refused_before_writing(tmp_path: Path, monkeypatch) -> None:
    options, out = toy(tmp_path), tmp_path / "out"
    meta = prepare.prepare_dataset("toy", "medmnist", options, out)
    written = sum(path.stat().st_size for path in out.glob("*.npy"))
    monkeypatch.setattr(io.shutil, "disk_usage", reporting_free(1000))
    with pytest.raises(ValueError) as raised:
        prepare.prepare_dataset("toy", "medmnist", options, out)
    message = str(raised.value)
    assert message.startswith(f"dataset 'toy': {out}: not enough free space for the prepared ")
    needed = int(message.split("needs ")[1].split(" bytes")[0])
    files = len(list(out.glob("*.npy"))) if out.exists() else 0
    assert files == 0 and not (out / "meta.json").exists()
    split_files = sum(len(info["sha256"]) for info in meta["splits"].values())
    assert written <= needed <= written + store.NPY_HEADER_BYTES * split_files
    assert "1000 bytes free" in message


def test_full_disk_while_allocating_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "posix_fallocate", no_space, raising=False)
    monkeypatch.setattr(io.shutil, "disk_usage", reporting_free(10))
    monkeypatch.setattr(prepare, "require_free_space", lambda *args: None)  # passed, then filled
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=f"dataset 'toy': {out}: not enough free space for "):
        prepare.prepare_dataset("toy", "medmnist", toy(tmp_path), out)
    assert list(out.iterdir()) == []


def test_failed_split_leaves_no_file_and_stale_temp_files_go(tmp_path: Path, monkeypatch) -> None:
    options, out = toy(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / ".train_images.npy.tmp-k1lled_9.npy").write_bytes(b"left by kill -9")
    write_split = store.write_split

    def fail_on_test(out_dir, name, *args, **kwargs):
        if name == "test":
            raise ValueError("test split broken")
        return write_split(out_dir, name, *args, **kwargs)

    monkeypatch.setattr(prepare, "write_split", fail_on_test)
    with pytest.raises(ValueError, match="dataset 'toy': test split broken"):
        prepare.prepare_dataset("toy", "medmnist", options, out)
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    meta = prepare.prepare_dataset("toy", "medmnist", options, out)
    assert not [path for path in out.iterdir() if path.name.startswith(".")]
    assert np.load(out / "test_labels.npy").shape == (meta["splits"]["test"]["n"],)
