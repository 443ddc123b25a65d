"""One small file per command that stands for the code it runs: a job's code input.

A job's code is the import closure of its subcommand (:mod:`rero.runtime.sources`), tens of
files. Listing them as the job's inputs makes the terminal print every path in each job header;
their manifest, one line per file in ``sha256sum`` form, is a single input whose bytes change
exactly when one of those files (or the list) does. Snakemake compares the checksums of small
inputs, so a manifest rewritten with the same bytes (a file touched, or edited and restored)
reruns nothing, and editing a file reruns exactly the jobs whose manifest lists it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def manifest_name(subcommand: str, registered: Iterable[str] = ()) -> str:
    """The manifest's file name: the subcommand and the modules the job imports by name
    (``train+models.classifiers.sha256``)."""
    parts = [subcommand, *(module.removeprefix("rero.") for module in registered)]
    return "+".join(parts) + ".sha256"


def manifest_text(files: Iterable[Path], root: Path) -> str:
    """``<sha256>  <path relative to root>`` per file, sorted by path (``sha256sum -c`` reads it
    from ``root``)."""
    named = sorted((file.relative_to(root).as_posix(), file) for file in files)
    return "".join(
        f"{hashlib.sha256(file.read_bytes()).hexdigest()}  {name}\n" for name, file in named
    )
