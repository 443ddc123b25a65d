"""``python -m rero attack``: reconstruction attacks at one privacy plan.

Writes, into ``--out-dir`` (``results/attack/{dataset}/eps_{eps}/``): ``imprint.json`` and
``recon.npz`` (imprint attack on DP-SGD updates of real training batches) and ``prior_aware.json``
(informed adversary of Hayes et al. 2023 beside the rigorous ReRo bound for its own sigma, q, T).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rero.attacks.imprint import DEFAULT_SSIM_THRESHOLD, run_imprint_attack, summarise_imprint
from rero.attacks.prior_aware import run_prior_aware_attack, summarise_prior_aware
from rero.data import load_split, read_meta
from rero.io import provenance, read_json, save_npz, write_json
from rero.privacy.accounting import calibrate
from rero.privacy.bounds import rero_bound

ATTACKS = ("imprint", "prior_aware")
NOISE_CALIBRATIONS = ("full", "one_step")
PLAN_KEYS = ("target_epsilon", "sigma", "sample_rate", "steps", "delta", "clip_norm")


def read_plan(path: Path) -> dict[str, Any]:
    """The privacy plan written by ``python -m rero calibrate``, checked for the keys used here."""
    plan = read_json(path)
    missing = [key for key in PLAN_KEYS if key not in plan] if isinstance(plan, dict) else PLAN_KEYS
    if missing:
        raise ValueError(f"{path}: not a privacy plan, missing key(s) {', '.join(missing)}")
    if float(plan["sigma"]) > 0 and plan["clip_norm"] is None:
        raise ValueError(f"{path}: sigma > 0 needs a clip_norm (the noise std is sigma * C)")
    return plan


def imprint_noise(plan: dict[str, Any], calibration: str) -> tuple[float, float | None]:
    """(sigma, C) of the attacked update: the plan's (whole training, the paper's default) or
    sigma calibrated so that one step at the plan's q alone spends the target epsilon."""
    if calibration not in NOISE_CALIBRATIONS:
        raise ValueError(
            f"noise calibration must be one of {NOISE_CALIBRATIONS}, got {calibration}"
        )
    clip_norm = None if plan["clip_norm"] is None else float(plan["clip_norm"])
    if float(plan["sigma"]) == 0 or calibration == "full":
        return float(plan["sigma"]), clip_norm
    one_step = calibrate(
        float(plan["target_epsilon"]),
        sample_rate=float(plan["sample_rate"]),
        steps=1,
        delta=float(plan["delta"]),
        clip_norm=clip_norm,
    )
    return float(one_step.sigma), clip_norm


