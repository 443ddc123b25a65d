"""The privacy math of the study, pure functions with no I/O beyond the plan file.

``plan`` (the privacy plan every stage consumes), ``accounting`` (ε of DP-SGD per accountant, and
the registry with the auto fallback), ``calibration`` (σ for a target ε, over that registry) and
``rero`` (reconstruction-robustness bounds from the same mechanism).
"""
