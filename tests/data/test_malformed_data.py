"""Malformed data files, table-driven: each is refused with a message naming the file.

A case breaks one file of an otherwise valid dataset (in the official layout, made here) and says
where the refusal comes: ``before jobs`` when the config check before any job sees it (the loader's
split sizes, read from the CSVs or the ``.npz`` header, and its check that every listed image is a
non-empty file: ``checked_split_sizes``), else when the data is prepared. Prepared split files
(``results/data/<name>/``) are checked as a training job reads them.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rero.cli
from rero.data.prepare import prepare_dataset, read_meta
from rero.data.registry import checked_split_sizes
from rero.data.store import load_split
from rero.study.config import ConfigError, load_schema, validate_config
from tests.helpers import REPO, write_medmnist
from tests.helpers.paper import write_ham10000, write_radimagenet


@dataclass(frozen=True)
class Broken:
    """A dataset with one bad file: ``culprit`` must be named, ``message`` must match."""

    loader: str
    options: dict
    culprit: Path
    message: str
    before_jobs: bool


def medmnist(tmp_path: Path, content: bytes | None = None, **replace) -> tuple[dict, Path]:
    path = write_medmnist(tmp_path / "toy.npz", **replace)
    if content is not None:
        path.write_bytes(content)
    return {"path": str(path)}, path


def npy_bytes(tmp_path: Path) -> bytes:
    np.save(tmp_path / "array.npy", np.zeros((4, 8, 8), np.uint8))
    return (tmp_path / "array.npy").read_bytes()


def truncated_npz(tmp_path: Path) -> bytes:
    whole = write_medmnist(tmp_path / "whole.npz").read_bytes()
    return whole[: len(whole) // 2]


def medmnist_case(content: Callable[[Path], bytes] | None, message: str, **replace):
    def make(tmp_path: Path) -> Broken:
        options, path = medmnist(tmp_path, content(tmp_path) if content else None, **replace)
        return Broken("medmnist", options, path, message, before_jobs=True)

    return make


def ham(tmp_path: Path, lesions: int = 20) -> Path:
    return write_ham10000(tmp_path / "ham", lesions, images_per_lesion=1, size=(20, 15))


def ham_metadata_case(content: bytes | Callable[[bytes], bytes], message: str, lesions: int = 20):
    def make(tmp_path: Path) -> Broken:
        root = ham(tmp_path, lesions)
        csv = root / "HAM10000_metadata.csv"
        csv.write_bytes(content(csv.read_bytes()) if callable(content) else content)
        return Broken("ham10000", {"root": str(root), "size": 8}, csv, message, before_jobs=True)

    return make


def ham_image_case(content: bytes, message: str, before_jobs: bool):
    def make(tmp_path: Path) -> Broken:
        root = ham(tmp_path)
        image = sorted(root.rglob("*.jpg"))[0]
        image.write_bytes(content)
        options = {"root": str(root), "size": 8, "workers": 1}
        return Broken("ham10000", options, image, message, before_jobs)

    return make


def radimagenet_csv_case(split: str, content: bytes | Callable[[bytes], bytes], message: str):
    def make(tmp_path: Path) -> Broken:
        root = write_radimagenet(tmp_path / "rad", per_class=(2, 1, 1), size=(16, 16))
        csv = root / f"RadiologyAI_{split}.csv"
        csv.write_bytes(content(csv.read_bytes()) if callable(content) else content)
        return Broken("radimagenet", {"root": str(root), "size": 16}, csv, message, True)

    return make


def radimagenet_image_case(content: bytes, message: str, before_jobs: bool):
    def make(tmp_path: Path) -> Broken:
        root = write_radimagenet(tmp_path / "rad", per_class=(2, 1, 1), size=(16, 16))
        image = sorted((root / "radiology_ai").rglob("*.png"))[0]
        image.write_bytes(content)
        options = {"root": str(root), "size": 16, "workers": 1}
        return Broken("radimagenet", options, image, message, before_jobs)

    return make


def spreadsheet_bytes() -> bytes:
    """A zip archive with one compressed member, as an .xlsx file is."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<row>lesion_id,image_id,dx</row>" * 50)
    return buffer.getvalue()


