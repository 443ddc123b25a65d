"""A cache of what planning reads from a dataset's index files (its split sizes), so that
planning a study at RadImageNet's size (three CSVs of 1.35 M rows in all) does not parse the CSVs
on every ``snakemake`` or ``check-config`` call.

The cache lives in ``.snakemake/rero/planning/`` of the working directory (beside Snakemake's
own state; ``rm -rf .snakemake`` empties it). An entry (``<kind>/<key>.json``) is keyed by the
SHA-256 of everything the value depends on: its kind, the loader, its options (defaults filled),
the source of the ``rero.data`` package and the content of each index file the loader reads
(``Loader.files``) — a changed row, option or loader gives another key, never a stale answer.

Hashing the files on every call would read them all the same (~70 MB for RadImageNet), so each
file's SHA-256 is itself remembered (``file_hashes/``) against its path, size, mtime, ctime and
inode: the kernel sets ctime on every write and on every ``touch``/``utime``, so an edit that
restores the old mtime still changes it and the file is hashed again. A missing, unreadable or
malformed entry is ignored and rewritten; entries are written atomically, so concurrent planners
never read half an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rero.runtime.io import write_json

#: the cache folder, relative to the working directory (the workflow's ``--directory``)
CACHE_FOLDER = Path(".snakemake") / "rero" / "planning"
DATA_PACKAGE = Path(__file__).resolve().parent
CHUNK_BYTES = 1 << 22


def file_signature(path: Path) -> list[int]:
    """What changes whenever the file's content does: size, mtime, ctime (ns), inode, device."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_entry(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``; None when it is missing or is not a readable JSON object."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def write_entry(path: Path, entry: dict[str, Any]) -> None:
    """Write a cache entry atomically; a cache that cannot be written (read-only folder, full
    disk) only costs the next call its speed."""
    with contextlib.suppress(OSError):
        write_json(path, entry)


def name_key(*parts: str) -> str:
    """A file name for ``parts``: the SHA-256 of their JSON list."""
    return hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()


def remembered_hash(path: Path, cache: Path) -> str:
    """SHA-256 of the file at ``path``, read from the cache while its signature is unchanged."""
    resolved = str(path.resolve())
    entry_path = cache / "file_hashes" / f"{name_key(resolved)}.json"
    signature = file_signature(path)
    entry = read_entry(entry_path)
    if (
        entry is not None
        and entry.get("path") == resolved
        and entry.get("signature") == signature
        and isinstance(entry.get("sha256"), str)
    ):
        return entry["sha256"]
    digest = content_hash(path)
    if file_signature(path) == signature:  # not written to while it was read
        write_entry(entry_path, {"path": resolved, "signature": signature, "sha256": digest})
    return digest


def package_source_hash() -> str:
    """SHA-256 of the ``rero.data`` package's modules (how sizes are computed)."""
    digest = hashlib.sha256()
    for module in sorted(DATA_PACKAGE.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()


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


def cached(
    kind: str,
    loader: str,
    options: dict[str, Any],
    files: Sequence[Path],
    compute: Callable[[dict[str, Any]], Any],
    valid: Callable[[Any], bool],
    cache: Path = CACHE_FOLDER,
) -> Any:
    """``compute(options)``, a JSON value of ``kind`` that ``valid`` accepts, from the cache in
    ``cache`` while the loader, ``options``, the package's source and the content of ``files``
    (the files ``compute`` reads) are unchanged.

    Without files (a loader that reads nothing from disk), or with one missing (``compute``
    gives its own error), it computes without the cache.
    """
    if not files or not all(path.is_file() for path in files):
        return compute(options)
    key = name_key(
        kind,
        loader,
        json.dumps(options, sort_keys=True, default=str),
        package_source_hash(),
        *(f"{path}={remembered_hash(path, cache)}" for path in files),
    )
    entry_path = cache / kind / f"{key}.json"
    entry = read_entry(entry_path)
    if entry is not None and valid(entry.get("value")):
        return entry["value"]
    value = compute(options)
    write_entry(entry_path, {"loader": loader, "value": value})
    return value
