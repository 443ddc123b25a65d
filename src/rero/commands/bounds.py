"""``python -m rero bound`` (one setting, every method, and the from-scratch law of Riess et al.
2024 for one image) and ``bounds`` (a CSV of privacy plans)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rero.privacy.plan import read_plan
from rero.privacy.rero.from_scratch import (
    NCC_NOTE,
    THREAT_MODEL,
    expected_ncc,
    ncc_bound,
    psnr_to_mse,
    single_release_success,
    whole_run_success,
)
from rero.privacy.rero.methods import METHODS, all_bounds
from rero.privacy.rero.table import bounds_table, membership_table
from rero.runtime.io import atomic_path, dumps_json
from rero.study.tokens import parse_kappa

FROM_SCRATCH_FLAGS = ("--dimension", "--data-norm", "--psnr or --mse")


def from_scratch_result(args: argparse.Namespace) -> dict[str, Any] | None:
    """The from-scratch fields of ``bound`` for one image, or None when none of its flags is
    given; a ValueError naming the flag, its value and what is expected when one is bad."""
    given = (args.dimension, args.data_norm, args.psnr if args.mse is None else args.mse)
    if all(value is None for value in given):
        return None
    missing = [flag for flag, value in zip(FROM_SCRATCH_FLAGS, given, strict=True) if value is None]
    if missing:
        raise ValueError(f"the from-scratch bound also needs {', '.join(missing)}")
    if args.dimension < 1:
        raise ValueError(f"--dimension {args.dimension}: expected the pixels per image, >= 1")
    if not (math.isfinite(args.data_norm) and args.data_norm > 0):
        raise ValueError(f"--data-norm {args.data_norm}: expected a finite ||X||_2 > 0")
    if args.mse is not None and not (args.mse >= 0):
        raise ValueError(f"--mse {args.mse}: expected an MSE threshold >= 0")
    if args.psnr is not None and math.isnan(args.psnr):
        raise ValueError(f"--psnr {args.psnr}: expected a PSNR threshold in dB (data range 1)")
    threshold = float(psnr_to_mse(args.psnr)) if args.mse is None else args.mse
    law = {"sigma": args.sigma, "dimension": args.dimension, "data_norm": args.data_norm}
    whole_run = whole_run_success(threshold, sample_rate=args.sample_rate, steps=args.steps, **law)
    return {
        "mse_threshold": threshold,
        "psnr_threshold": args.psnr,
        "dimension": args.dimension,
        "data_norm": args.data_norm,
        "single_release": float(single_release_success(threshold, **law)),
        "whole_run": float(whole_run),
        "ncc_bound": float(ncc_bound(args.sigma, args.dimension)),
        "expected_ncc": float(expected_ncc(args.sigma, args.dimension)),
        "threat_model": THREAT_MODEL,
        "ncc_note": NCC_NOTE,
    }


def run_bound(args: argparse.Namespace) -> None:
    """Print every method's gamma for one (sigma, q, T, kappa), and the from-scratch success of
    one image when its flags are given, as a table or JSON."""
    label, kappa = parse_kappa(args.kappa)
    if kappa is None:
        raise ValueError("--kappa 1/N needs a plan; give '1/<integer>' or a number here")
    scratch = from_scratch_result(args)
    results = all_bounds(
        sigma=args.sigma, sample_rate=args.sample_rate, steps=args.steps, kappa=kappa
    )
    if args.json:
        fields: dict[str, Any] = {
            name: {"bound": b.value, "kind": b.kind, "note": b.note} for name, b in results.items()
        }
        if scratch is not None:
            fields["from_scratch"] = scratch
        print(dumps_json(fields))
        return
    print(f"ReRo bound, sigma={args.sigma:g} q={args.sample_rate:g} T={args.steps} kappa={label}")
    print(f"{'method':<10} {'kind':<14} {'bound':>12}  note")
    for name, b in results.items():
        print(f"{name:<10} {b.kind:<14} {b.value:>12.6g}  {b.note}")
    if scratch is not None:
        print(
            f"from scratch, N={scratch['dimension']} ||X||={scratch['data_norm']:g} "
            f"P(MSE <= {scratch['mse_threshold']:.6g}): one release "
            f"{scratch['single_release']:.6g}, whole run {scratch['whole_run']:.6g}; "
            f"NCC bound {scratch['ncc_bound']:.6g} (expected {scratch['expected_ncc']:.6g})"
        )
        print(f"  threat model: {THREAT_MODEL}")


def run_bounds(args: argparse.Namespace) -> None:
    """Write the bounds table of the given plans as a CSV (atomically)."""
    plans = [read_plan(path) for path in args.plans]
    kappas = [parse_kappa(spec) for spec in args.kappa or ["1/N"]]
    table = bounds_table(plans, kappas, args.methods)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(table)} rows")
    if args.membership_out:
        membership = membership_table(plans)
        with atomic_path(args.membership_out) as tmp:
            membership.to_csv(tmp, index=False)
        print(f"wrote {args.membership_out}: {len(membership)} rows")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bound`` and ``bounds`` subcommands."""
    one = subparsers.add_parser("bound", help="ReRo bounds for one (sigma, q, T, kappa)")
    one.add_argument("--sigma", type=float, required=True, help="noise multiplier (0: non-private)")
    one.add_argument("--sample-rate", type=float, required=True, help="Poisson sampling rate q")
    one.add_argument("--steps", type=int, required=True, help="number of DP-SGD steps T")
    one.add_argument("--kappa", required=True, help="prior baseline: '1/<integer>' or a number")
    one.add_argument(
        "--json",
        action="store_true",
        help="print JSON: method -> {bound, kind, note}, and from_scratch when its flags are given",
    )
    one.add_argument(
        "--dimension", type=int, help="from-scratch bound: N, values per image (pixels x channels)"
    )
    one.add_argument("--data-norm", type=float, help="from-scratch bound: the image's ||X||_2")
    threshold = one.add_mutually_exclusive_group()
    threshold.add_argument("--psnr", type=float, help="success: PSNR >= this, dB (data range 1)")
    threshold.add_argument("--mse", type=float, help="success: MSE <= this")
    one.set_defaults(handler=run_bound)

    table = subparsers.add_parser(
        "bounds", help="ReRo bounds per privacy plan, as a CSV (dataset column from each plan)"
    )
    table.add_argument("--plans", nargs="+", required=True, help="privacy-plan JSON files")
    table.add_argument(
        "--kappa",
        action="append",
        help="prior: '1/N' (N = plan's dataset_size), '1/<integer>' or a number; repeatable "
        "(default 1/N)",
    )
    table.add_argument("--out", required=True, help="CSV to write (atomically)")
    table.add_argument(
        "--membership-out", help="also write the membership-inference bounds per plan (CSV)"
    )
    table.add_argument(
        "--methods", nargs="+", default=list(METHODS), help=f"subset of {', '.join(METHODS)}"
    )
    table.set_defaults(handler=run_bounds)
