"""The white-box audit of the real training code at ε = 8 (or ``--epsilon``) on the default model
and data: its time on the CPU and how close its bounds come to the claimed ε, beside what the same
methods give on an idealised mechanism, in one run.

1. The default study's dataset (the shipped MNI152 patches, 8,000 training images) and its plan at
   that ε (batch 256, 8 epochs, δ = 1e-5, calibrated by ``auto``): ``rero.audit.runner.run_audit``
   with ``--canaries`` gradient canaries (default 20000, the shipped config's), the small CNN, Adam,
   ``hooks`` engine, physical batch 512, ``--threads`` CPU threads (default 2): the same code
   ``python -m rero audit`` runs. Printed: wall and CPU time, each bound (one-run and per-step
   composed), bound / claimed ε.
2. The idealised mechanism: the same q, σ, T and number of canaries, each canary's noisy
   coordinate N(0, 1) per step plus 1/σ in the steps that sample it, and no data at all: the
   same score, guesses and statistics (``rero.audit.game.judge``,
   ``rero.audit.composition.composed_audit``). What it reaches is what each method gets from
   this mechanism; the ratio real / ideal is what the real code path (the data's gradients,
   Adam's trajectory) costs the auditor.

Usage: .venv/bin/python benchmarks/bench_audit.py [--canaries 20000] [--threads 2] [--runs 1]
[--seed 0] [--epsilon 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rero.audit.composition import composed_audit
from rero.audit.game import draw_membership, judge, subsampled_gaussian_scores
from rero.audit.runner import AuditSettings, run_audit
from rero.data.prepare import prepare_dataset, read_meta
from rero.data.store import load_split
from rero.privacy.calibration import calibrate
from rero.training.config import TrainConfig

DELTA = 1e-5
BATCH_SIZE, EPOCHS = 256, 8
GUESSES = (25, 50, 100, 200)


def ideal_audit(sample_rate: float, steps: int, sigma: float, canaries: int, seed: int) -> dict:
    """The one-run and the per-step audits of the bare Poisson-subsampled Gaussian mechanism (no
    data, no model)."""
    rng = np.random.default_rng(seed)
    included = draw_membership(canaries, rng)
    sampled = included & (rng.random((steps, canaries)) < sample_rate)
    observed = rng.standard_normal((steps, canaries)) + sampled / sigma
    scores = subsampled_gaussian_scores(observed, sample_rate, 1 / sigma)
    mechanism = (sigma, sample_rate, steps)
    return {
        **judge(scores, included, GUESSES, DELTA, 0.95, mechanism),
        **composed_audit(observed, included, mechanism, DELTA, 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--canaries", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the audit's seed")
    parser.add_argument("--epsilon", type=float, default=8.0, help="the audited budget")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mni152"
        prepare_dataset("mni152", "mni152", {}, data)
        meta = read_meta(data)
        num_train = int(meta["num_train"])
        plan = calibrate(
            args.epsilon,
            BATCH_SIZE / num_train,
            EPOCHS * -(-num_train // BATCH_SIZE),
            DELTA,
            dataset="mni152",
            dataset_size=num_train,
            batch_size=BATCH_SIZE,
            epochs=EPOCHS,
        )
        settings = AuditSettings(
            gradient_canaries=args.canaries,
            input_canaries=0,
            runs=args.runs,
            seed=args.seed,
            guesses=GUESSES,
        )
        config = TrainConfig(clip_norm=1.0, threads=args.threads, progress=False)
        wall, cpu = time.perf_counter(), time.process_time()
        audit = run_audit(
            plan,
            config,
            meta,
            load_split(data, "train"),
            load_split(data, "val"),
            settings,
            torch.device("cpu"),
            deterministic=True,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    real = audit["results"]["white_box"]
    ideal = ideal_audit(
        plan.sample_rate, plan.steps, plan.sigma, args.canaries * args.runs, args.seed
    )
    print(
        f"plan: claimed ε = {plan.epsilon:.3f} at δ = {DELTA:g} ({plan.accountant}), "
        f"σ = {plan.sigma:.4f}, q = {plan.sample_rate:.4f}, T = {plan.steps}"
    )
    print(
        f"real training code, white-box, {args.canaries} gradient canaries x {args.runs} run(s), "
        f"{args.threads} threads: {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    for label, result in (("real code", real), ("idealised mechanism", ideal)):
        print(
            f"  {label:20s} ε ≥ {result['epsilon_lower']:.3f} ({result['correct']}/"
            f"{result['guesses']} right), lower bound / claimed ε = "
            f"{result['epsilon_lower'] / plan.epsilon:.3f}; f-DP empirical ε "
            f"{result['epsilon_fdp']:.3f} = {result['epsilon_fdp'] / plan.epsilon:.3f} x claimed"
        )
        print(
            f"  {'':20s} per step, composed: ε ≥ {result['epsilon_composed']:.3f} = "
            f"{result['epsilon_composed'] / plan.epsilon:.3f} x claimed; in the DP-SGD family "
            f"{result['epsilon_composed_fdp']:.3f} = "
            f"{result['epsilon_composed_fdp'] / plan.epsilon:.3f} x claimed"
        )
    for kind in ("epsilon_lower", "epsilon_fdp", "epsilon_composed", "epsilon_composed_fdp"):
        ratio = real[kind] / ideal[kind] if ideal[kind] else float("nan")
        print(f"  real / idealised {kind} = {ratio:.3f}")


if __name__ == "__main__":
    main()
