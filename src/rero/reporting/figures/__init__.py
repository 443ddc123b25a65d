"""The study's figures, drawn from the result tables only (summary.csv, the training metrics,
the bounds tables, the attacks' recon.npz and imprint.json), in one style at print size and
written as PNG and PDF (:mod:`rero.reporting.figures.style`);
:func:`rero.reporting.figures.draw.draw_all` draws them all. This module holds only their names,
read when the workflow is planned."""

#: every figure of the study, in the order the report shows them: ``results/figures/<name>.png``
FIGURES = (
    "utility_vs_eps",
    "bounds_vs_eps",
    "reconstructions",
    "risk_vs_eps",
    "trade_off",
    "audit_vs_claim",
)
