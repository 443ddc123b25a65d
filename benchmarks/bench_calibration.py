"""σ for the paper's ε grid in the paper's three settings and the default one, side by side with
Opacus' ``get_noise_multiplier`` (PRV and RDP accountants), in one run.

Per setting: rero's ``calibrate_grid`` (policy ``auto``, cold caches) for the 9 finite budgets of
the paper grid (ε = inf needs no σ), its wall time, and per target σ, the certified bracket
[lower, upper] with its relative width and the accountant; then Opacus' ``get_noise_multiplier``
for each target with ``accountant="prv"`` and ``accountant="rdp"`` (its default absolute ε
tolerance, 0.01), each call in its own process with a time limit, so a call that fails, loops or
runs out of memory is reported ("error: …", "timeout") instead of stopping the benchmark. Ends
with the total rero time and its peak resident memory (this process; Opacus runs in children).

Usage: .venv/bin/python benchmarks/bench_calibration.py [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
import warnings
from collections.abc import Callable

from rero.privacy.accounting.registry import clear_cache
from rero.privacy.calibration import calibrate_grid

PAPER_GRID = [1.0, 8.0, 32.0, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18]
# (q, T, δ) of Ziller et al. 2024 (README, "The paper's study") and of the default study
SETTINGS = {
    "msd_liver": (1 / 106, 53_000, 8e-7),
    "ham10000": (0.2525, 300, 8e-7),
    "radimagenet": (0.003328, 15_000, 8e-7),
    "default": (256 / 8000, 256, 1e-5),
}


def _opacus_sigma(accountant: str, target: float, q: float, steps: int, delta: float, queue):
    """Child process: Opacus' σ for one target, or the error it raised (its warnings about the
    RDP orders' range are silenced: the table reports the σ it returns)."""
    warnings.simplefilter("ignore")
    from opacus.accountants.utils import get_noise_multiplier

    start = time.perf_counter()
    try:
        sigma = get_noise_multiplier(
            target_epsilon=target,
            target_delta=delta,
            sample_rate=q,
            steps=steps,
            accountant=accountant,
        )
        queue.put((f"σ={sigma:.4g}", time.perf_counter() - start))
    except Exception as error:  # reported, not raised: the benchmark records failures
        queue.put((f"error: {type(error).__name__}", time.perf_counter() - start))


def opacus_cell(
    accountant: str, target: float, setting: tuple, timeout: float
) -> tuple[str, float]:
    """Opacus' result for one target as text, and its time (the limit where it timed out)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_opacus_sigma, args=(accountant, target, *setting, queue))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        return "timeout", timeout
    if queue.empty():
        return f"died (exit {process.exitcode})", float("nan")
    return queue.get()


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run(timeout: float = 20.0, print_fn: Callable[[str], None] = print) -> dict[str, float]:
    """Print the tables; returns rero's grid time in seconds per setting."""
    rero_times: dict[str, float] = {}
    for name, setting in SETTINGS.items():
        q, steps, delta = setting
        clear_cache()
        start = time.perf_counter()
        plans = calibrate_grid(PAPER_GRID, q, steps, delta, accountant="auto")
        rero_times[name] = time.perf_counter() - start
        print_fn(f"{name}: q={q:.4g}, T={steps}, δ={delta:g}; rero auto {rero_times[name]:.1f} s")
        print_fn(
            f"  {'target':>7} | {'rero σ':>10} {'ε lower':>10} {'ε upper':>10} {'width':>7} "
            f"{'acct':>10} | {'opacus prv':>22} | {'opacus rdp':>22}"
        )
        opacus_total = {"prv": 0.0, "rdp": 0.0}
        for target, plan in zip(PAPER_GRID, plans, strict=True):
            cells = []
            for accountant in ("prv", "rdp"):
                text, seconds = opacus_cell(accountant, target, setting, timeout)
                opacus_total[accountant] += seconds
                cells.append(f"{text:>13} {seconds:6.1f} s")
            lower = plan.epsilon_lower
            width = (
                f"{(plan.epsilon - lower) / plan.epsilon:7.2%}" if lower is not None else "   n/a"
            )
            lower_text = f"{lower:10.4g}" if lower is not None else f"{'n/a':>10}"
            print_fn(
                f"  {target:7.0e} | {plan.sigma:10.4g} {lower_text} {plan.epsilon:10.4g} {width} "
                f"{plan.accountant:>10} | {cells[0]} | {cells[1]}"
            )
        print_fn(
            f"  time for the grid: rero {rero_times[name]:.1f} s, opacus prv "
            f"{opacus_total['prv']:.1f} s, opacus rdp {opacus_total['rdp']:.1f} s "
            f"(timeouts count {timeout:g} s)"
        )
    paper = sum(rero_times[name] for name in ("msd_liver", "ham10000", "radimagenet"))
    print_fn(f"rero, the three paper settings: {paper:.1f} s (target ≤ 10 s)")
    print_fn(f"rero peak resident memory: {_peak_rss_mib():.0f} MiB (target ≤ 2048)")
    return rero_times


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="limit per Opacus call (s)")
    run(parser.parse_args().timeout)
