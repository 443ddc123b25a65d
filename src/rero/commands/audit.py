"""``python -m rero audit``: an empirical ε lower bound for the training code at one plan
(:mod:`rero.audit`): canaries in the DP-SGD path of ``train``, a white-box and a black-box
auditor, and their bounds at the plan's δ, written as one JSON file."""

from __future__ import annotations

import argparse

from rero.audit.record import audit_record
from rero.audit.runner import AuditSettings, run_audit
from rero.commands.training_flags import add_training_flags, read_checked_plan, train_config
from rero.data.prepare import read_meta
from rero.data.store import load_split
from rero.runtime.device import resolve_device
from rero.runtime.io import provenance, write_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audit`` subcommand."""
    parser = subparsers.add_parser(
        "audit",
        help="audit the DP-SGD training: an empirical lower bound on ε",
        description="Train as `train` does with canaries inserted (gradient canaries for a "
        "white-box auditor who sees every noisy step, mislabelled validation images for a "
        "black-box one who sees the final model), and bound ε from below at the plan's δ "
        "(one-run audit of Steinke, Nasr and Jagielski 2023), and give the f-DP lower bound of "
        "the same guesses within DP-SGD's family (Mahloujifar, Melis and Chaudhuri 2025) and, "
        "white-box, the bounds of its steps tested one by one and composed (Nasr et al. 2023). "
        "Writes one JSON file.",
    )
    parser.add_argument("--data-dir", required=True, help="prepared dataset folder (meta.json)")
    parser.add_argument("--plan", required=True, help="privacy plan JSON of a finite ε")
    parser.add_argument("--out", required=True, help="the audit's JSON file")
    parser.add_argument(
        "--gradient-canaries",
        type=int,
        required=True,
        help="gradient canaries per run (white-box audit; 0: none)",
    )
    parser.add_argument(
        "--input-canaries",
        type=int,
        required=True,
        help="mislabelled validation images per run (black-box audit; 0: none)",
    )
    parser.add_argument("--runs", type=int, required=True, help="independent audited runs")
    parser.add_argument("--audit-seed", type=int, required=True, help="seed of the audit")
    parser.add_argument(
        "--confidence", type=float, required=True, help="confidence of the lower bound"
    )
    parser.add_argument(
        "--guesses",
        type=int,
        nargs="+",
        required=True,
        help="numbers of top-scored canaries guessed 'in' (each tried, Bonferroni)",
    )
    add_training_flags(parser)
    parser.set_defaults(handler=run_audit_command)


def run_audit_command(args: argparse.Namespace) -> None:
    """Check the inputs, audit, write the JSON, print one line per auditor."""
    meta = read_meta(args.data_dir)
    plan = read_checked_plan(args.plan, int(meta["num_train"]))
    config = train_config(args)
    settings = AuditSettings(
        gradient_canaries=args.gradient_canaries,
        input_canaries=args.input_canaries,
        runs=args.runs,
        seed=args.audit_seed,
        confidence=args.confidence,
        guesses=tuple(sorted(set(args.guesses))),
    )
    device = resolve_device(config.device)
    audit = run_audit(
        plan,
        config,
        meta,
        load_split(args.data_dir, "train"),
        load_split(args.data_dir, "val"),
        settings,
        device,
        deterministic=device.type == "cpu",
    )
    record = audit_record(plan, settings, audit)
    record["provenance"] = provenance()
    write_json(args.out, record)
    for access in ("white_box", "black_box"):
        if access in record:
            result = record[access]
            print(
                f"audit {meta['dataset']} eps={plan.target_epsilon} {result['access']}: "
                f"epsilon >= {result['epsilon_lower']:.3f} ({settings.confidence:.0%}, "
                f"{result['correct']}/{result['guesses']} right), in the DP-SGD family (f-DP) "
                f"epsilon >= {result['epsilon_fdp_lower']:.3f}{_composed(result)}, against claimed "
                f"{plan.epsilon:.3f} at delta {plan.delta:g} -> {args.out}"
            )


def _composed(result: dict) -> str:
    """The per-step audit's bounds for the line printed (white-box only)."""
    if "epsilon_composed" not in result:
        return ""
    return (
        f"; per step, composed: epsilon >= {result['epsilon_composed']:.3f}, in the DP-SGD "
        f"family >= {result['epsilon_composed_fdp']:.3f}"
    )