def imprint_job(
    train: tuple[np.ndarray, np.ndarray],
    reference: np.ndarray,
    num_classes: int,
    plan: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the imprint attack; return the JSON record and the arrays of ``recon.npz``."""
    sigma, clip_norm = imprint_noise(plan, args.noise_calibration)
    result = run_imprint_attack(
        *train,
        reference,
        num_classes=num_classes,
        batch_size=args.batch_size,
        num_batches=args.num_batches,
        num_bins=args.num_bins,
        sigma=sigma,
        clip_norm=clip_norm,
        seed=args.seed,
    )
    record = summarise_imprint(result, args.ssim_threshold) | {
        "num_batches": args.num_batches,
        "batch_size": args.batch_size,
        "num_bins": args.num_bins,
        "sigma": sigma,
        "clip_norm": clip_norm,
        "noise_calibration": args.noise_calibration,
        "seed": args.seed,
        "threshold_source": f"quantiles of the statistic on the {args.reference_split} split",
    }
    arrays = {
        "originals": result.originals.astype("float32"),
        "reconstructions": result.reconstructions.astype("float32"),
        "ssim": result.ssim,
        "mse": result.mse,
        "batch_index": result.batch_index,
        "alone_in_bin": result.alone_in_bin,
    }
    return record, arrays


def prior_aware_plan(plan: dict[str, Any], sample_rate: float, steps: int) -> dict[str, Any]:
    """The attack's own privacy plan: sigma at which its DP-SGD run (q, T) spends the plan's
    target epsilon at the plan's delta (sigma 0 for the non-private plan)."""
    target = math.inf if float(plan["sigma"]) == 0 else float(plan["target_epsilon"])
    return calibrate(
        target, sample_rate=sample_rate, steps=steps, delta=float(plan["delta"])
    ).to_dict()


def prior_aware_job(
    train: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    plan: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Run the prior-aware attack and put the rigorous ReRo bound (kappa = 1/M) beside it."""
    attack_plan = prior_aware_plan(plan, args.attack_sample_rate, args.attack_steps)
    setting = {
        "sigma": float(attack_plan["sigma"]),
        "sample_rate": args.attack_sample_rate,
        "steps": args.attack_steps,
    }
    result = run_prior_aware_attack(
        *train,
        num_classes=num_classes,
        prior_size=args.prior_size,
        known_size=args.known_size,
        trials=args.trials,
        clip_norm=args.attack_clip_norm,
        learning_rate=args.attack_learning_rate,
        seed=args.seed,
        **setting,
    )
    bound = rero_bound("rigorous", **setting, kappa=result.kappa)
    return (
        summarise_prior_aware(result, float(bound.value))
        | setting
        | {
            "bound_method": "rigorous",
            "bound_note": bound.note,
            "clip_norm": args.attack_clip_norm,
            "known_size": args.known_size,
            "learning_rate": args.attack_learning_rate,
            "seed": args.seed,
            "attack_plan": attack_plan,
            "noise": "sigma calibrated for the attack's own sample rate and steps at the plan's "
            "target epsilon and delta (0 for the non-private plan)",
        }
    )


def _handle(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    plan = read_plan(args.plan)
    meta = read_meta(args.data_dir)
    train = load_split(args.data_dir, "train")
    num_classes = int(meta["num_classes"])
    common = {"dataset": meta["dataset"], "target_epsilon": plan["target_epsilon"], "plan": plan}
    for attack in args.attacks:
        start = time.perf_counter()
        if attack == "imprint":
            reference, _ = load_split(args.data_dir, args.reference_split)
            record, arrays = imprint_job(train, reference, num_classes, plan, args)
            save_npz(args.out_dir / "recon.npz", **arrays)
        else:
            record = prior_aware_job(train, num_classes, plan, args)
        wall = {"wall_time_s": time.perf_counter() - start, "provenance": provenance()}
        write_json(args.out_dir / f"{attack}.json", record | common | wall)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``attack`` subcommand."""
    parser = subparsers.add_parser(
        "attack",
        help="imprint and prior-aware reconstruction attacks at one privacy plan",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="prepared dataset folder")
    parser.add_argument("--plan", type=Path, required=True, help="privacy plan JSON")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    imprint = parser.add_argument_group("imprint attack")
    imprint.add_argument("--batch-size", type=_positive_int, default=16)
    imprint.add_argument("--num-batches", type=_positive_int, default=4)
    imprint.add_argument("--num-bins", type=_positive_int, default=64)
    imprint.add_argument(
        "--ssim-threshold",
        type=_unit_interval,
        default=DEFAULT_SSIM_THRESHOLD,
        help="eta: success is best SSIM >= eta (why 0.95: rero.attacks.imprint)",
    )
    imprint.add_argument("--noise-calibration", choices=NOISE_CALIBRATIONS, default="full")
    imprint.add_argument(
        "--reference-split",
        choices=("val", "test"),
        default="val",
        help="split whose statistic quantiles place the bins (data the server plausibly has)",
    )
    prior = parser.add_argument_group("prior-aware attack")
    prior.add_argument("--prior-size", type=_positive_int, default=8, help="M (kappa = 1/M)")
    prior.add_argument("--known-size", type=_positive_int, default=32, help="|D-|")
    prior.add_argument("--trials", type=_positive_int, default=1000)
    prior.add_argument("--attack-steps", type=_positive_int, default=20, help="T")
    prior.add_argument("--attack-sample-rate", type=_unit_interval, default=1.0, help="q")
    prior.add_argument("--attack-clip-norm", type=_positive_float, default=0.1, help="C")
    prior.add_argument("--attack-learning-rate", type=_positive_float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=_positive_int, default=1, help="torch CPU threads")
    parser.set_defaults(handler=_handle)
