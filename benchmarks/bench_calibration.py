"""σ calibration of a 10-value ε grid (1 … 1e18, log-spaced) with each accountant, in one run.

Prints, per accountant, the wall time for the whole grid (cold caches) and, per target, the
achieved ε (the accountant's upper bound), σ and which accountant produced it; "n/a" marks a
target an explicit accountant cannot compute within the memory budget. Ends with the peak
resident memory of this process, which covers every evaluation above.

Usage: .venv/bin/python benchmarks/bench_calibration.py
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

import numpy as np

from rero.privacy.accounting import clear_cache
from rero.privacy.calibration import calibrate, calibrate_grid
from rero.privacy.plan import PrivacyPlan

SAMPLE_RATE = 0.005
STEPS = 1000
DELTA = 1e-5
TARGETS = [float(value) for value in np.logspace(0, 18, 10)]


def _calibrate_each(accountant: str) -> list[PrivacyPlan | None]:
    """Explicit accountants: one target at a time, None where the accountant refuses."""
    plans: list[PrivacyPlan | None] = []
    for target in TARGETS:
        try:
            plans.append(calibrate(target, SAMPLE_RATE, STEPS, DELTA, accountant=accountant))
        except ValueError:
            plans.append(None)
    return plans


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run(print_fn: Callable[[str], None] = print) -> dict[str, float]:
    """Time the grid per accountant; returns the wall time in seconds per accountant."""
    print_fn(
        f"q={SAMPLE_RATE}, T={STEPS}, delta={DELTA}, targets 1 ... 1e18 ({len(TARGETS)} values)"
    )
    timings: dict[str, float] = {}
    rows: dict[str, list[PrivacyPlan | None]] = {}
    for accountant in ("auto", "prv", "pld", "rdp"):
        clear_cache()
        start = time.perf_counter()
        if accountant in ("auto", "rdp"):
            rows[accountant] = list(
                calibrate_grid(TARGETS, SAMPLE_RATE, STEPS, DELTA, accountant=accountant)
            )
        else:
            rows[accountant] = _calibrate_each(accountant)
        timings[accountant] = time.perf_counter() - start
        print_fn(f"  {accountant:>4}: {timings[accountant]:6.2f} s for the grid")
    print_fn(f"  time ratio auto / rdp: {timings['auto'] / timings['rdp']:.1f}")
    header = f"  {'target':>8} | " + " | ".join(f"{name:^26}" for name in rows)
    print_fn(header)
    for index, target in enumerate(TARGETS):
        cells = []
        for plans in rows.values():
            plan = plans[index]
            if plan is None:
                cells.append(f"{'n/a':^26}")
            else:
                cells.append(f"{plan.epsilon:9.4g} σ={plan.sigma:8.3g} {plan.accountant:>4}")
        print_fn(f"  {target:8.0e} | " + " | ".join(cells))
    print_fn(f"  peak resident memory of this process: {_peak_rss_mib():.0f} MiB")
    return timings


if __name__ == "__main__":
    run()
