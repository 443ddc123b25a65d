"""Atomic writes leave no half file; JSON is strict and round-trips infinities."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rero.runtime import io


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "c.txt"
    with io.atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"


def test_write_json_is_strict_and_reads_back(tmp_path):
    path = tmp_path / "plan.json"
    io.write_json(path, {"epsilon": math.inf, "sigma": np.float32(0.5), "steps": np.int64(3)})
    text = path.read_text()
    assert "Infinity" not in text
    data = json.loads(text)
    assert data == {"epsilon": "inf", "sigma": 0.5, "steps": 3}
    assert float(io.read_json(path)["epsilon"]) == math.inf


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        io.read_json(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        io.read_json(broken)


def test_save_npz_round_trip(tmp_path):
    path = tmp_path / "x.npz"
    io.save_npz(path, images=np.ones((2, 1, 3, 3), np.float32), labels=np.arange(2))
    with np.load(path) as archive:
        assert archive["images"].shape == (2, 1, 3, 3)
        assert archive["labels"].tolist() == [0, 1]


def test_provenance_names_versions():
    record = io.provenance()
    assert record["versions"]["torch"]
    assert record["versions"]["opacus"] == "1.6.0"
    assert record["python"].startswith("3.")


def test_atomic_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "x.json"
    io.write_json(path, {})
    assert path.stat().st_mode & 0o777 == 0o666 & ~io._UMASK


def test_atomic_path_removes_temp_files_a_killed_write_left(tmp_path):
    target = tmp_path / "figure.png"
    stale = [tmp_path / ".figure.png.tmp-ab12_xyz.png", tmp_path / ".figure.png.k3j9x_0q.tmp.png"]
    kept = [tmp_path / ".other.png.tmp-ab12_xyz.png", tmp_path / ".figure.png.tmp-notes.txt"]
    for path in stale + kept:
        path.write_text("half")
    with io.atomic_path(target) as tmp:
        assert tmp.name.startswith(".figure.png.tmp-") and tmp.suffix == ".png"
        tmp.write_text("done")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [target.name, *(path.name for path in kept)]
    )


def test_require_free_space_names_the_folder_and_the_need(tmp_path, monkeypatch):
    usage = io.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(io.shutil, "disk_usage", lambda _: usage._replace(free=2_000_000_000))
    io.require_free_space(tmp_path, 2_000_000_000, "the splits")
    with pytest.raises(ValueError) as raised:
        io.require_free_space(tmp_path, 5_500_000_000, "the splits")
    assert str(raised.value) == (
        f"{tmp_path}: not enough free space for the splits: needs 5.50 GB, 2.00 GB free; "
        "free 3.50 GB or more there"
    )