def header_only(content: bytes) -> bytes:
    return content.splitlines(keepends=True)[0]


SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
JPEG_AS_TEXT = b"<html>not an image</html>\n"
CASES: dict[str, Callable[[Path], Broken]] = {
    "medmnist 0-byte file": medmnist_case(lambda _: b"", r"an empty file \(0 bytes\), not a .npz"),
    "medmnist .npy renamed .npz": medmnist_case(npy_bytes, "a single .npy array, not a .npz"),
    "medmnist text renamed .npz": medmnist_case(lambda _: b"a,b\n1,2\n", "text, not a .npz"),
    "medmnist binary renamed .npz": medmnist_case(
        lambda _: bytes(range(256)), "binary data, not a .npz"
    ),
    "medmnist truncated .npz": medmnist_case(truncated_npz, "not a readable .npz"),
    "medmnist empty training split": medmnist_case(
        None,
        "an empty train split",
        train_images=np.zeros((0, 8, 8), np.uint8),
        train_labels=np.zeros((0, 1), np.uint8),
    ),
    "medmnist object labels": medmnist_case(
        None, "'train_labels' is unreadable", train_labels=np.array([None] * 30, dtype=object)
    ),
    "medmnist no train_labels": medmnist_case(
        None, "missing key 'train_labels'", train_labels=None
    ),
    "ham10000 0-byte metadata": ham_metadata_case(b"", r"missing column\(s\) lesion_id"),
    "ham10000 metadata not UTF-8": ham_metadata_case(b"\xff\xd8\xff\xe0JFIF\x00", "not UTF-8"),
    "ham10000 spreadsheet renamed .csv": ham_metadata_case(
        lambda _: spreadsheet_bytes(), "not UTF-8"
    ),
    "ham10000 metadata header only": ham_metadata_case(header_only, "no rows"),
    "ham10000 too few lesions for a val split": ham_metadata_case(
        lambda csv: csv, r"lesion\(s\) leave the .*split\(s\) empty", lesions=2
    ),
    "ham10000 0-byte JPEG": ham_image_case(b"", r"empty \(0 bytes\)", before_jobs=True),
    "ham10000 text renamed .jpg": ham_image_case(JPEG_AS_TEXT, "unreadable image", False),
    "radimagenet 0-byte train CSV": radimagenet_csv_case("train", b"", r"missing column\(s\)"),
    "radimagenet empty val split": radimagenet_csv_case("val", header_only, "no rows"),
    "radimagenet test CSV not UTF-8": radimagenet_csv_case(
        "test", b"\x89PNG\r\n\x1a\n", "not UTF-8"
    ),
    "radimagenet 0-byte PNG": radimagenet_image_case(b"", r"empty \(0 bytes\)", True),
    "radimagenet text renamed .png": radimagenet_image_case(
        JPEG_AS_TEXT, "unreadable image", before_jobs=False
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_source_file_is_named(case: Callable[[Path], Broken], tmp_path: Path) -> None:
    broken = case(tmp_path)
    named = re.escape(str(broken.culprit))
    if broken.before_jobs:
        with pytest.raises(ValueError, match=f"{named}.*{broken.message}"):
            checked_split_sizes(broken.loader, broken.options)
        dataset = {"loader": broken.loader, "options": broken.options}
        config = {"datasets": {"d": dataset}, "eps": [8], "seeds": [0]}
        with pytest.raises(ConfigError, match=f"datasets.d: .*{named}.*{broken.message}"):
            validate_config(config, load_schema(SCHEMA), checked_split_sizes)
    else:
        assert min(checked_split_sizes(broken.loader, broken.options).values()) > 0
    with pytest.raises(ValueError, match=f"{named}.*{broken.message}"):
        prepare_dataset("d", broken.loader, broken.options, tmp_path / "out")
    assert not (tmp_path / "out" / "meta.json").exists()


PREPARED_CASES = {
    "0-byte images": ("train_images.npy", b"", r"an empty file \(0 bytes\), not a .npy"),
    ".npz renamed .npy": ("train_images.npy", "npz", "a zip archive .*, not a .npy"),
    "text renamed .npy": ("train_labels.npy", b"0\n1\n", "text, not a .npy"),
    "truncated images": ("train_images.npy", "truncated", "not a readable .npy"),
    "0-byte meta.json": ("meta.json", b"", "not valid JSON"),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prepared")
    prepare_dataset("toy", "medmnist", {"path": str(write_medmnist(folder / "toy.npz"))}, folder)
    return folder


@pytest.mark.parametrize(
    ("name", "content", "message"), PREPARED_CASES.values(), ids=PREPARED_CASES.keys()
)
def test_malformed_prepared_file_is_named(
    prepared: Path, tmp_path: Path, name: str, content: bytes | str, message: str
) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    for file in prepared.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    target = folder / name
    if content == "npz":
        target.write_bytes((prepared / "toy.npz").read_bytes())
    elif content == "truncated":
        target.write_bytes(target.read_bytes()[:-100])
    else:
        target.write_bytes(content)
    with pytest.raises(ValueError, match=f"{re.escape(str(target))}.*{message}"):
        if name == "meta.json":
            read_meta(folder)
        else:
            load_split(folder, "train")


def deny(monkeypatch: pytest.MonkeyPatch, culprit: Path) -> None:
    """Opening ``culprit`` fails as an unreadable file does (tests may run as root, whom a
    chmod does not stop): PermissionError, errno 13."""
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        named = isinstance(file, str | os.PathLike) and Path(os.fsdecode(file)) == culprit
        if named:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(culprit))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)


def first_jpeg(root: Path) -> Path:
    return sorted(root.rglob("*.jpg"))[0]


@dataclass(frozen=True)
class Unreadable:
    """A source file that cannot be read: ``make`` names it, given the dataset's file or root."""

    loader: str
    make: Callable[[Path], Path]
    reason: str


UNREADABLE = {
    "medmnist .npz permission denied": Unreadable(
        "medmnist", lambda path: path, "Permission denied"
    ),
    "ham10000 metadata permission denied": Unreadable(
        "ham10000", lambda root: root / "HAM10000_metadata.csv", "Permission denied"
    ),
    "ham10000 JPEG permission denied": Unreadable("ham10000", first_jpeg, "Permission denied"),
    "radimagenet PNG permission denied": Unreadable(
        "radimagenet", lambda root: sorted(root.rglob("*.png"))[0], "Permission denied"
    ),
}


@pytest.mark.parametrize("case", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_source_file_is_one_line_naming_dataset_file_and_reason(
    case: Unreadable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.loader == "medmnist":
        source = write_medmnist(tmp_path / "toy.npz")
        options: dict = {"path": str(source)}
    elif case.loader == "ham10000":
        source = ham(tmp_path)
        options = {"root": str(source), "size": 8, "workers": 1}
    else:
        source = write_radimagenet(tmp_path / "rad", per_class=(2, 1, 1), size=(16, 16))
        options = {"root": str(source), "size": 16, "workers": 1}
    culprit = case.make(source)
    deny(monkeypatch, culprit)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as raised:
        prepare_dataset("skin", case.loader, options, out)
    message = str(raised.value)
    assert message.startswith("dataset 'skin': ") and "\n" not in message
    assert str(culprit) in message and case.reason in message
    assert not out.exists() or not list(out.iterdir())


def test_cli_prints_an_unreadable_file_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_medmnist(tmp_path / "toy.npz")
    deny(monkeypatch, source)
    argv = ["prepare-data", "--dataset", "toy", "--loader", "medmnist"]
    argv += ["--options", json.dumps({"path": str(source)}), "--out-dir", str(tmp_path / "out")]
    assert rero.cli.main(argv) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[1:] == [f"rero prepare-data: error: dataset 'toy': {source}: Permission denied"]
