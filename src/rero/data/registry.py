"""The dataset registry: a loader's name → the module that reads it, imported only when that loader
is used, so a job's code inputs hold its own dataset's loader and no other
(``rero.runtime.sources``).

Each loader module provides ``load(**options) -> DatasetSplits``, a function that tells the size
of each split from the options without preparing anything (so the workflow checks δ < 1/N and
B ≤ N before any job starts) and, for data on the user's disk, the files it reads: the few index
files the workflow takes as inputs, and every file, images included, whose content identifies
the source (``rero.data.fingerprint``); and a survey that checks every file it will read, so a
missing or empty image or volume is named before any job, and names what planning's answer
depends on (``rero.data.planning_cache``: split sizes, check and source digest cached together).
:func:`loader_options` fills in a loader's defaults and refuses unknown or missing options.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rero.data import planning_cache
from rero.data.planning_cache import Planned, Survey
from rero.data.shapes import DatasetShape, cached_shape


@dataclass(frozen=True)
class Loader:
    """A registered dataset source: the ``module`` that defines it and the names there of
    ``load(**options)``, ``split_sizes(options)`` -> the size of each split, ``files(options)``
    -> its index files (a few) and ``content_files(options)`` -> every file it reads, images
    included, when those are more, and ``check(options)``, which raises unless every file
    ``load`` will read is there (all take the options with defaults filled; no ``files`` or
    ``check`` for a loader that reads nothing from the user's disk or checks it all in
    ``split_sizes``); ``task``, one of ``rero.data.tasks.TASKS``, is known before any data is
    read; ``shape(options)`` -> :class:`rero.data.shapes.DatasetShape` (task, classes, image
    shape) reads at most what ``split_sizes`` reads."""

    module: str
    load_name: str
    split_sizes_name: str
    files_name: str | None = None
    task: str = "classification"
    content_files_name: str | None = None
    survey_name: str | None = None
    shape_name: str | None = None

    def _function(self, name: str) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), name)

    @property
    def load(self) -> Callable[..., Any]:
        """The loader's ``load(**options) -> rero.data.base.DatasetSplits``."""
        return self._function(self.load_name)

    def split_sizes(self, options: dict[str, Any]) -> dict[str, int]:
        return self._function(self.split_sizes_name)(options)

    def files(self, options: dict[str, Any]) -> list[Path]:
        return [] if self.files_name is None else self._function(self.files_name)(options)

    def survey(self, options: dict[str, Any]) -> Survey:
        if self.survey_name is None:
            return Survey(self.split_sizes(options), tuple(self.files(options)))
        return self._function(self.survey_name)(options)

    def content_files(self, options: dict[str, Any]) -> list[Path]:
        if self.content_files_name is None:
            return self.files(options)
        return self._function(self.content_files_name)(options)

    def shape(self, options: dict[str, Any]) -> DatasetShape:
        """``shape_name(options)``: the task, classes and image shape the loader will give."""
        if self.shape_name is None:
            raise ValueError(f"{self.module}: no shape function registered")
        return self._function(self.shape_name)(options)


LOADERS: dict[str, Loader] = {
    "mni152": Loader(
        "rero.data.mni152", "load_mni152", "mni152_split_sizes", shape_name="mni152_shape"
    ),
    "mni152_seg": Loader(
        "rero.data.mni152_seg",
        "load_mni152_seg",
        "mni152_seg_split_sizes",
        task="segmentation",
        shape_name="mni152_seg_shape",
    ),
    "medmnist": Loader(
        "rero.data.medmnist",
        "load_medmnist",
        "medmnist_split_sizes",
        "medmnist_files",
        shape_name="medmnist_shape",
    ),
    "ham10000": Loader(
        "rero.data.ham10000",
        "load_ham10000",
        "ham10000_split_sizes",
        "ham10000_files",
        content_files_name="ham10000_content_files",
        survey_name="ham10000_survey",
        shape_name="ham10000_shape",
    ),
    "radimagenet": Loader(
        "rero.data.radimagenet",
        "load_radimagenet",
        "radimagenet_split_sizes",
        "radimagenet_files",
        content_files_name="radimagenet_content_files",
        survey_name="radimagenet_survey",
        shape_name="radimagenet_shape",
    ),
    "msd_liver": Loader(
        "rero.data.msd_liver",
        "load_msd_liver",
        "msd_liver_split_sizes",
        "msd_liver_files",
        task="segmentation",
        content_files_name="msd_liver_content_files",
        survey_name="msd_liver_survey",
        shape_name="msd_liver_shape",
    ),
}


