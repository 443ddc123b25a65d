"""ReRo bounds: time per epsilon for each method, and the rigorous method against Monte Carlo.

Part 1 times every method on the three settings of Ziller et al. (2024) (sigma per epsilon
from an RDP calibration of those settings, kappa = 1/N) and reports the peak memory that numpy
allocated for the rigorous method. Part 2 sets the rigorous value beside Hayes, Mahloujifar &
Balle's (2023) Monte Carlo estimate of the same quantity, gamma = nu(L > tau_kappa), with its
standard error from independent batches, measures the rigorous method's discretisation accuracy
(default grid vs a 4x finer one) and projects how many samples Monte Carlo needs to match it.

Usage: .venv/bin/python benchmarks/bench_bounds.py
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from rero.privacy.rero.methods import METHODS, rero_bound
from rero.privacy.rero.pld import DISCRETISATION, pld_rero_bound

EPSILONS = ("1", "8", "1e3", "1e6", "1e9", "1e12", "1e15", "1e18")
# (sample rate q, steps T, kappa = 1/N, sigma per epsilon above): Ziller et al. 2024 settings
SETTINGS = {
    "MSD Liver": (
        1 / 106,
        53000,
        1 / 106,
        (9.97, 1.66, 0.311, 0.0896, 5.4e-3, 1.7e-4, 5.4e-6, 1.7e-7),
    ),
    "HAM10000": (
        0.2525,
        300,
        1 / 8111,
        (20.1, 3.18, 0.234, 0.0128, 4.1e-4, 1.3e-5, 4.1e-7, 1.3e-8),
    ),
    "RadImageNet": (
        0.003328,
        15000,
        1e-6,
        (2.01, 0.658, 0.185, 0.0652, 2.9e-3, 9.1e-5, 2.9e-6, 9.1e-8),
    ),
}
MC_CASE = {"sigma": 0.8, "sample_rate": 5e-3, "steps": 1000, "kappa": 0.01}
MC_SAMPLES = 100_000
MC_BATCHES = 20


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


def run(print_fn: Callable[[str], None] = print) -> dict[str, float]:
    """Print both parts; return the headline numbers."""
    print_fn("== time per epsilon for each method (paper settings, kappa = 1/N) ==")
    per_method: dict[str, list[float]] = {name: [] for name in METHODS}
    for name, (q, steps, kappa, sigmas) in SETTINGS.items():
        print_fn(f"{name}: q={q:.4g}, T={steps}, kappa={kappa:.3g}")
        print_fn(f"  {'eps':>5} {'sigma':>9}  " + "  ".join(f"{m:>18}" for m in METHODS))
        for eps, sigma in zip(EPSILONS, sigmas, strict=True):
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
    for q, steps, kappa, sigmas in SETTINGS.values():
        for sigma in sigmas:
            rero_bound("rigorous", sigma=sigma, sample_rate=q, steps=steps, kappa=kappa)
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print_fn(
        f"rigorous: peak traced memory over all {3 * len(EPSILONS)} epsilons {peak_mib:.0f} MiB"
    )

    print_fn("")
    print_fn("== rigorous vs Monte Carlo (Hayes et al. 2023 sampler), same quantity ==")
    rigorous, rigorous_s = _timed(lambda: rero_bound("rigorous", **MC_CASE))
    finer = pld_rero_bound(**MC_CASE, step=DISCRETISATION / 4)
    accuracy = abs(rigorous.value - finer)
    mc_args = {key: MC_CASE[key] for key in ("sigma", "sample_rate", "steps")}
    batch = MC_SAMPLES // MC_BATCHES
    batches, mc_s = _timed(
        lambda: [hayes_losses(**mc_args, samples=batch, seed=seed) for seed in range(MC_BATCHES)]
    )
    mc_value = hayes_estimate(np.concatenate(batches), MC_CASE["kappa"])
    spread = np.std([hayes_estimate(losses, MC_CASE["kappa"]) for losses in batches], ddof=1)
    standard_error = float(spread / math.sqrt(MC_BATCHES))
    needed = MC_SAMPLES * (standard_error / accuracy) ** 2
    projected_s = mc_s * needed / MC_SAMPLES
    print_fn(f"case: {MC_CASE}")
    print_fn(f"rigorous upper bound   {rigorous.value:.7f}             in {rigorous_s:7.3f} s")
    print_fn(
        f"  grid d = {DISCRETISATION:g} vs d/4: {accuracy:.1e} apart (its discretisation accuracy)"
    )
    print_fn(
        f"Monte Carlo estimate   {mc_value:.7f} +- {standard_error:.7f} in {mc_s:7.3f} s"
        f" ({MC_SAMPLES} samples x {MC_CASE['steps']} steps; SE from {MC_BATCHES} batches)"
    )
    print_fn(
        f"difference (MC - rigorous) {mc_value - rigorous.value:+.7f}"
        f" = {(mc_value - rigorous.value) / standard_error:+.2f} standard errors"
    )
    print_fn(
        f"Monte Carlo is {mc_s / rigorous_s:.0f}x slower at {MC_SAMPLES} samples; to match the"
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
    run()
