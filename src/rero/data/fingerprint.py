"""A dataset's source data identified by content, as ``prepare_data`` records it in
``meta.json``: one SHA-256 over every file its loader reads, images included.

:func:`source_digest` hashes the files :func:`rero.data.registry.content_files` lists (a loader's
index files, then each image or volume), each with its path, in order; a file that cannot be read
counts as its reason (the preparation then names it). Each file's hash is remembered against its
status (``rero.data.file_hashes``), so an unchanged file is not read again. For HAM10000, MSD
Liver and MedMNIST this is the digest planning compares too; for RadImageNet planning stands in
the images' folders' status for the 1.35 M images (``rero.data.planning_cache``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rero.data.file_hashes import FileHashes, digest_of
from rero.data.registry import content_files


def source_digest(loader: str, options: dict[str, Any], cache_dir: Path | None = None) -> str:
    """The SHA-256 of the source data of the dataset ``loader`` prepares with ``options``: over
    each file it reads, in order, its path and content hash. With ``cache_dir``, a file's hash
    is read again only when its status changed."""
    hashes = FileHashes(cache_dir)
    digest = digest_of(content_files(loader, options), [], hashes)
    hashes.save()
    return digest
