"""σ for the paper's ε grid in the paper's three settings and the default one, side by side with
Opacus' ``get_noise_multiplier`` (PRV and RDP accountants), in one run.

The settings are the schedules the workflow plans, read from its config files by its own code
(``study_settings``): ``workflow/configs/paper.yaml`` gives HAM10000 (q = 2048/8111, T = 400),
RadImageNet (q = 3328/10⁶, T = 15,050) and MSD Liver (q = 1/106, T = 53,000), all at δ = 8e-7,
and the 9 finite budgets of its ε grid; ``config.yaml`` the default study (q = 256/8000,
T = 256, δ = 1e-5). ``--quick`` calibrates the default study's schedule for the first budget only.

Per setting: rero's ``calibrate_grid`` (policy ``auto``, cold caches) for the finite budgets of
the paper grid (ε = inf needs no σ), its wall time, and per target σ, the certified bracket
[lower, upper] with its relative width and the accountant; then Opacus' ``get_noise_multiplier``
for each target with ``accountant="prv"`` and ``accountant="rdp"`` (its default absolute ε
tolerance, 0.01), each call in its own process with a time limit, so a call that fails, loops or
runs out of memory is reported ("error: …", "timeout") instead of stopping the benchmark. Ends
with the total rero time and its peak resident memory (this process; Opacus runs in children).

Usage: .venv/bin/python benchmarks/bench_calibration.py [--timeout SECONDS] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
import warnings
from collections.abc import Callable

from study_settings import DEFAULT_STUDY, PAPER_STUDY, finite_budgets, schedules, study_config

from rero.privacy.accounting.registry import clear_cache
from rero.privacy.calibration import calibrate_grid


def settings(quick: bool = False) -> tuple[list[float], dict[str, tuple[float, int, float]]]:
    """The paper's finite budgets (the first only when ``quick``) and (q, T, δ) per setting: the
    paper's datasets and the default study (only that one when ``quick``)."""
    paper = study_config(PAPER_STUDY)
    default = schedules(study_config(DEFAULT_STUDY))["mni152"]
    chosen = {} if quick else schedules(paper)
    chosen["default"] = default
    grid = list(finite_budgets(paper).values())
    schedule = {name: (s.sample_rate, s.steps, s.delta) for name, s in chosen.items()}
    return grid[:1] if quick else grid, schedule


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


def run(
    timeout: float = 20.0, print_fn: Callable[[str], None] = print, quick: bool = False
) -> dict[str, float]:
    """Print the tables; returns rero's grid time in seconds per setting."""
    grid, timed = settings(quick)
    rero_times: dict[str, float] = {}
    for name, setting in timed.items():
        q, steps, delta = setting
        clear_cache()
        start = time.perf_counter()
        plans = calibrate_grid(grid, q, steps, delta, accountant="auto")
        rero_times[name] = time.perf_counter() - start
        print_fn(f"{name}: q={q:.4g}, T={steps}, δ={delta:g}; rero auto {rero_times[name]:.1f} s")
        print_fn(
            f"  {'target':>7} | {'rero σ':>10} {'ε lower':>10} {'ε upper':>10} {'width':>7} "
            f"{'acct':>10} | {'opacus prv':>22} | {'opacus rdp':>22}"
        )
        opacus_total = {"prv": 0.0, "rdp": 0.0}
        for target, plan in zip(grid, plans, strict=True):
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
    paper = [name for name in rero_times if name != "default"]
    print_fn(
        f"rero, the paper settings ({', '.join(paper) or 'none with --quick'}): "
        f"{sum(rero_times[name] for name in paper):.1f} s (target ≤ 10 s for all three)"
    )
    print_fn(f"rero peak resident memory: {_peak_rss_mib():.0f} MiB (target ≤ 2048)")
    return rero_times


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="limit per Opacus call (s)")
    parser.add_argument("--quick", action="store_true", help="the default study, one budget")
    arguments = parser.parse_args()
    run(arguments.timeout, quick=arguments.quick)
