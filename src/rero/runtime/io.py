"""Atomic file writes and provenance sidecars shared by every subcommand."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PROVENANCE_PACKAGES = (
    "rero",
    "torch",
    "opacus",
    "prv-accountant",
    "dp-accounting",
    "numpy",
    "scipy",
    "snakemake",
)

_UMASK = os.umask(0)
os.umask(_UMASK)


#: the random part of a temporary name (``tempfile.mkstemp``'s letters, 8 of them)
_TEMP_RANDOM = "[a-z0-9_]{8}"


def temp_prefix(target: Path) -> str:
    """The start of every temporary name :func:`atomic_path` gives ``target``: a fixed pattern,
    ``.<name>.tmp-<8 random letters><suffix>``, beside it."""
    return f".{target.name}.tmp-"


def stale_temp_files(target: Path) -> list[Path]:
    """The temporary files that writes of ``target`` left beside it (a killed job's), named as
    :func:`temp_prefix` says or as earlier versions did (``.<name>.<random>.tmp<suffix>``)."""
    name, suffix = re.escape(target.name), re.escape(target.suffix)
    pattern = re.compile(rf"\.{name}\.(tmp-{_TEMP_RANDOM}|{_TEMP_RANDOM}\.tmp){suffix}")
    if not target.parent.is_dir():
        return []
    return sorted(
        path for path in target.parent.iterdir() if pattern.fullmatch(path.name) is not None
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A reader never sees a half-written file: either the old file (or none) or the complete new one.
    A failed block removes its temporary file; one left by an earlier write that was killed
    (``kill -9``, a lost node) is removed when the next write of ``path`` starts.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_files(target):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=temp_prefix(target), suffix=target.suffix
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; results get the usual permissions
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_if_changed(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already (its time then stays, and files that
    planning rewrites on every call are not rewritten), atomically as :func:`atomic_path`."""
    target = Path(path)
    try:
        if target.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    with atomic_path(target) as partial:
        partial.write_text(text)


def require_free_space(folder: str | os.PathLike[str], needed: int, what: str) -> None:
    """A ValueError naming ``folder`` unless its file system has ``needed`` bytes free for
    ``what``: a full disk is refused before a write, never met half-way (a memory-mapped write
    to a full disk ends in SIGBUS, without a message)."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ValueError(
            f"{folder}: not enough free space for {what}: needs {gigabytes(needed)}, "
            f"{gigabytes(free)} free; free {gigabytes(needed - free)} or more there"
        )


def gigabytes(size: int) -> str:
    """``size`` bytes in GB, for a message (bytes below 1 MB)."""
    return f"{size} bytes" if size < 1e6 else f"{size / 1e9:.2f} GB"


def _loaded_numpy() -> Any:
    """numpy if some module imported it, else None: without it no value is a numpy one, and the
    workflow's planning, which writes no arrays, does not pay its import."""
    return sys.modules.get("numpy")


def _json_default(value: Any) -> Any:
    numpy = _loaded_numpy()
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    if numpy is not None and isinstance(value, numpy.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _encode_floats(value: Any) -> Any:
    """Replace non-finite floats by "inf", "-inf", "nan" (strict JSON has no such numbers)."""
    numpy = _loaded_numpy()
    floats = float if numpy is None else float | numpy.floating
    if isinstance(value, floats) and not math.isfinite(float(value)):
        return "nan" if math.isnan(float(value)) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _encode_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_floats(item) for item in value]
    return value


def dumps_json(obj: Any) -> str:
    """Strict JSON text for ``obj``; non-finite floats become strings ("inf")."""
    return json.dumps(_encode_floats(obj), indent=2, sort_keys=True, default=_json_default)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as strict JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_json(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`; clear error when missing or broken."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: file not found (expected a JSON file)")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file}: not valid JSON ({error})") from error


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Save arrays to a compressed ``.npz``, atomically."""
    import numpy

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        numpy.savez_compressed(handle, **arrays)


def git_commit(directory: str | os.PathLike[str] | None = None) -> str | None:
    """The commit of the checkout that holds ``directory`` (default: this package), or None."""
    where = Path(directory) if directory else Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide a result."""
    versions: dict[str, str | None] = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict[str, Any]:
    """Where a result came from: package versions, git commit, Python and platform."""
    return {
        "versions": package_versions(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
