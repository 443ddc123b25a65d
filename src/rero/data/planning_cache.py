"""What planning learns of a dataset on the user's disk — its split sizes, its file check passed
and its source digest — cached per dataset, so that a planning call whose data did not change
reads no index file, checks no image and hashes nothing.

A loader's survey (:class:`Survey`) checks the files and names every path its answer depends on:
``files``, read and identified by content (the index files; HAM10000's and MSD Liver's images
too); ``folders``, whose status stands for the files in them that planning does not read one by
one (RadImageNet's 1.35 M images: stat-ing each costs ~9 s a call); ``watched``, every other path
it looked at (folders listed to find files, the layout's folders). The source digest is the
SHA-256 over each file's path and content hash (``rero.data.file_hashes``) and each folder's path
and status.

An entry, ``.snakemake/rero/planning/<key>.json`` in the working directory, is named by the SHA-256
of the loader, its options (defaults filled) and the source of the ``rero.data`` package; it holds
the answer and the status (size, mtime, ctime, inode, device) of each of those paths, taken after
the survey, and answers while every one of them is unchanged. A write to a file, and an entry added
to, removed from or renamed in a folder (a file replaced by a new one included), set the ctime,
which no tool sets back; a path replaced on the way to it gives another inode. An entry is written
only when no path changed within ``SETTLE_SECONDS`` before the survey began, so a change during the
survey is never hidden. A missing, unreadable or malformed entry is ignored and rewritten; entries
are written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rero.data import file_hashes
from rero.data.file_hashes import FileHashes, digest_of, file_status, settled
from rero.runtime.io import write_json

#: the cache folder, relative to the working directory (the workflow's ``--directory``)
CACHE_FOLDER = Path(".snakemake") / "rero" / "planning"
CACHE_VERSION = 2
DATA_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Survey:
    """A dataset's split sizes once its files are checked, and the paths they depend on: the
    ``files`` that identify it by content, in order, the ``folders`` that stand for the files
    in them by their status, and the other paths ``watched``."""

    split_sizes: dict[str, int]
    files: tuple[Path, ...]
    folders: tuple[Path, ...] = ()
    watched: tuple[Path, ...] = ()

    @property
    def paths(self) -> list[Path]:
        """Every path the survey depends on, each once."""
        return list(dict.fromkeys([*self.files, *self.folders, *self.watched]))


@dataclass(frozen=True)
class Planned:
    """What planning needs of a dataset: the size of each split and the source's digest."""

    split_sizes: dict[str, int]
    source_digest: str


@functools.cache
def package_source_hash() -> str:
    """SHA-256 of the ``rero.data`` package's modules (how surveys are made), read once per
    process: the code that runs is the code imported."""
    digest = hashlib.sha256()
    for module in sorted(DATA_PACKAGE.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_path(loader: str, options: dict[str, Any], cache: Path) -> Path:
    """The cache entry of ``loader`` with ``options`` (defaults filled)."""
    key = json.dumps([loader, options, package_source_hash()], sort_keys=True, default=str)
    return cache / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def unchanged(statuses: Any) -> bool:
    """Whether ``statuses`` (path → status, as an entry holds them) are each the path's now."""
    if not isinstance(statuses, dict) or not statuses:
        return False
    try:
        return all(list(file_status(path)) == status for path, status in statuses.items())
    except OSError:
        return False


def lookup(loader: str, options: dict[str, Any], cache: Path) -> Any:
    """The value of the entry of ``loader`` with ``options`` while every path it depends on has
    its recorded status; None otherwise."""
    try:
        entry = json.loads(entry_path(loader, options, cache).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION:
        return None
    return entry.get("value") if unchanged(entry.get("statuses")) else None


def store(
    loader: str,
    options: dict[str, Any],
    value: Any,
    paths: list[Path],
    started: int,
    cache: Path,
) -> None:
    """Cache ``value`` with the status of each of ``paths``, unless there are none, or one is
    gone or changed within ``SETTLE_SECONDS`` before ``started`` (when computing it began)."""
    try:
        statuses = {str(path): file_status(path) for path in paths}
    except OSError:
        return
    if statuses and all(settled(status, started) for status in statuses.values()):
        content = {
            "version": CACHE_VERSION,
            "loader": loader,
            "value": value,
            "statuses": {path: list(status) for path, status in statuses.items()},
        }
        with contextlib.suppress(OSError):  # an unwritable cache only costs the next call
            write_json(entry_path(loader, options, cache), content)


def valid_planned(value: Any) -> bool:
    """Whether ``value`` is a :class:`Planned` as an entry holds it."""
    return (
        isinstance(value, dict)
        and set(value) == {"split_sizes", "source_digest"}
        and valid_split_sizes(value["split_sizes"])
        and isinstance(value["source_digest"], str)
    )


def valid_split_sizes(value: Any) -> bool:
    """Whether ``value`` is split sizes as a loader gives them: split name → count ≥ 0."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(name, str) and type(count) is int and count >= 0
            for name, count in value.items()
        )
    )


def cached_plan(loader: str, options: dict[str, Any], cache: Path = CACHE_FOLDER) -> Planned | None:
    """The cached :class:`Planned` of ``loader`` with ``options`` (defaults filled) while every
    path it depends on has its recorded status; None otherwise."""
    found = lookup(loader, options, cache)
    return Planned(**found) if valid_planned(found) else None


def planned(
    loader: str,
    options: dict[str, Any],
    survey: Callable[[dict[str, Any]], Survey],
    cache: Path = CACHE_FOLDER,
    hashes: Path = file_hashes.CACHE_FOLDER,
) -> Planned:
    """The answer for ``loader`` with ``options`` (defaults filled): cached
    (:func:`cached_plan`), else from ``survey(options)`` (which raises unless every file is
    there) and the source's digest (file hashes cached in ``hashes``), then cached. A survey
    that depends on no path (data made from the options) is not cached."""
    found = cached_plan(loader, options, cache)
    if found is not None:
        return found
    started = time.time_ns()
    surveyed = survey(options)
    remembered = FileHashes(hashes)
    digest = digest_of(list(surveyed.files), list(surveyed.folders), remembered)
    remembered.save()
    answer = Planned(dict(surveyed.split_sizes), digest)
    store(loader, options, asdict(answer), surveyed.paths, started, cache)
    return answer
