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
