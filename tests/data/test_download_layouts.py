"""The paper's datasets as users really unpack them: each variant of the official downloads is
either prepared exactly as the reference layout is, or refused before any job (by the loader's
file check, which ``check-config`` and the workflow run) with a message saying what was found and
the command that fixes it."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rero.cli import main
from rero.commands import check
from rero.data.prepare import prepare_dataset
from rero.data.registry import check_files, checked_split_sizes, expected_split_sizes
from tests.helpers.msd import write_msd_liver
from tests.helpers.paper import HAM_ARCHIVES, pack_ham10000, write_ham10000, write_radimagenet

HAM_OPTIONS = {"size": 8, "workers": 1}
RAD_OPTIONS = {"size": 16, "workers": 1}
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "


def ham_reference(folder: Path) -> Path:
    """The HAM10000 test set in the layout the loader always read: metadata CSV, two folders."""
    return write_ham10000(folder, 14, images_per_lesion=(1, 2), size=(20, 15), seed=5)


def ham_download(folder: Path, metadata: str = "HAM10000_metadata") -> Path:
    """The same set as :func:`ham_reference`, as the Dataverse delivers it (zipped JPEGs)."""
    return pack_ham10000(ham_reference(folder), metadata)


def unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as packed:
        packed.extractall(into)


def prepared_splits(loader: str, options: dict, out: Path) -> dict:
    """The split files' digests of a preparation (each split's images, labels and rows)."""
    return prepare_dataset("d", loader, options, out)["splits"]


@pytest.fixture(scope="module")
def ham_expected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = ham_reference(tmp_path_factory.mktemp("ham") / "reference")
    return prepared_splits("ham10000", {"root": str(root), **HAM_OPTIONS}, root.parent / "out")


def bundle_unzipped_into_root(root: Path) -> Path:
    """`unzip` of both image zips inside the bundle folder: JPEGs (and __MACOSX/) in root."""
    for name in HAM_ARCHIVES:
        unzip(root / name, root)
    return root


def tab_unzipped_into_folders(root: Path) -> Path:
    """The Dataverse's tab-separated export; each zip into a folder named after it."""
    for name in HAM_ARCHIVES:
        unzip(root / name, root / Path(name).stem)
    return root


def excel_csv_page_spelling(root: Path) -> Path:
    """Metadata re-saved by Excel as "CSV UTF-8" (byte-order mark, CRLF); the folders spelt as
    on the dataset page (``HAM10000_images_part1``); an AppleDouble twin beside one JPEG."""
    text = (root / "HAM10000_metadata").read_text()
    (root / "HAM10000_metadata").unlink()
    (root / "HAM10000_metadata.csv").write_bytes(
        b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    )
    for number, name in enumerate(HAM_ARCHIVES, 1):
        unzip(root / name, root / f"HAM10000_images_part{number}")
    first = sorted((root / "HAM10000_images_part1").glob("*.jpg"))[0]
    (first.parent / f"._{first.name}").write_bytes(APPLEDOUBLE)
    return root


def semicolons_one_level_too_deep(root: Path) -> Path:
    """Metadata with semicolons (Excel in a comma-decimal locale); each zip unzipped by a tool
    that makes its own folder, into a folder of the same name: two levels below root."""
    text = (root / "HAM10000_metadata").read_text()
    (root / "HAM10000_metadata").write_text(text.replace(",", ";"))
    for name in HAM_ARCHIVES:
        stem = Path(name).stem
        unzip(root / name, root / stem / stem)
    return root


def linked_folder(root: Path) -> Path:
    """The JPEGs unzipped elsewhere, linked into root (and a link back to root: no endless walk)."""
    elsewhere = root.parent / "images_elsewhere"
    for name in HAM_ARCHIVES:
        unzip(root / name, elsewhere)
    (root / "images").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back").symlink_to(root, target_is_directory=True)
    return root


UNPACKED = {
    "bundle, JPEGs in root": ("HAM10000_metadata", bundle_unzipped_into_root),
    ".tab, one folder per zip": ("HAM10000_metadata.tab", tab_unzipped_into_folders),
    "Excel BOM, part1 spelling": ("HAM10000_metadata", excel_csv_page_spelling),
    "semicolons, nested": ("HAM10000_metadata", semicolons_one_level_too_deep),
    "linked folder": ("HAM10000_metadata", linked_folder),
}


@pytest.mark.parametrize(("metadata", "unpack"), UNPACKED.values(), ids=UNPACKED.keys())
def test_ham10000_unpacked_as_users_do_gives_the_reference_data(
    tmp_path: Path, ham_expected: dict, metadata: str, unpack: Callable[[Path], Path]
) -> None:
    root = unpack(ham_download(tmp_path / "download", metadata))
    options = {"root": str(root), **HAM_OPTIONS}
    sizes = {split: ham_expected[split]["n"] for split in ham_expected}
    assert checked_split_sizes("ham10000", options) == sizes
    assert prepared_splits("ham10000", options, tmp_path / "out") == ham_expected


