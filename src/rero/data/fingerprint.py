"""A dataset's source data identified by content: one SHA-256 over every file its loader reads.

:func:`source_digest` hashes the files :func:`rero.data.registry.content_files` lists (a loader's
index files and each image), so a dataset whose files change is prepared again whatever their
modification times say (``cp -p``, ``rsync -a`` and ``tar x`` keep them). Reading 10^4 images
on every planning call would cost minutes: a cache keeps each file's SHA-256 with its size,
mtime, ctime, inode and device, and a file whose status is unchanged is not read again. A write
to a file changes its ctime, which no tool sets back, so the cache never hides new content; a
file changed in the last :data:`SETTLE_SECONDS` is not cached at all (its timestamps' clock
ticks coarsely, so a second write in the same tick would keep them, as in "racy git"). A file
that cannot be read counts as its reason (the preparation then names it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from rero.data.registry import RUNTIME_OPTIONS, content_files
from rero.runtime.io import write_json

CACHE_VERSION = 1
SETTLE_SECONDS = 2

#: a file's status as the cache keys it: size, mtime, ctime (ns), inode, device
Status = tuple[int, int, int, int, int]


def file_status(path: Path) -> Status:
    """The status of the file at ``path`` that changes with its content."""
    status = os.stat(path)
    return (
        status.st_size,
        status.st_mtime_ns,
        status.st_ctime_ns,
        status.st_ino,
        status.st_dev,
    )


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_file(cache_dir: Path, loader: str, options: dict[str, Any]) -> Path:
    """The cache of the dataset ``loader`` prepares with ``options``: named by their digest."""
    kept = {key: value for key, value in options.items() if key not in RUNTIME_OPTIONS}
    key = json.dumps([loader, kept], sort_keys=True, default=str)
    return cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def read_cache(path: Path | None) -> dict[str, list[Any]]:
    """path → [*status, sha256] of the cache at ``path``; empty when absent or unreadable (a
    cache lost or broken only costs the hashing)."""
    if path is None:
        return {}
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict) or cached.get("version") != CACHE_VERSION:
        return {}
    files = cached.get("files")
    return files if isinstance(files, dict) else {}


def content_hash(path: Path, cache: dict[str, list[Any]]) -> str:
    """The SHA-256 of ``path``, from ``cache`` when its status is the cached one (the cache is
    updated otherwise); ``unreadable (<reason>)`` for a file that cannot be read."""
    try:
        status = file_status(path)
        entry = cache.get(str(path))
        if entry is not None and tuple(entry[:-1]) == status:
            return str(entry[-1])
        digest = file_sha256(path)
    except OSError as error:
        cache.pop(str(path), None)
        return f"unreadable ({error.strerror or error})"
    settled = time.time_ns() - max(status[1], status[2]) > SETTLE_SECONDS * 10**9
    if settled:
        cache[str(path)] = [*status, digest]
    else:
        cache.pop(str(path), None)
    return digest


def source_digest(loader: str, options: dict[str, Any], cache_dir: Path | None = None) -> str:
    """The SHA-256 of the source data of the dataset ``loader`` prepares with ``options``: over
    each file it reads, in order, its path and content hash. With ``cache_dir``, a file's hash
    is read again only when its status changed (the cache is one small file per dataset)."""
    files = content_files(loader, options)
    path = None if cache_dir is None else cache_file(cache_dir, loader, options)
    cache = read_cache(path)
    before = dict(cache)
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file}\0{content_hash(file, cache)}\n".encode())
    listed = {str(file) for file in files}
    kept = {name: entry for name, entry in cache.items() if name in listed}
    if path is not None and kept != before:
        write_json(path, {"version": CACHE_VERSION, "files": kept})
    return digest.hexdigest()
