"""``python -m rero train``: train one model under a privacy plan (DP-SGD or non-private)."""

from __future__ import annotations

import argparse

from rero.commands.training_flags import add_training_flags, read_checked_plan, train_config
from rero.data.prepare import read_meta
from rero.data.tasks import METRIC_LABELS, TASK_METRICS
from rero.training.job import train_run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train one model under a privacy plan",
        description="Train with DP-SGD (Opacus, Poisson sampling) or without privacy, as the "
        "plan says; write model.pt and metrics.json, and checkpoint.pt while unfinished (resumed "
        "if present). A run that goes non-finite (NaN) stops with the settings to change.",
    )
    parser.add_argument("--data-dir", required=True, help="prepared dataset folder (meta.json)")
    parser.add_argument(
        "--plan", required=True, help="privacy plan JSON (python -m rero calibrate)"
    )
    parser.add_argument("--seed", required=True, type=int, help="training seed")
    parser.add_argument("--out-dir", required=True, help="folder for model.pt, metrics.json")
    add_training_flags(parser)
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> None:
    """Check the inputs, train, print a one-line summary."""
    meta = read_meta(args.data_dir)
    plan = read_checked_plan(args.plan, int(meta["num_train"]))
    config = train_config(args)
    metrics = train_run(args.data_dir, plan, config, args.seed, args.out_dir)
    rdp = metrics["rdp_epsilon_upper_bound"]["epsilon"]
    scores = ", ".join(
        f"{METRIC_LABELS[name]} {metrics['test'][name]:.4f}"
        for name in TASK_METRICS[metrics["task"]]
    )
    print(
        f"trained {metrics['dataset']} eps={plan.target_epsilon} seed={args.seed}: test "
        f"{scores}; certified epsilon {plan.epsilon:.4g} ({plan.accountant}), Opacus' RDP upper "
        f"bound {rdp:.4g} -> {args.out_dir}"
    )