def ham_refusal(tmp_path: Path, arrange: Callable[[Path], object]) -> str:
    """The message of the check before any job on the download arranged by ``arrange``."""
    root = ham_download(tmp_path / "download")
    arrange(root)
    with pytest.raises((FileNotFoundError, ValueError)) as error:
        check_files("ham10000", {"root": str(root), **HAM_OPTIONS})
    return str(error.value)


def test_ham10000_still_zipped_names_the_unzip_commands(tmp_path: Path) -> None:
    message = ham_refusal(tmp_path, lambda root: None)
    root = tmp_path / "download"
    metadata = (root / "HAM10000_metadata").read_text().splitlines()
    assert message.startswith(
        f"{len(metadata) - 1} of {len(metadata) - 1} image(s) listed in "
        f"{root / 'HAM10000_metadata'} not found under {root} (first: ISIC_"
    )
    assert f"found no JPEG under {root}; unpack the archive(s) that hold them: `" in message
    for name in HAM_ARCHIVES:
        stem = Path(name).stem
        assert f"unzip -q -n {root / name} -d {root / stem}" in message


def jpeg_members(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as packed:
        return [name for name in packed.namelist() if re.fullmatch(r"ISIC_\d+\.jpg", name)]


def test_ham10000_half_unzipped_names_the_zip_and_where_to(tmp_path: Path) -> None:
    """Zip 1 unzipped into root, zip 2 interrupted after its first JPEG: the rest of zip 2 is
    missing, and the command unzips it where its first JPEG went (no second copy)."""
    root = tmp_path / "download"

    def half(root: Path) -> None:
        unzip(root / HAM_ARCHIVES[0], root)
        with zipfile.ZipFile(root / HAM_ARCHIVES[1]) as packed:
            packed.extract(jpeg_members(root / HAM_ARCHIVES[1])[0], root)

    message = ham_refusal(tmp_path, half)
    unpacked = len(jpeg_members(root / HAM_ARCHIVES[0])) + 1
    left = len(jpeg_members(root / HAM_ARCHIVES[1])) - 1
    assert message.startswith(f"{left} of {unpacked + left} image(s) listed in ")
    assert f"found {unpacked} JPEG(s): {unpacked} directly in {root};" in message
    assert message.endswith(
        f"unpack the archive(s) that hold them: `unzip -q -n {root / HAM_ARCHIVES[1]} -d {root}`"
    )


def test_ham10000_nothing_to_unzip_names_the_download(tmp_path: Path) -> None:
    message = ham_refusal(tmp_path, lambda root: [(root / name).unlink() for name in HAM_ARCHIVES])
    assert "download HAM10000_images_part_1.zip and HAM10000_images_part_2.zip from " in message
    assert "https://doi.org/10.7910/DVN/DBW86T" in message


def test_ham10000_image_unzipped_twice_is_refused_with_both_paths(tmp_path: Path) -> None:
    def twice(root: Path) -> None:
        tab_unzipped_into_folders(root)
        unzip(root / HAM_ARCHIVES[0], root)

    message = ham_refusal(tmp_path, twice)
    root = tmp_path / "download"
    duplicate = re.search(r"\(first: (\S+) and (\S+)[,)]", message)
    assert duplicate and "found twice under" in message
    assert {Path(duplicate[1]).parent, Path(duplicate[2]).parent} == {
        root,
        root / "HAM10000_images_part_1",
    }
    assert Path(duplicate[1]).name == Path(duplicate[2]).name


def test_ham10000_metadata_one_level_down_or_still_packed(tmp_path: Path) -> None:
    root = ham_download(tmp_path / "download")
    tab_unzipped_into_folders(root)
    bundle = tmp_path / "dataverse_files"
    shutil.move(root, bundle / "dataverse_files")
    with pytest.raises(FileNotFoundError) as error:
        expected_split_sizes("ham10000", {"root": str(bundle)})
    assert str(error.value) == (
        f"{bundle}: no metadata file (HAM10000_metadata.csv, HAM10000_metadata, "
        f"HAM10000_metadata.tab) found (found {bundle / 'dataverse_files' / 'HAM10000_metadata'}"
        f": set the option 'root' to {bundle / 'dataverse_files'})"
    )
    packed = tmp_path / "packed"
    packed.mkdir()
    shutil.make_archive(str(packed / "dataverse_files"), "zip", bundle)
    with pytest.raises(FileNotFoundError, match="no metadata file") as error:
        expected_split_sizes("ham10000", {"root": str(packed)})
    assert str(error.value).endswith(
        f"(found the archive {packed / 'dataverse_files.zip'}: unpack it with "
        f"`unzip -q -n {packed / 'dataverse_files.zip'} -d {packed}`)"
    )


def test_ham10000_two_metadata_files_are_refused(tmp_path: Path) -> None:
    root = ham_download(tmp_path / "download", "HAM10000_metadata.tab")
    tab_unzipped_into_folders(root)
    shutil.copy(root / "HAM10000_metadata.tab", root / "HAM10000_metadata.csv")
    with pytest.raises(ValueError) as error:
        expected_split_sizes("ham10000", {"root": str(root)})
    assert str(error.value) == (
        f"{root}: holds HAM10000_metadata.csv, HAM10000_metadata.tab; expected one metadata "
        f"file (keep one: rm {root / 'HAM10000_metadata.tab'})"
    )


# ---------------------------------------------------------------- RadImageNet


@pytest.fixture(scope="module")
def rad_expected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = write_radimagenet(tmp_path_factory.mktemp("rad") / "reference", (3, 1, 1), size=(16, 16))
    return prepared_splits("radimagenet", {"root": str(root), **RAD_OPTIONS}, root.parent / "out")


def without_prefix(tables: Path) -> None:
    """The CSVs' filenames relative to radiology_ai/ (CT/abd/normal/<file>.png)."""
    for csv_file in tables.glob("RadiologyAI_*.csv"):
        csv_file.write_text(csv_file.read_text().replace("\nradiology_ai/", "\n"))


RAD_LAYOUTS = {
    "CSVs inside, root above": (True, "", False),
    "CSVs inside, root is radiology_ai": (True, "radiology_ai", False),
    "CSVs inside, names without radiology_ai/": (True, "radiology_ai", True),
    "CSVs beside, names without radiology_ai/": (False, "", True),
}


@pytest.mark.parametrize(("inside", "below", "bare"), RAD_LAYOUTS.values(), ids=RAD_LAYOUTS.keys())
def test_radimagenet_layouts_give_the_reference_data(
    tmp_path: Path, rad_expected: dict, inside: bool, below: str, bare: bool
) -> None:
    root = write_radimagenet(tmp_path / "rad", (3, 1, 1), size=(16, 16), csv_inside=inside)
    if bare:
        without_prefix(root / "radiology_ai" if inside else root)
    options = {"root": str(root / below), **RAD_OPTIONS}
    assert checked_split_sizes("radimagenet", options) == {"train": 12, "val": 4, "test": 4}
    assert prepared_splits("radimagenet", options, tmp_path / "out") == rad_expected


def test_radimagenet_missing_folder_and_files_are_counted(tmp_path: Path) -> None:
    root = write_radimagenet(tmp_path / "rad", (3, 1, 1), size=(16, 16), csv_inside=True)
    shutil.rmtree(root / "radiology_ai" / "US" / "thyroid")
    (root / "radiology_ai" / "CT" / "abd" / "normal" / "ct_abd_normal000004.png").unlink()
    with pytest.raises(FileNotFoundError) as error:
        check_files("radimagenet", {"root": str(root / "radiology_ai")})
    images = root / "radiology_ai"
    assert str(error.value).startswith(  # in the order of the CSVs
        f"6 of 20 image(s) listed in the split CSVs in {images} not found (first: "
        f"{images / 'US/thyroid/us_thyroid000000.png'}, "
        f"{images / 'US/thyroid/us_thyroid000001.png'}, "
        f"{images / 'US/thyroid/us_thyroid000002.png'}, "
        f"{images / 'US/thyroid/us_thyroid000003.png'}, "
        f"{images / 'CT/abd/normal/ct_abd_normal000004.png'}, ...)"
    )
    assert (
        f"; 1 folder(s) missing (first: {images / 'US/thyroid'}); found in {images}: CT, MR, "
        "RadiologyAI_test.csv, RadiologyAI_train.csv, RadiologyAI_val.csv, US; expected the "
        "RadImageNet download"
    ) in str(error.value)


def test_radimagenet_still_packed_names_the_command(tmp_path: Path) -> None:
    root = write_radimagenet(tmp_path / "rad", (1, 1, 1), size=(16, 16))
    shutil.make_archive(str(root / "radimagenet"), "gztar", root, "radiology_ai")
    shutil.rmtree(root / "radiology_ai")
    with pytest.raises(FileNotFoundError) as error:
        checked_split_sizes("radimagenet", {"root": str(root)})
    archive = root / "radimagenet.tar.gz"
    assert str(error.value).startswith(
        f"{root}: no radiology_ai/ folder and no CT, MR, US folder in it (found the archive "
        f"{archive}: unpack it with `tar -xzf {archive} -C {root}`); expected the RadImageNet"
    )


# ---------------------------------------------------------------- MSD Task03 Liver


def add_appledouble_twins(root: Path) -> None:
    """The ``._`` twins the official Task03_Liver.tar holds beside every file."""
    for path in [root / "dataset.json", *root.glob("*/liver_*.nii.gz")]:
        (path.parent / f"._{path.name}").write_bytes(APPLEDOUBLE)


def test_msd_liver_appledouble_twins_are_ignored(tmp_path: Path) -> None:
    options = {"size": 16, "depth": 8, "n_val": 1, "n_test": 1, "workers": 1}
    clean = write_msd_liver(tmp_path / "clean" / "Task03_Liver", 4, shape=(20, 18, 8))
    twinned = write_msd_liver(tmp_path / "twinned" / "Task03_Liver", 4, shape=(20, 18, 8))
    add_appledouble_twins(twinned)
    assert checked_split_sizes("msd_liver", {"root": str(twinned), **options}) == {
        "train": 2,
        "val": 1,
        "test": 1,
    }
    expected = prepared_splits("msd_liver", {"root": str(clean), **options}, tmp_path / "a")
    assert prepared_splits("msd_liver", {"root": str(twinned), **options}, tmp_path / "b") == (
        expected
    )


def test_msd_liver_missing_label_is_refused_before_any_job(tmp_path: Path) -> None:
    root = write_msd_liver(tmp_path / "Task03_Liver", 4, shape=(20, 18, 8))
    add_appledouble_twins(root)
    (root / "labelsTr" / "liver_2.nii.gz").unlink()
    (root / "imagesTr" / "liver_3.nii.gz").write_bytes(b"")
    options = {"root": str(root), "n_val": 1, "n_test": 1}
    assert expected_split_sizes("msd_liver", options)["train"] == 2  # dataset.json alone
    with pytest.raises(FileNotFoundError) as error:
        checked_split_sizes("msd_liver", options)
    listed = [
        path
        for entry in json.loads((root / "dataset.json").read_text())["training"]
        for path in (entry["image"], entry["label"])
    ]
    problems = {
        str(root / "labelsTr/liver_2.nii.gz"): "not found",
        str(root / "imagesTr/liver_3.nii.gz"): "empty (0 bytes)",
    }
    ordered = [
        f"{root / path}: {problems[str(root / path)]}"
        for path in listed
        if str(root / path) in problems
    ]
    assert str(error.value).startswith(
        f"2 of 8 file(s) listed in {root / 'dataset.json'} cannot be read (first: "
        f"{', '.join(ordered)}); expected the Medical Segmentation Decathlon"
    )
    (tmp_path / "Task03_Liver.tar").write_bytes(b"")  # the download, beside the folder
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"); unpack {tmp_path / 'Task03_Liver.tar'} again: "
            f"`tar -xf {tmp_path / 'Task03_Liver.tar'} -C {tmp_path}`; expected"
        ),
    ):
        check_files("msd_liver", options)


