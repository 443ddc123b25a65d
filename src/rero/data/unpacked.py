"""Downloads as users unpack them: finding files under a folder in one walk, checking the files a
loader will read before any job, and the exact command that unpacks an archive left packed.

macOS leaves an AppleDouble twin ``._<name>`` beside files it copies or archives (the MSD tars
hold one for every volume); these are never data and are skipped everywhere.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

APPLEDOUBLE = "._"
#: how each archive format is unpacked: the command for an archive and a target folder
UNPACK = {
    ".zip": "unzip -q -n {archive} -d {into}",
    ".tar.gz": "tar -xzf {archive} -C {into}",
    ".tgz": "tar -xzf {archive} -C {into}",
    ".tar": "tar -xf {archive} -C {into}",
}
SHOWN = 5  # paths named in a message, the first ones


def is_appledouble(name: str) -> bool:
    """Whether ``name`` is a macOS AppleDouble file (``._<name>``), never data."""
    return name.startswith(APPLEDOUBLE)


def archive_suffix(name: str) -> str | None:
    """The archive format of a file named ``name`` (a key of :data:`UNPACK`), or None."""
    lower = name.lower()
    return next((suffix for suffix in UNPACK if lower.endswith(suffix)), None)


def walk_files(root: Path, folders: list[str] | None = None) -> Iterator[os.DirEntry[str]]:
    """Every file under ``root`` (names sorted per folder), AppleDouble files skipped; a folder
    reached through a symbolic link is walked too, each real folder once (its path appended to
    ``folders``, when given, as it is listed)."""
    seen: set[str] = set()
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        if folders is not None:
            folders.append(folder)
        with os.scandir(folder) as scanned:
            entries = sorted(scanned, key=lambda entry: entry.name)
        subfolders = []
        for entry in entries:
            if is_appledouble(entry.name):
                continue
            if entry.is_dir():
                subfolders.append(entry.path)
            else:
                yield entry
        pending.extend(reversed(subfolders))


def archives_in(folder: Path) -> list[Path]:
    """The archives (:data:`UNPACK`) directly in ``folder``, sorted; none if it is no folder."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if archive_suffix(path.name) and not is_appledouble(path.name) and path.is_file()
    )


def unpack_command(archive: Path, into: Path) -> str:
    """The shell command that unpacks ``archive`` into the folder ``into``."""
    suffix = archive_suffix(archive.name)
    if suffix is None:
        raise ValueError(f"{archive}: not an archive ({', '.join(UNPACK)})")
    return UNPACK[suffix].format(archive=shlex.quote(str(archive)), into=shlex.quote(str(into)))


def file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as data (one stat): "not found", "not a regular file",
    "empty (0 bytes)"; None for a non-empty regular file (a link to one counts)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "not found"
    except OSError as error:
        return f"not readable ({error.strerror})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    return "empty (0 bytes)" if status.st_size == 0 else None


def file_problems(paths: Iterable[str], allow_empty: bool = False) -> list[str]:
    """``"<path>: <problem>"`` for each of ``paths`` that is not a non-empty regular file (empty
    ones pass when ``allow_empty``), in order; one stat each."""
    problems = []
    for path in paths:
        problem = file_problem(path)
        if problem is not None and not (allow_empty and problem == "empty (0 bytes)"):
            problems.append(f"{path}: {problem}")
    return problems


def first(items: list[str]) -> str:
    """The first :data:`SHOWN` of ``items``, comma-separated, with "..." when there are more."""
    return ", ".join(items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")
