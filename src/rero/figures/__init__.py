"""The study's figures, drawn from the result tables only (summary.csv, the training metrics,
the bounds tables, the attacks' recon.npz and imprint.json), in one style at print size and
written as PNG and PDF (:mod:`rero.figures.style`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from rero.figures.audit import audit_vs_claim
from rero.figures.labels import eps_label, fraction, kappa_text, method_name
from rero.figures.reconstructions import reconstructions
from rero.figures.risk import bounds_vs_eps, risk_vs_eps
from rero.figures.style import FORMATS, STYLE, save_figure
from rero.figures.utility import trade_off, utility_vs_eps

FIGURES = (
    "utility_vs_eps",
    "bounds_vs_eps",
    "reconstructions",
    "risk_vs_eps",
    "trade_off",
    "audit_vs_claim",
)


def draw_all(
    summary_file: str | Path,
    metric_files: Sequence[str | Path],
    bound_files: Sequence[str | Path],
    recon_files: Sequence[str | Path],
    imprint_files: Sequence[str | Path],
    out_dir: Path,
) -> dict[str, Figure]:
    """Every figure of :data:`FIGURES`, written as ``out_dir/<name>.png`` and ``.pdf``."""
    summary = pd.read_csv(summary_file)
    return {
        "utility_vs_eps": utility_vs_eps(metric_files, out_dir / "utility_vs_eps.png"),
        "bounds_vs_eps": bounds_vs_eps(bound_files, out_dir / "bounds_vs_eps.png"),
        "reconstructions": reconstructions(recon_files, out_dir / "reconstructions.png"),
        "risk_vs_eps": risk_vs_eps(
            summary, bound_files, out_dir / "risk_vs_eps.png", imprint_files
        ),
        "trade_off": trade_off(summary, out_dir / "trade_off.png", imprint_files),
        "audit_vs_claim": audit_vs_claim(summary, out_dir / "audit_vs_claim.png"),
    }


__all__ = [
    "FIGURES",
    "FORMATS",
    "STYLE",
    "audit_vs_claim",
    "bounds_vs_eps",
    "draw_all",
    "eps_label",
    "fraction",
    "kappa_text",
    "method_name",
    "reconstructions",
    "risk_vs_eps",
    "save_figure",
    "trade_off",
    "utility_vs_eps",
]
