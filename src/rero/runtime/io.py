"""Atomic file writes and provenance sidecars shared by every subcommand."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A reader never sees a half-written file: either the old file (or none) or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp" + target.suffix
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; results get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _encode_floats(value: Any) -> Any:
    """Replace non-finite floats by "inf", "-inf", "nan" (strict JSON has no such numbers)."""
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
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
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


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
