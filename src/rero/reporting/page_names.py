"""The names, file paths and titles of the report's pages and figures: what the workflow declares
as the pages rule's outputs and labels in the report (read when Snakemake plans, so this module
imports nothing heavy; ``rero.reporting.pages`` writes the pages).

The report lists a category's entries sorted by their labels, so each title starts with its
place in reading order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

STUDY_PAGES = ("summary", "runs", "study")
DATASET_PAGES = ("advice", "attacks", "bounds", "membership", "audit")
#: the answer for each dataset, an HTML fragment that the report's landing text includes
LANDING = "landing.html"
TITLES = {
    "summary": "1. Summary: utility, privacy, risk and audit per budget",
    "runs": "2. Training runs, one per seed",
    "study": "1. The study in prose: what was found",
    "advice": "1. Advice: the budget each tolerated risk needs",
    "attacks": "2. Attacks: measured success by criterion",
    "bounds": "3. Reconstruction-risk bounds",
    "membership": "4. Membership-inference bounds",
    "audit": "5. Audit: the training code's ε measured",
}
#: each figure's title, in reading order (every name of ``rero.reporting.figures.FIGURES``)
FIGURE_TITLES = {
    "risk_vs_eps": "Reconstruction risk against ε: bounds and attacks by threat model",
    "utility_vs_eps": "Test utility against ε",
    "trade_off": "Utility against reconstruction risk",
    "bounds_vs_eps": "Bounds on reconstruction success against ε, by method",
    "reconstructions": "Imprint-attack reconstructions at each budget",
    "audit_vs_claim": "Audited ε against the claimed ε",
}


class Page(NamedTuple):
    """One page: its output name, its dataset (None for the study-wide pages), the table it
    shows and its file path relative to the pages folder."""

    name: str
    dataset: str | None
    table: str
    path: str

    @property
    def title(self) -> str:
        """The page's label in the report."""
        return TITLES[self.table]


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


def figure_labels() -> dict[str, str]:
    """Each figure's label in the report: its place in reading order and its title."""
    return {
        name: f"{place}. {title}" for place, (name, title) in enumerate(FIGURE_TITLES.items(), 1)
    }
