"""ReRo bounds: time per epsilon for each method, and the rigorous method against Monte Carlo.

Part 1 times every method on the paper's three settings (Ziller et al. 2024), each dataset's
schedule and δ read from ``workflow/configs/paper.yaml`` by the workflow's code
(``study_settings``: HAM10000 N = 8,111, B = 2,048, 100 epochs, T = 400; RadImageNet N = 10⁶,
B = 3,328, 50 epochs, T = 15,050; MSD Liver N = 106, B = 1, 500 epochs, T = 53,000; δ = 8e-7),
κ = 1/N, on the config's finite ε grid, σ per ε from rero's RDP calibration of that schedule, and
reports the peak memory that numpy allocated for the rigorous method. Part 2 sets the rigorous
value beside Hayes, Mahloujifar & Balle's (2023) Monte Carlo estimate of the same quantity,
gamma = nu(L > tau_kappa), with its standard error from independent batches, measures the rigorous
method's discretisation accuracy (default grid vs a 4x finer one) and projects how many samples
Monte Carlo needs to match it. ``--quick``: the first two budgets, 2,000 Monte Carlo samples.

Usage: .venv/bin/python benchmarks/bench_bounds.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from study_settings import PAPER_STUDY, finite_budgets, schedules, study_config

from rero.privacy.calibration import calibrate_grid
from rero.privacy.rero.methods import METHODS, rero_bound
from rero.privacy.rero.pld import DISCRETISATION, pld_rero_bound

QUICK_BUDGETS = 2
MC_CASE = {"sigma": 0.8, "sample_rate": 5e-3, "steps": 1000, "kappa": 0.01}
MC_SAMPLES, MC_BATCHES = 100_000, 20
QUICK_MC_SAMPLES, QUICK_MC_BATCHES = 2_000, 4


def paper_settings(budgets: int | None = None) -> tuple[list[str], dict[str, tuple]]:
    """The ε tokens (the first ``budgets`` of the paper grid, or all) and, per paper dataset,
    (q, T, κ, σ per ε) with σ from an RDP calibration of its schedule."""
    config = study_config(PAPER_STUDY)
    grid = dict(list(finite_budgets(config).items())[:budgets])
    settings = {}
    for name, schedule in schedules(config).items():
        plans = calibrate_grid(
            grid.values(), schedule.sample_rate, schedule.steps, schedule.delta, accountant="rdp"
        )
        sigmas = tuple(plan.sigma for plan in plans)
        settings[name] = (schedule.sample_rate, schedule.steps, schedule.kappa, sigmas)
    return list(grid), settings


def _timed(function: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def hayes_losses(
    sigma: float, sample_rate: float, steps: int, samples: int, seed: int
) -> np.ndarray:
    """Privacy losses L = ln(nu/mu) of the composed steps, sampled under mu (target absent)."""
    rng = np.random.default_rng(seed)
    losses = np.empty(samples)
    chunk = max(1, 2_000_000 // steps)
    log_keep, log_rate = math.log1p(-sample_rate), math.log(sample_rate)
    for start in range(0, samples, chunk):
        x = rng.normal(0.0, sigma, size=(min(chunk, samples - start), steps))
        step_losses = np.logaddexp(log_keep, log_rate + (2 * x - 1) / (2 * sigma**2))
        losses[start : start + x.shape[0]] = step_losses.sum(axis=1)
    return losses


def hayes_estimate(losses: np.ndarray, kappa: float) -> float:
    """Hayes et al. (2023): tau = the (1-kappa)-quantile of L under mu, and
    gamma = nu(L > tau) = 1 - E_mu[e^L 1{L <= tau}]."""
    kept = math.floor(losses.size * (1 - kappa))
    return max(0.0, 1.0 - float(np.exp(np.sort(losses)[:kept]).sum()) / losses.size)


def run(print_fn: Callable[[str], None] = print, quick: bool = False) -> dict[str, float]:
    """Print both parts; return the headline numbers."""
    epsilons, settings = paper_settings(QUICK_BUDGETS if quick else None)
    samples, mc_batches = (
        (QUICK_MC_SAMPLES, QUICK_MC_BATCHES) if quick else (MC_SAMPLES, MC_BATCHES)
    )
    print_fn("== time per epsilon for each method (paper settings, kappa = 1/N) ==")
    per_method: dict[str, list[float]] = {name: [] for name in METHODS}
    for name, (q, steps, kappa, sigmas) in settings.items():
        print_fn(f"{name}: q={q:.4g}, T={steps}, kappa={kappa:.3g}")
        print_fn(f"  {'eps':>5} {'sigma':>9}  " + "  ".join(f"{m:>18}" for m in METHODS))
        for eps, sigma in zip(epsilons, sigmas, strict=True):
            cells = []
            for method in METHODS:
                setting = {"sigma": sigma, "sample_rate": q, "steps": steps, "kappa": kappa}
                bound, seconds = _timed(lambda m=method, kw=setting: rero_bound(m, **kw))
                per_method[method].append(seconds)
                cells.append(f"{bound.value:>9.4g} {seconds * 1e3:>6.0f}ms")
            print_fn(f"  {eps:>5} {sigma:>9.3g}  " + "  ".join(cells))
    for method, seconds in per_method.items():
        median_ms, max_ms = np.median(seconds) * 1e3, max(seconds) * 1e3
        print_fn(f"{method:>10}: median {median_ms:7.1f} ms, max {max_ms:7.1f} ms per epsilon")

    tracemalloc.start()
    for q, steps, kappa, sigmas in settings.values():
        for sigma in sigmas:
            rero_bound("rigorous", sigma=sigma, sample_rate=q, steps=steps, kappa=kappa)
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print_fn(
        f"rigorous: peak traced memory over all {len(settings) * len(epsilons)} epsilons "
        f"{peak_mib:.0f} MiB"
    )

    print_fn("")
    print_fn("== rigorous vs Monte Carlo (Hayes et al. 2023 sampler), same quantity ==")
    rigorous, rigorous_s = _timed(lambda: rero_bound("rigorous", **MC_CASE))
    finer = pld_rero_bound(**MC_CASE, step=DISCRETISATION / 4)
    accuracy = abs(rigorous.value - finer)
    mc_args = {key: MC_CASE[key] for key in ("sigma", "sample_rate", "steps")}
    batch = samples // mc_batches
    batches, mc_s = _timed(
        lambda: [hayes_losses(**mc_args, samples=batch, seed=seed) for seed in range(mc_batches)]
    )
    mc_value = hayes_estimate(np.concatenate(batches), MC_CASE["kappa"])
    spread = np.std([hayes_estimate(losses, MC_CASE["kappa"]) for losses in batches], ddof=1)
    standard_error = float(spread / math.sqrt(mc_batches))
    needed = samples * (standard_error / accuracy) ** 2
    projected_s = mc_s * needed / samples
    print_fn(f"case: {MC_CASE}")
    print_fn(f"rigorous upper bound   {rigorous.value:.7f}             in {rigorous_s:7.3f} s")
    print_fn(
        f"  grid d = {DISCRETISATION:g} vs d/4: {accuracy:.1e} apart (its discretisation accuracy)"
    )
    print_fn(
        f"Monte Carlo estimate   {mc_value:.7f} +- {standard_error:.7f} in {mc_s:7.3f} s"
        f" ({samples} samples x {MC_CASE['steps']} steps; SE from {mc_batches} batches)"
    )
    print_fn(
        f"difference (MC - rigorous) {mc_value - rigorous.value:+.7f}"
        f" = {(mc_value - rigorous.value) / standard_error:+.2f} standard errors"
    )
    print_fn(
        f"Monte Carlo is {mc_s / rigorous_s:.0f}x slower at {samples} samples; to match the"
        f" grid's accuracy it needs ~{needed:.1e} samples (~{projected_s:.1e} s,"
        f" ~{projected_s / rigorous_s:.1e}x slower) and is still an estimate, not a bound"
    )
    return {
        "rigorous_median_s": float(np.median(per_method["rigorous"])),
        "rigorous_max_s": float(max(per_method["rigorous"])),
        "rigorous_peak_mib": peak_mib,
        "mc_speed_ratio": mc_s / rigorous_s,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two budgets, 2,000 MC samples")
    run(quick=parser.parse_args().quick)
