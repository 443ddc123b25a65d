"""Draw every figure of the study from its result tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from rero.reporting.figures.audit import audit_vs_claim
from rero.reporting.figures.reconstructions import reconstructions
from rero.reporting.figures.risk import bounds_vs_eps, risk_vs_eps
from rero.reporting.figures.utility import trade_off, utility_vs_eps


def draw_all(
    summary_file: str | Path,
    metric_files: Sequence[str | Path],
    bound_files: Sequence[str | Path],
    recon_files: Sequence[str | Path],
    imprint_files: Sequence[str | Path],
    out_dir: Path,
    from_scratch_files: Sequence[str | Path] = (),
) -> dict[str, Figure]:
    """Every figure of :data:`FIGURES`, written as ``out_dir/<name>.png`` and ``.pdf`` (the
    from-scratch bound in the risk figure only where its tables are given)."""
    summary = pd.read_csv(summary_file)
    figures = {
        "utility_vs_eps": utility_vs_eps(metric_files, out_dir / "utility_vs_eps.png"),
        "bounds_vs_eps": bounds_vs_eps(bound_files, out_dir / "bounds_vs_eps.png"),
        "reconstructions": reconstructions(recon_files, out_dir / "reconstructions.png"),
        "risk_vs_eps": risk_vs_eps(
            summary, bound_files, out_dir / "risk_vs_eps.png", imprint_files, from_scratch_files
        ),
        "trade_off": trade_off(summary, out_dir / "trade_off.png", imprint_files),
        "audit_vs_claim": audit_vs_claim(summary, out_dir / "audit_vs_claim.png"),
    }
    return figures