# ---------------------------------------------------------------- before any job


def study_config(tmp_path: Path, root: Path) -> Path:
    """A study of one tiny HAM10000 dataset, sized to fit it, as a config file."""
    config = {
        "datasets": {
            "ham": {"loader": "ham10000", "options": {"root": str(root), "size": 16}},
        },
        "eps": [8],
        "seeds": [0],
        "privacy": {"delta": 1e-3},
        "training": {"batch_size": 4},
        "attack": {
            "imprint": {"batch_size": 2, "num_batches": 1, "num_bins": 2},
            "prior_aware": {"prior_size": 2, "known_size": 2},
        },
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_check_config_refuses_a_download_left_zipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the files are checked before Snakemake plans the jobs; counting them is tested in
    # tests/study/test_config.py, so no Snakemake runs here
    monkeypatch.setattr(check, "planned_jobs", lambda configfiles: {"all": 1})
    root = ham_download(tmp_path / "download")
    assert main(["check-config", str(study_config(tmp_path, root))]) == 2
    assert re.search(
        rf"datasets\.ham: \d+ of \d+ image\(s\) listed in {re.escape(str(root))}/HAM10000_metadata "
        rf"not found under {re.escape(str(root))} \(first: ISIC_\d+\.jpg",
        capsys.readouterr().err,
    )
    bundle_unzipped_into_root(root)
    assert main(["check-config", str(study_config(tmp_path, root))]) == 0
    assert capsys.readouterr().out.startswith("valid: ham (ham10000, N = ")
