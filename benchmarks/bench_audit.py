"""The white-box audit of the real training code at ε = 8 (or ``--epsilon``) on the default model
and data: its time on the CPU and how close its bounds come to the claimed ε, beside what the same
methods give on an idealised mechanism, in one run.

1. The shipped default study (``config.yaml``, read with the workflow's code: the generated MNI152
   patches, 8,000 training images, batch 256, 8 epochs, δ = 1e-5, clip norm 1, small CNN, Adam,
   ``hooks`` engine, physical batch 512) and its plan at that ε (calibrated by ``auto``):
   ``rero.audit.runner.run_audit`` with ``--canaries`` gradient canaries (default: the shipped
   config's ``audit.gradient_canaries``, 20,000), its guesses (25, 50, 100, 200), no input
   canaries, ``--threads`` CPU threads (default 2): the same code ``python -m rero audit`` runs.
   Printed: wall and CPU time, each bound (one-run and per-step composed), bound / claimed ε.
2. The idealised mechanism: the same q, σ, T and number of canaries, each canary's noisy
   coordinate N(0, 1) per step plus 1/σ in the steps that sample it, and no data at all: the
   same score, guesses and statistics (``rero.audit.game.judge``,
   ``rero.audit.composition.composed_audit``). What it reaches is what each method gets from
   this mechanism; the ratio real / ideal is what the real code path (the data's gradients,
   Adam's trajectory) costs the auditor.

``--quick``: 240 training images, batch 60, one epoch, 200 canaries guessed 10 and 20 at a time,
one thread unless ``--threads``.

Usage: .venv/bin/python benchmarks/bench_audit.py [--canaries 20000] [--threads 2] [--runs 1]
[--seed 0] [--epsilon 8] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from study_settings import DEFAULT_STUDY, study_config

from rero.audit.composition import composed_audit
from rero.audit.game import draw_membership, judge, subsampled_gaussian_scores
from rero.audit.runner import AuditSettings, run_audit
from rero.data.prepare import prepare_dataset, read_meta
from rero.data.store import load_split
from rero.privacy.accounting.base import sampling_schedule
from rero.privacy.calibration import calibrate
from rero.study.checks import dataset_settings
from rero.training.config import TrainConfig

DATASET = "mni152"
#: the quick run's dataset sizes, schedule, canaries and guesses
QUICK_SIZES = {"n_train": 240, "n_val": 60, "n_test": 60}
QUICK_BATCH, QUICK_EPOCHS, QUICK_CANARIES, QUICK_GUESSES = 60, 1, 200, (10, 20)


def ideal_audit(
    sample_rate: float,
    steps: int,
    sigma: float,
    canaries: int,
    seed: int,
    delta: float,
    guesses: tuple[int, ...],
) -> dict:
    """The one-run and the per-step audits of the bare Poisson-subsampled Gaussian mechanism (no
    data, no model)."""
    rng = np.random.default_rng(seed)
    included = draw_membership(canaries, rng)
    sampled = included & (rng.random((steps, canaries)) < sample_rate)
    observed = rng.standard_normal((steps, canaries)) + sampled / sigma
    scores = subsampled_gaussian_scores(observed, sample_rate, 1 / sigma)
    mechanism = (sigma, sample_rate, steps)
    return {
        **judge(scores, included, guesses, delta, 0.95, mechanism),
        **composed_audit(observed, included, mechanism, delta, 0.95),
    }


def train_config(training: dict[str, Any], clip_norm: float, threads: int) -> TrainConfig:
    """The study's training settings as the ``TrainConfig`` its jobs run, on the CPU."""
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    given = {name: value for name, value in training.items() if name in names}
    return TrainConfig(
        **{**given, "clip_norm": clip_norm, "threads": threads, "device": "cpu", "progress": False}
    )


def main() -> None:
    config = study_config(DEFAULT_STUDY)
    training = dataset_settings(config, DATASET, "training")
    audit_defaults = config["audit"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--canaries", type=int, default=audit_defaults["gradient_canaries"])
    parser.add_argument("--threads", type=int, default=None, help="default 2 (--quick: 1)")
    parser.add_argument("--runs", type=int, default=audit_defaults["runs"])
    parser.add_argument("--seed", type=int, default=audit_defaults["seed"], help="the audit's seed")
    parser.add_argument("--epsilon", type=float, default=8.0, help="the audited budget")
    parser.add_argument("--quick", action="store_true", help="a tiny dataset, 200 canaries")
    args = parser.parse_args()
    options = dict(config["datasets"][DATASET].get("options", {}))
    batch, epochs = training["batch_size"], training["epochs"]
    canaries, guesses = args.canaries, tuple(audit_defaults["guesses"])
    if args.quick:
        options |= QUICK_SIZES
        batch, epochs, canaries, guesses = QUICK_BATCH, QUICK_EPOCHS, QUICK_CANARIES, QUICK_GUESSES
    threads = args.threads or (1 if args.quick else 2)
    delta = dataset_settings(config, DATASET, "privacy")["delta"]
    clip_norm = dataset_settings(config, DATASET, "privacy")["clip_norm"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / DATASET
        prepare_dataset(DATASET, config["datasets"][DATASET]["loader"], options, data)
        meta = read_meta(data)
        num_train = int(meta["num_train"])
        plan = calibrate(
            args.epsilon,
            *sampling_schedule(num_train, batch, epochs),
            delta,
            dataset=DATASET,
            dataset_size=num_train,
            batch_size=batch,
            epochs=epochs,
        )
        settings = AuditSettings(
            gradient_canaries=canaries,
            input_canaries=0,
            runs=args.runs,
            seed=args.seed,
            guesses=guesses,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        audit = run_audit(
            plan,
            train_config(training, clip_norm, threads),
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
        plan.sample_rate, plan.steps, plan.sigma, canaries * args.runs, args.seed, delta, guesses
    )
    print(
        f"plan: claimed ε = {plan.epsilon:.3f} at δ = {delta:g} ({plan.accountant}), "
        f"σ = {plan.sigma:.4f}, q = {plan.sample_rate:.4f}, T = {plan.steps}"
    )
    print(
        f"real training code, white-box, {canaries} gradient canaries x {args.runs} run(s), "
        f"{threads} threads: {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    for label, result in (("real code", real), ("idealised mechanism", ideal)):
        print(
            f"  {label:20s} ε ≥ {result['epsilon_lower']:.3f} ({result['correct']}/"
            f"{result['guesses']} right), lower bound / claimed ε = "
            f"{result['epsilon_lower'] / plan.epsilon:.3f}; in the DP-SGD family (f-DP) ε ≥ "
            f"{result['epsilon_fdp_lower']:.3f} = "
            f"{result['epsilon_fdp_lower'] / plan.epsilon:.3f} x claimed"
        )
        print(
            f"  {'':20s} per step, composed: ε ≥ {result['epsilon_composed']:.3f} = "
            f"{result['epsilon_composed'] / plan.epsilon:.3f} x claimed; in the DP-SGD family ε ≥ "
            f"{result['epsilon_composed_fdp']:.3f} = "
            f"{result['epsilon_composed_fdp'] / plan.epsilon:.3f} x claimed"
        )
    for kind in ("epsilon_lower", "epsilon_fdp_lower", "epsilon_composed", "epsilon_composed_fdp"):
        ratio = real[kind] / ideal[kind] if ideal[kind] else float("nan")
        print(f"  real / idealised {kind} = {ratio:.3f}")


if __name__ == "__main__":
    main()
