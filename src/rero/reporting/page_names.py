"""The names and file paths of the report's pages: what the workflow declares as the pages rule's
outputs (read when Snakemake plans, so this module imports nothing heavy;
``rero.reporting.pages`` writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

STUDY_PAGES = ("summary", "runs", "study")
DATASET_PAGES = ("bounds", "membership", "advice", "attacks")


class Page(NamedTuple):
    """One page: its output name, its dataset (None for the study-wide pages), the table it
    shows and its file path relative to the pages folder."""

    name: str
    dataset: str | None
    table: str
    path: str


def page_list(datasets: Sequence[str]) -> list[Page]:
    """Every page: ``summary``, ``runs``, ``study``, then each table of :data:`DATASET_PAGES`
    for each dataset (``<dataset>/<table>.html``)."""
    pages = [Page(name, None, name, f"{name}.html") for name in STUDY_PAGES]
    for dataset in datasets:
        pages += [
            Page(f"{dataset}_{table}", dataset, table, f"{dataset}/{table}.html")
            for table in DATASET_PAGES
        ]
    return pages
