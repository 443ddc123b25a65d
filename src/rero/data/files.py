"""Reading the files a user brings or a job leaves: ``.npz`` archives, ``.npy`` arrays, CSV tables
(comma, tab or semicolon separated, with or without a byte-order mark).

Each reader looks at the file's first bytes before it parses, so a 0-byte file, a ``.npy``
renamed ``.npz``, an archive renamed ``.npy`` or a text file in either place is refused with the
file's name, what the file holds and the format expected — never a bare ``EOFError`` or
``TypeError`` from deep inside numpy.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive (numpy.savez)
NPY_MAGIC = b"\x93NUMPY"  # the .npy format, version 1 to 3
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile)


def content_of(head: bytes) -> str:
    """What a file whose first bytes are ``head`` holds, in words."""
    if not head:
        return "an empty file (0 bytes)"
    if head.startswith(NPY_MAGIC):
        return "a single .npy array"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (.npz)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not a character cut at the end of ``head``
            return "binary data"
        text = head[: error.start].decode("utf-8")
    return "text" if all(char.isprintable() or char in "\t\n\r" for char in text) else "binary data"


def require_magic(path: Path, magic: bytes, kind: str, expected: str) -> None:
    """A ValueError unless the file at ``path`` starts with ``magic``, the signature of ``kind``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (expected {expected})")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head.startswith(magic):
        raise ValueError(f"{path}: {content_of(head)}, not {kind}; expected {expected}")


def open_npz(path: Path, expected: str) -> np.lib.npyio.NpzFile:
    """The ``.npz`` archive at ``path``, opened lazily (use it as a context manager)."""
    require_magic(path, ZIP_MAGIC, "a .npz archive", expected)
    try:
        return np.load(path, allow_pickle=False)
    except READ_ERRORS as error:
        raise ValueError(f"{path}: not a readable .npz ({error}); expected {expected}") from error


def npz_member(archive: np.lib.npyio.NpzFile, path: Path, key: str, expected: str) -> np.ndarray:
    """Array ``key`` of an archive opened by :func:`open_npz`; errors name the file and the key."""
    if key not in archive.files:
        raise ValueError(f"{path}: missing key {key!r}; expected {expected}")
    try:
        return archive[key]
    except READ_ERRORS as error:
        raise ValueError(
            f"{path}: key {key!r} is unreadable ({error}); expected {expected}"
        ) from error


#: the readers of a ``.npy`` header, by format version
NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def npz_member_header(
    archive: np.lib.npyio.NpzFile, path: Path, key: str, expected: str
) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of array ``key`` of an archive opened by :func:`open_npz`, read from its
    ``.npy`` header alone (not its data); errors name the file and the key."""
    if key not in archive.files:
        raise ValueError(f"{path}: missing key {key!r}; expected {expected}")
    try:
        with archive.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            if version not in NPY_HEADER_READERS:
                raise ValueError(f".npy format version {version}")
            shape, _, dtype = NPY_HEADER_READERS[version](member)
    except READ_ERRORS as error:
        raise ValueError(
            f"{path}: key {key!r} is unreadable ({error}); expected {expected}"
        ) from error
    return tuple(shape), dtype


def read_npz(path: Path, expected: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``."""
    with open_npz(path, expected) as archive:
        return {key: npz_member(archive, path, key, expected) for key in archive.files}


def load_npy(path: Path, expected: str, mmap: bool) -> np.ndarray:
    """The array of the ``.npy`` at ``path``, memory-mapped read-only if ``mmap``."""
    require_magic(path, NPY_MAGIC, "a .npy array", expected)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except READ_ERRORS as error:
        raise ValueError(f"{path}: not a readable .npy ({error}); expected {expected}") from error


DELIMITERS = (",", "\t", ";")  # comma, tab (a Dataverse .tab), semicolon (Excel, some locales)


def header_delimiter(header: str, columns: tuple[str, ...]) -> str:
    """The delimiter of :data:`DELIMITERS` whose fields in the ``header`` line include every one
    of ``columns``; else the one that splits it into the most fields."""
    fields = {
        delimiter: next(csv.reader([header], delimiter=delimiter), []) for delimiter in DELIMITERS
    }
    for delimiter, names in fields.items():
        if all(column in names for column in columns):
            return delimiter
    return max(DELIMITERS, key=lambda delimiter: len(fields[delimiter]))


def read_csv(
    path: Path, columns: tuple[str, ...], expected: str
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of every data row of the UTF-8 table at ``path``, which must have
    ``columns`` (others are ignored) and at least one row. Comma, tab or semicolon separated (the
    one whose header holds ``columns``); a byte-order mark (Excel's "CSV UTF-8") is dropped."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; {expected}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            delimiter = header_delimiter(handle.readline().rstrip("\r\n"), columns)
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter=delimiter)
            missing = [column for column in columns if column not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"{path}: missing column(s) {', '.join(missing)} (has {reader.fieldnames}); "
                    f"{expected}"
                )
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error}); {expected}") from error
    except csv.Error as error:
        raise ValueError(f"{path}: not a readable CSV ({error}); {expected}") from error
    if not rows:
        raise ValueError(f"{path}: no rows; {expected}")
    return rows