#: loader options that set how a preparation runs, not what it writes (decoding processes): not
#: recorded in ``meta.json``, and a changed value reruns nothing
RUNTIME_OPTIONS = frozenset({"workers"})


def loader_module(loader: str) -> str:
    """The module that defines ``loader``."""
    if loader not in LOADERS:
        raise ValueError(f"unknown loader {loader!r}; known loaders: {', '.join(sorted(LOADERS))}")
    return LOADERS[loader].module


def loader_options(loader: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the loader's defaults filled in; clear errors for an unknown loader,
    unknown or missing options."""
    loader_module(loader)  # refuses an unknown loader
    if not isinstance(options, dict):
        raise ValueError(f"loader options must be a JSON object (dict), got {options!r}")
    parameters = inspect.signature(LOADERS[loader].load).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(
            f"loader {loader!r}: unknown option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(parameters)}"
        )
    missing = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise ValueError(f"loader {loader!r}: missing required option(s) {', '.join(missing)}")
    defaults = {
        name: parameter.default
        for name, parameter in parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {**defaults, **options}


def expected_split_sizes(loader: str, options: dict[str, Any]) -> dict[str, int]:
    """The size of each split ``loader`` will produce (train: N), known without preparing: from
    the planning cache while what it depends on is unchanged (``rero.data.planning_cache``),
    else from the loader's index files, its other files unchecked."""
    filled = loader_options(loader, options)
    found = planning_cache.cached_plan(loader, filled)
    return LOADERS[loader].split_sizes(filled) if found is None else found.split_sizes


def planned(loader: str, options: dict[str, Any]) -> Planned:
    """The split sizes and source digest of ``loader`` with ``options`` once every file it will
    read is checked (for the paper's datasets every image or volume their CSVs or
    ``dataset.json`` list; RadImageNet: each looked up in its folder's listing, a seeded sample
    stat-ed), cached while nothing it depends on changes (``rero.data.planning_cache``)."""
    filled = loader_options(loader, options)
    return planning_cache.planned(loader, filled, LOADERS[loader].survey)


def check_files(loader: str, options: dict[str, Any]) -> None:
    """Raises (naming the count and the first few) unless every file ``loader`` will read for
    ``options`` is there (:func:`planned`)."""
    planned(loader, options)


def dataset_shape(loader: str, options: dict[str, Any]) -> DatasetShape:
    """The task, number of classes and image shape ``loader`` will give for ``options``, known
    without preparing: from the options, or from the index files the split sizes read (cached
    while they are unchanged, ``rero.data.shapes``)."""
    filled = loader_options(loader, options)
    entry = LOADERS[loader]
    return cached_shape(loader, filled, entry.files(filled), entry.shape)


def checked_split_sizes(loader: str, options: dict[str, Any]) -> dict[str, int]:
    """The split sizes of :func:`planned`: what the workflow and ``check-config`` check of a
    dataset before any job."""
    return planned(loader, options).split_sizes


def planning_digest(loader: str, options: dict[str, Any]) -> str:
    """The source digest of :func:`planned`, the workflow's param that reruns a preparation when
    it changes: every file's content, save RadImageNet's images, which their folders' status
    stands for."""
    return planned(loader, options).source_digest


def source_files(loader: str, options: dict[str, Any]) -> list[str]:
    """The files ``loader`` reads its splits from (the CSVs or the ``.npz``; not every image),
    so the workflow reruns the preparation when one changes. Raises nothing for a missing one."""
    return [str(path) for path in LOADERS[loader].files(loader_options(loader, options))]


def content_files(loader: str, options: dict[str, Any]) -> list[Path]:
    """Every file ``loader`` reads with ``options``, images included, in the order it reads
    them: what identifies the dataset's source by content (``rero.data.fingerprint``)."""
    return LOADERS[loader].content_files(loader_options(loader, options))
