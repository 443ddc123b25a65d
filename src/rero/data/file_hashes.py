"""Files identified by content: each file's SHA-256, remembered against its status so that an
unchanged file is not read again — the one per-file hash cache of planning (its index files, and
HAM10000's and MSD Liver's images) and of ``prepare_data`` (every file a loader reads).

A file's status is its size, mtime, ctime (ns), inode and device. The kernel sets ctime on every
write, ``touch`` and ``utime``, and no tool sets it back, so content written with the old mtime
(``cp -p``, ``rsync -a``, ``tar x``) or a new file in the old one's place is hashed again. A
status whose mtime or ctime is within :data:`SETTLE_SECONDS` of the read is never remembered: the
timestamps' clock ticks coarsely, so a second write in the same tick would keep them ("racy
git"). The hashes of the files of one folder are kept in one JSON file, ``<cache>/<digest of the
folder's path>.json``; a missing, unreadable or malformed one is ignored and rewritten, and each
is written atomically, so concurrent readers never see half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from rero.runtime.io import write_json

#: the cache folder, relative to the working directory (the workflow's ``--directory``)
CACHE_FOLDER = Path(".snakemake") / "rero" / "file_hashes"
CACHE_VERSION = 2
SETTLE_SECONDS = 2

#: a file's status as the cache keys it: size, mtime, ctime (ns), inode, device
Status = tuple[int, int, int, int, int]


def file_status(path: Path | str) -> Status:
    """The status of ``path`` (links followed) that changes with its content or listing."""
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)


def settled(status: Status, since_ns: int) -> bool:
    """Whether ``status`` was last changed :data:`SETTLE_SECONDS` before ``since_ns`` (a time of
    ``time.time_ns()``): what was read after ``since_ns`` then has this status for certain."""
    return max(status[1], status[2]) < since_ns - SETTLE_SECONDS * 10**9


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def unreadable(error: OSError) -> str:
    """What a file that cannot be read counts as: its reason."""
    return f"unreadable ({error.strerror or error})"


class FileHashes:
    """SHA-256 of files, from the cache in ``cache`` (none: every file is read) while their
    status is the remembered one; :meth:`save` writes back the folders whose entries changed."""

    def __init__(self, cache: Path | None) -> None:
        self.cache = cache
        self.folders: dict[str, dict[str, list[Any]]] = {}
        self.changed: set[str] = set()

    def entries(self, folder: str) -> dict[str, list[Any]]:
        """name → [*status, sha256] of ``folder``'s remembered files (read once)."""
        if folder not in self.folders:
            self.folders[folder] = {} if self.cache is None else read_folder(self.cache, folder)
        return self.folders[folder]

    def sha256(self, path: Path) -> str:
        """The SHA-256 of ``path``; ``unreadable (<reason>)`` for a file that cannot be read."""
        folder, _, name = str(path).rpartition(os.sep)
        entries = self.entries(folder)
        try:
            status = file_status(path)
            entry = entries.get(name)
            if entry is not None and tuple(entry[:-1]) == status:
                return str(entry[-1])
            digest = file_sha256(path)
            kept = file_status(path) == status and settled(status, time.time_ns())
        except OSError as error:
            kept, digest = False, unreadable(error)
        if kept:
            entries[name] = [*status, digest]
            self.changed.add(folder)
        elif entries.pop(name, None) is not None:
            self.changed.add(folder)
        return digest

    def save(self) -> None:
        """Write the changed folders' entries; a cache that cannot be written (read-only, full
        disk) only costs the next call the hashing."""
        if self.cache is None:
            return
        for folder in sorted(self.changed):
            content = {"version": CACHE_VERSION, "folder": folder, "files": self.folders[folder]}
            with contextlib.suppress(OSError):
                write_json(folder_file(self.cache, folder), content)
        self.changed.clear()


def folder_file(cache: Path, folder: str) -> Path:
    """The cache file of the hashes of ``folder``'s files."""
    return cache / f"{hashlib.sha256(folder.encode()).hexdigest()[:24]}.json"


def read_folder(cache: Path, folder: str) -> dict[str, list[Any]]:
    """The entries of ``folder``'s cache file; empty when it is absent, unreadable, malformed or
    another folder's (a cache lost or broken only costs the hashing)."""
    try:
        cached = json.loads(folder_file(cache, folder).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(cached, dict) or cached.get("version") != CACHE_VERSION:
        return {}
    if cached.get("folder") != folder:
        return {}
    files = cached.get("files")
    if not isinstance(files, dict):
        return {}
    return {
        name: entry
        for name, entry in files.items()
        if isinstance(entry, list)
        and len(entry) == 6
        and all(type(value) is int for value in entry[:-1])
        and isinstance(entry[-1], str)
    }


def digest_of(files: list[Path], folders: list[Path], hashes: FileHashes) -> str:
    """The SHA-256 over each of ``files``, in order, with its path and content hash, then each of
    ``folders`` with its path and status (what stands for the files in it that are not read)."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file}\0{hashes.sha256(file)}\n".encode())
    for folder in folders:
        try:
            state = " ".join(map(str, file_status(folder)))
        except OSError as error:
            state = unreadable(error)
        digest.update(f"{folder}\0folder {state}\n".encode())
    return digest.hexdigest()
