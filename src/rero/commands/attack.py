"""``python -m rero attack``: the imprint and prior-aware reconstruction attacks at one plan;
``transition``: the budget where the imprint attack starts to work (``rero.attacks.transition``).

Every attack setting is a required flag: the workflow passes the config's values, whose defaults
live in ``workflow/schemas/config.schema.yaml`` only; the σ an attack calibrates itself follows
the study's ``--accountant`` and ``--rel-tol`` (privacy.accountant, privacy.eps_tolerance; needed
by a private plan). What the job writes: ``rero.attacks.job``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rero.attacks.job import (
    ATTACKS,
    NOISE_CALIBRATIONS,
    REFERENCE_SPLITS,
    CalibrationPolicy,
    ImprintSettings,
    PriorAwareSettings,
    run_attacks,
)
from rero.attacks.success import SuccessCriterion
from rero.attacks.transition import transition_job
from rero.privacy.accounting.registry import ACCOUNTANTS
from rero.privacy.plan import read_plan
from rero.runtime.device import DEVICES
from rero.runtime.io import write_json
from rero.study.criteria import CRITERION_METRICS


def run_attack(args: argparse.Namespace) -> None:
    """Read the plan, run the attacks, print one line per attack."""
    records = run_attacks(
        args.data_dir,
        read_plan(args.plan),
        args.out_dir,
        attacks=args.attacks,
        imprint=_imprint_settings(args),
        prior_aware=PriorAwareSettings(
            prior_size=args.prior_size,
            known_size=args.known_size,
            trials=args.trials,
            steps=args.attack_steps,
            sample_rate=args.attack_sample_rate,
            clip_norm=args.attack_clip_norm,
            learning_rate=args.attack_learning_rate,
        ),
        seed=args.seed,
        policy=_policy(args),
        threads=args.threads,
        device=args.device,
    )
    for attack, record in records.items():
        print(
            f"{attack}: success {record['success_rate']:.3f} "
            f"[{record['ci_low']:.3f}, {record['ci_high']:.3f}] -> {args.out_dir}"
        )


def _imprint_settings(args: argparse.Namespace) -> ImprintSettings:
    return ImprintSettings(
        clip_norm=args.clip_norm,
        batch_size=args.batch_size,
        num_batches=args.num_batches,
        num_bins=args.num_bins,
        ssim_threshold=args.ssim_threshold,
        noise_calibration=args.noise_calibration,
        reference_split=args.reference_split,
        success=tuple(args.success),
    )


def _policy(args: argparse.Namespace) -> CalibrationPolicy | None:
    """The study's calibration policy from --accountant and --rel-tol (None when neither is
    given: the non-private plan calibrates nothing; a private plan then refuses to run)."""
    if args.accountant is None and args.rel_tol is None:
        return None
    if args.accountant is None or args.rel_tol is None:
        raise ValueError("--accountant and --rel-tol come together (the study's privacy policy)")
    return CalibrationPolicy(args.accountant, args.rel_tol)


def run_transition(args: argparse.Namespace) -> None:
    """Locate the transitions of one dataset and write them as JSON."""
    record = transition_job(
        args.data_dir,
        args.plans,
        args.imprint,
        _imprint_settings(args),
        args.level,
        bisections=args.bisections,
        seed=args.seed,
        policy=CalibrationPolicy(args.accountant, args.rel_tol),
        device=args.device,
        threads=args.threads,
        criterion=args.criterion,
    )
    write_json(args.out, record)
    for item in record["transitions"]:
        print(
            f"{item['criterion']}: epsilon in ({item['epsilon_low']:.4g}, "
            f"{item['epsilon_high']:.4g}] ({item['note']})"
        )


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


def _criterion(text: str) -> SuccessCriterion:
    try:
        return SuccessCriterion.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_policy_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    """How the job calibrates σ of its own: the study's accountant and ε tolerance."""
    policy = parser.add_argument_group("calibration (privacy.* in the config)")
    policy.add_argument(
        "--accountant",
        choices=ACCOUNTANTS,
        required=required,
        help="privacy.accountant, as the study's plans were calibrated",
    )
    policy.add_argument(
        "--rel-tol",
        type=_unit_interval,
        required=required,
        help="privacy.eps_tolerance: the achieved ε is in [target·(1 - tol), target]",
    )


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Data, seed, threads and device of an attack job."""
    parser.add_argument("--data-dir", type=Path, required=True, help="prepared dataset folder")
    parser.add_argument("--seed", type=int, required=True, help="seed of batches and noise")
    parser.add_argument("--threads", type=_positive_int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the attacks run (auto: CUDA if available; the config's training.device)",
    )


def _add_imprint_flags(parser: argparse.ArgumentParser) -> None:
    """The imprint attack's settings (attack.imprint.* in the config)."""
    imprint = parser.add_argument_group("imprint attack (attack.imprint.* in the config)")
    imprint.add_argument(
        "--clip-norm",
        type=_positive_float,
        help="the training's clipping norm C (privacy.clip_norm; required by a private plan, "
        "refused by the non-private one)",
    )
    imprint.add_argument("--batch-size", type=_positive_int, required=True)
    imprint.add_argument("--num-batches", type=_positive_int, required=True)
    imprint.add_argument("--num-bins", type=_positive_int, required=True)
    imprint.add_argument(
        "--ssim-threshold", type=_unit_interval, required=True, help="success: best SSIM >= this"
    )
    raw_metrics = ", ".join(metric for metric in CRITERION_METRICS if metric != "ssim")
    imprint.add_argument(
        "--success",
        type=_criterion,
        action="append",
        default=[],
        metavar="METRIC:THRESHOLD",
        help=f"a further success criterion, reported with its rate and CI ({raw_metrics}; "
        "raw_mse succeeds at or below the threshold, the others at or above; "
        "attack.imprint.success)",
    )
    imprint.add_argument("--noise-calibration", choices=NOISE_CALIBRATIONS, required=True)
    imprint.add_argument("--reference-split", choices=REFERENCE_SPLITS, required=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``attack`` and ``transition`` subcommands."""
    parser = subparsers.add_parser(
        "attack",
        help="imprint and prior-aware reconstruction attacks at one privacy plan",
        description=__doc__,
    )
    _add_run_flags(parser)
    parser.add_argument("--plan", type=Path, required=True, help="privacy plan JSON")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    _add_policy_flags(parser, required=False)
    _add_imprint_flags(parser)
    prior = parser.add_argument_group("prior-aware attack (attack.prior_aware.* in the config)")
    prior.add_argument("--prior-size", type=_positive_int, required=True, help="M (κ = 1/M)")
    prior.add_argument("--known-size", type=_positive_int, required=True, help="|D-|")
    prior.add_argument("--trials", type=_positive_int, required=True)
    prior.add_argument("--attack-steps", type=_positive_int, required=True, help="T")
    prior.add_argument("--attack-sample-rate", type=_unit_interval, required=True, help="q")
    prior.add_argument("--attack-clip-norm", type=_positive_float, required=True, help="C")
    prior.add_argument("--attack-learning-rate", type=_positive_float, required=True)
    parser.set_defaults(handler=run_attack)

    transition = subparsers.add_parser(
        "transition", help="the budget where the imprint attack's success crosses a level"
    )
    _add_run_flags(transition)
    transition.add_argument("--plans", nargs="+", required=True, help="the dataset's plans")
    transition.add_argument("--imprint", nargs="+", required=True, help="their imprint.json")
    transition.add_argument(
        "--level", type=_unit_interval, action="append", required=True, help="success level"
    )
    transition.add_argument("--bisections", type=int, default=4, help="halvings in log ε")
    transition.add_argument(
        "--criterion",
        type=_criterion,
        metavar="METRIC:THRESHOLD",
        help="the success whose transition to locate: one of the attack's criteria (default: "
        "ssim at --ssim-threshold, the paper's)",
    )
    _add_policy_flags(transition, required=True)
    transition.add_argument("--out", type=Path, required=True, help="transition JSON to write")
    _add_imprint_flags(transition)
    transition.set_defaults(handler=run_transition)
