"""Torch files of a training job: byte-reproducible archives, written atomically, read safely.

``torch.save`` to a path names the archive's records after the file, so writing through a
temporary name would store that random name; :func:`torch_bytes` serialises in memory (a fixed
archive name) and the bytes are written atomically: identical runs give identical files.

A checkpoint holds only what the computation determines; the training time of the attempts so
far, which differs between identical runs, is kept beside it in ``checkpoint.time.json``, keyed
by the checkpoint's SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import torch

from rero.runtime.io import atomic_path, read_json, write_json


class UnreadableCheckpointError(Exception):
    """A checkpoint file that cannot be read back as one; the message says why."""


def torch_bytes(obj: Any) -> bytes:
    """``torch.save``'s archive of ``obj``, the same bytes for the same ``obj`` in any process."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_torch(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as a torch archive to ``path``, atomically and byte-reproducibly."""
    write_bytes(Path(path), torch_bytes(obj))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_torch(path: Path) -> tuple[Any, bytes]:
    """The object saved at ``path`` (tensors and plain values only) and the file's bytes;
    :class:`UnreadableCheckpointError` naming the reason when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableCheckpointError(f"unreadable ({error.strerror or error})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on the pickle protocol of odd files
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), data
    except Exception:  # torch.load raises errors of any type on a damaged archive
        raise UnreadableCheckpointError(
            f"not a readable checkpoint ({len(data)} bytes, truncated or corrupt, or not written "
            "by rero train)"
        ) from None


class CheckpointFile:
    """A job's ``checkpoint.pt`` and the training time of the attempts up to it
    (``checkpoint.time.json``: the seconds of each recent checkpoint, by SHA-256)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.times_path = self.path.with_suffix(".time.json")
        #: SHA-256 and elapsed seconds of the checkpoint now at ``path``, once read or written
        self.on_disk: dict[str, Any] | None = None

    def load(self) -> tuple[dict[str, Any], float | None]:
        """The checkpoint's state and the training seconds up to it (None if not recorded);
        :class:`UnreadableCheckpointError` when it is not a readable checkpoint."""
        state, data = read_torch(self.path)
        if not isinstance(state, dict):
            raise UnreadableCheckpointError(
                f"not a checkpoint (a {type(state).__name__}, not a dict)"
            )
        digest = sha256(data)
        elapsed = self._recorded_seconds(digest)
        self.on_disk = {"sha256": digest, "elapsed_s": elapsed}
        return state, elapsed

    def _recorded_seconds(self, digest: str) -> float | None:
        try:
            entries = read_json(self.times_path)["checkpoints"]
            seconds = [float(entry["elapsed_s"]) for entry in entries if entry["sha256"] == digest]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        return seconds[0] if seconds else None

    def save(self, state: dict[str, Any], elapsed_s: float) -> None:
        """Write ``state`` and record ``elapsed_s`` for it. The time is recorded first, beside
        that of the checkpoint it replaces, so a kill between the two writes loses neither."""
        data = torch_bytes(state)
        entry = {"sha256": sha256(data), "elapsed_s": elapsed_s}
        kept = [self.on_disk] if self.on_disk and self.on_disk["elapsed_s"] is not None else []
        write_json(self.times_path, {"checkpoints": [*kept, entry]})
        write_bytes(self.path, data)
        self.on_disk = entry

    def remove(self) -> None:
        """Delete the checkpoint and its time record."""
        self.path.unlink(missing_ok=True)
        self.times_path.unlink(missing_ok=True)
        self.on_disk = None
