"""A job's code manifest: one line per file in ``sha256sum`` form, rewritten only on change."""

from __future__ import annotations

import hashlib
import os
import subprocess

from rero.runtime.code_manifest import manifest_name, manifest_text
from rero.runtime.io import write_text_if_changed


def test_name_holds_the_subcommand_and_the_modules_imported_by_name():
    assert manifest_name("calibrate") == "calibrate.sha256"
    assert manifest_name("train", ["rero.models.classifiers"]) == "train+models.classifiers.sha256"


def test_text_is_sha256sum_of_each_file_sorted_by_path(tmp_path):
    (tmp_path / "rero" / "b").mkdir(parents=True)
    files = [tmp_path / "rero" / "b" / "z.py", tmp_path / "rero" / "a.py"]
    for number, file in enumerate(files):
        file.write_text(f"x = {number}\n")
    text = manifest_text(files, tmp_path)
    digests = [hashlib.sha256(content).hexdigest() for content in (b"x = 1\n", b"x = 0\n")]
    expected = [f"{digests[0]}  rero/a.py", f"{digests[1]}  rero/b/z.py"]
    assert text.splitlines() == expected
    (tmp_path / "code.sha256").write_text(text)
    check = subprocess.run(
        ["sha256sum", "--check", "code.sha256"], cwd=tmp_path, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_same_text_is_not_rewritten_and_a_change_replaces_it(tmp_path):
    path = tmp_path / "code" / "train.sha256"
    write_text_if_changed(path, "one\n")
    os.utime(path, ns=(0, 0))
    write_text_if_changed(path, "one\n")
    assert path.stat().st_mtime_ns == 0
    write_text_if_changed(path, "two\n")
    assert path.read_text() == "two\n"
    assert path.stat().st_mtime_ns > 0
    assert sorted(item.name for item in path.parent.iterdir()) == ["train.sha256"]
