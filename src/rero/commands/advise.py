"""``python -m rero advise``: the budget for a tolerated risk, or every risk of a budget; and
``advice``: the advice table of a dataset in the workflow (:mod:`rero.reporting.advice_table`).

Forward: the least σ (and the largest ε at δ) whose bounds keep reconstruction success at most
``--max-risk`` under the ``--threat`` model (identification: the certified bound at each
``--kappa``; from-scratch, from-scratch-run: the from-scratch law of Riess et al. 2024 for one
release or the whole run, an upper bound on analytic inversions without a data prior only, for an
image of ``--dimension`` values and norm ``--data-norm``, or the median norm of ``--data-dir``'s
training split, by ``--psnr`` or ``--mse``) and the membership TPR at most ``--max-tpr`` at each
``--fpr``. Inverse (``--sigma`` or ``--eps``): every risk figure of that budget. JSON on stdout
(keys ``sigma``, ``epsilon``, ``bound``, ``risks``); ``--table`` prints it for reading.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from rero.commands.schedule_flags import schedule_from_args
from rero.data.store import load_split
from rero.privacy.accounting.registry import ACCOUNTANTS, epsilon_for
from rero.privacy.advice import Constraint, Risk, advise
from rero.privacy.calibration import calibrate
from rero.privacy.from_scratch_advice import THREATS, ScratchConstraint
from rero.privacy.rero.from_scratch import THREAT_MODEL
from rero.privacy.rero.from_scratch_images import summarise_norms
from rero.privacy.rero.from_scratch_table import ScratchCriterion, split_norms
from rero.privacy.rero.membership import DEFAULT_FPRS, membership_bounds
from rero.privacy.rero.methods import rigorous_bound
from rero.reporting.advice_table import advice_table
from rero.runtime.io import atomic_path, dumps_json
from rero.study.tokens import parse_eps_token, parse_kappa


def _kappas(specs: list[str], dataset_size: int | None) -> list[tuple[str, float]]:
    """(label, κ) of each ``--kappa``; "1/N" needs the dataset's N (``--data-dir``)."""
    kappas = []
    for spec in specs:
        label, kappa = parse_kappa(spec)
        if kappa is None:
            if dataset_size is None:
                raise ValueError("--kappa 1/N needs --data-dir (its meta.json gives N)")
            kappa = 1 / dataset_size
        kappas.append((label, kappa))
    return kappas


def scratch_image(args: argparse.Namespace) -> tuple[ScratchCriterion, int, float] | None:
    """(criterion, N, ||X||) of the from-scratch flags: ``--dimension`` and ``--data-norm``, or
    the median norm of ``--data-dir``'s training split; None when no criterion is given."""
    if args.psnr is None and args.mse is None:
        if args.threat != "identification":
            raise ValueError(f"--threat {args.threat} needs --psnr or --mse (the success)")
        return None
    metric = "psnr" if args.mse is None else "mse"
    criterion = ScratchCriterion(metric, args.psnr if args.mse is None else args.mse)
    if args.data_norm is not None and args.dimension is not None:
        return criterion, args.dimension, args.data_norm
    if args.data_norm is None and args.dimension is None and args.data_dir is not None:
        norms, dimension = split_norms(load_split(args.data_dir, "train")[0])
        return criterion, dimension, summarise_norms(norms).median
    raise ValueError(
        "the from-scratch bound needs --dimension and --data-norm, or --data-dir (the median "
        "norm of its training split)"
    )


def scratch_risks(
    sigma: float, sample_rate: float, steps: int, image: tuple[ScratchCriterion, int, float]
) -> dict[str, Any]:
    """The from-scratch success of σ for one image, one release and the whole run."""
    criterion, dimension, norm = image
    one, run = (
        ScratchConstraint(criterion, dimension, norm, 1.0, whole).at(sigma, sample_rate, steps)
        for whole in (False, True)
    )
    return {
        "criterion": criterion.text,
        "dimension": dimension,
        "data_norm": norm,
        "single_release": one,
        "whole_run": run,
        "threat_model": THREAT_MODEL,
    }


def risks(
    sigma: float,
    sample_rate: float,
    steps: int,
    kappas: list[tuple[str, float]],
    fprs: list[float],
    image: tuple[ScratchCriterion, int, float] | None = None,
) -> dict[str, Any]:
    """Every risk figure of σ: the ReRo bound at each κ and the membership bounds (certified),
    and the from-scratch success of ``image`` when given."""
    membership = membership_bounds(
        sigma=sigma, sample_rate=sample_rate, steps=steps, fprs=sorted({*DEFAULT_FPRS, *fprs})
    )
    scratch = (
        {} if image is None else {"from_scratch": scratch_risks(sigma, sample_rate, steps, image)}
    )
    return scratch | {
        "reconstruction": {
            label: rigorous_bound(
                sigma=sigma, sample_rate=sample_rate, steps=steps, kappa=kappa
            ).value
            for label, kappa in kappas
        },
        "membership_tpr_at_fpr": {f"{fpr:g}": tpr for fpr, tpr in membership.tpr_at_fpr.items()},
        "membership_auc": membership.auc,
        "membership_balanced_accuracy": membership.balanced_accuracy,
        "note": f"certified upper bounds (rigorous ReRo; membership: {membership.note})",
    }


def run_advise(args: argparse.Namespace) -> None:
    """Answer the query and print it as JSON or a table."""
    schedule = schedule_from_args(args)
    q, steps = schedule["sample_rate"], schedule["steps"]
    kappas = _kappas(args.kappa or [], schedule.get("dataset_size"))
    fprs = list(args.fpr or [])
    image = scratch_image(args)
    given = [value is not None for value in (args.sigma, args.eps)]
    if any(given) and (args.max_risk or args.max_tpr):
        raise ValueError("give either a budget (--sigma or --eps) or tolerated risks, not both")
    if all(given):
        raise ValueError("give --sigma or --eps, not both")
    if args.sigma is not None or args.eps is not None:
        if args.sigma is not None:
            sigma = float(args.sigma)
        else:
            target = parse_eps_token(args.eps)
            sigma = calibrate(
                target, q, steps, args.delta, accountant=args.accountant, estimate_prv=False
            ).sigma
        budget = epsilon_for(sigma, q, steps, args.delta, args.accountant)
        answer: dict[str, Any] = {
            "sigma": sigma,
            "epsilon": budget.epsilon,
            "epsilon_lower": budget.lower,
            "accountant": budget.accountant,
        }
    else:
        constraints: list[Risk] = [
            Constraint("membership", fpr, tpr) for fpr in fprs for tpr in args.max_tpr or []
        ]
        if image is not None and args.threat != "identification":
            whole_run = args.threat == "from-scratch-run"
            constraints += [
                ScratchConstraint(*image, risk, whole_run) for risk in args.max_risk or []
            ]
        else:
            constraints += [
                Constraint("reconstruction", kappa, risk)
                for _, kappa in kappas
                for risk in args.max_risk or []
            ]
            if args.max_risk and not kappas:
                raise ValueError("--max-risk needs --kappa (the prior it is tolerated at)")
        if args.max_tpr and not fprs:
            raise ValueError("--max-tpr needs --fpr (the false-positive rate it is tolerated at)")
        answer = advise(constraints, q, steps, args.delta, args.accountant)
    answer["setting"] = {"sample_rate": q, "steps": steps, "delta": args.delta}
    answer["threat"] = args.threat
    answer["risks"] = risks(answer["sigma"], q, steps, kappas, fprs, image)
    print(_table(answer) if args.table else dumps_json(answer))


def _table(answer: dict[str, Any]) -> str:
    """The answer as lines for a reader."""
    setting = answer["setting"]
    epsilon = answer["epsilon"]
    lines = [
        f"q = {setting['sample_rate']:g}, T = {setting['steps']}, delta = {setting['delta']:g}",
        f"sigma = {answer['sigma']:.6g} -> epsilon = "
        + ("inf (no noise)" if math.isinf(epsilon) else f"{epsilon:.6g}")
        + f" ({answer['accountant']})",
    ]
    if "binding" in answer:
        lines.append(f"binding: {answer['binding']} (bound {answer['bound']:.4g})")
    found = answer["risks"]
    for label, value in found["reconstruction"].items():
        lines.append(f"reconstruction success at kappa = {label}: <= {value:.4g}")
    for fpr, tpr in found["membership_tpr_at_fpr"].items():
        lines.append(f"membership TPR at FPR = {fpr}: <= {tpr:.4g}")
    if "from_scratch" in found:
        scratch = found["from_scratch"]
        lines.append(
            f"from-scratch success ({scratch['criterion']}, ||X|| = {scratch['data_norm']:.4g}): "
            f"one release {scratch['single_release']:.4g}, whole run {scratch['whole_run']:.4g}"
            f" ({THREAT_MODEL})"
        )
    lines.append(f"membership AUC <= {found['membership_auc']:.4g}")
    lines.append(f"membership balanced accuracy <= {found['membership_balanced_accuracy']:.4g}")
    return "\n".join(lines)


def run_advice(args: argparse.Namespace) -> None:
    """Write the advice table of one dataset as CSV (atomically)."""
    table = advice_table(
        args.plans,
        args.metrics,
        [parse_kappa(spec) for spec in args.kappa],
        args.max_risk,
        args.fpr or [],
        args.accountant,
        args.from_scratch,
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


def _unit(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``advise`` subcommand."""
    parser = subparsers.add_parser(
        "advise", help="the budget for a tolerated risk, or every risk of a budget",
        description=__doc__,
    )  # fmt: skip
    parser.add_argument("--delta", required=True, type=float, help="δ (must be < 1/N)")
    parser.add_argument("--sample-rate", type=float, help="Poisson sampling rate q")
    parser.add_argument("--steps", type=int, help="number of DP-SGD steps T")
    parser.add_argument("--data-dir", help="prepared dataset folder (meta.json gives N)")
    parser.add_argument("--batch-size", type=int, help="expected batch size B (with --data-dir)")
    parser.add_argument("--epochs", type=int, help="training epochs (with --data-dir)")
    parser.add_argument("--accountant", choices=ACCOUNTANTS, default="auto")
    parser.add_argument(
        "--kappa", action="append", help="prior: '1/N', '1/<integer>' or a number; repeatable"
    )
    parser.add_argument(
        "--max-risk", type=_unit, action="append", help="tolerated reconstruction success"
    )
    parser.add_argument("--fpr", type=_unit, action="append", help="membership FPR; repeatable")
    parser.add_argument("--max-tpr", type=_unit, action="append", help="tolerated TPR at --fpr")
    parser.add_argument("--sigma", type=float, help="inverse: every risk of this noise multiplier")
    parser.add_argument("--eps", help="inverse: every risk of the σ calibrated for this ε")
    parser.add_argument(
        "--threat",
        choices=THREATS,
        default="identification",
        help="the threat model of --max-risk: the certified bound at --kappa (identification), "
        "or the from-scratch law of one release or the whole run (an upper bound on analytic "
        "inversions without a data prior only)",
    )
    parser.add_argument("--dimension", type=int, help="from-scratch: N, values per image")
    parser.add_argument(
        "--data-norm",
        type=float,
        help="from-scratch: the image's ||X||_2 (default: the median "
        "of --data-dir's training split)",
    )
    success = parser.add_mutually_exclusive_group()
    success.add_argument("--psnr", type=float, help="from-scratch success: PSNR >= this, dB")
    success.add_argument("--mse", type=float, help="from-scratch success: MSE <= this")
    parser.add_argument("--table", action="store_true", help="print a table, not JSON")
    parser.set_defaults(handler=run_advise)

    table = subparsers.add_parser(
        "advice", help="the advice table of one dataset: each tolerated risk's budget and cost"
    )
    table.add_argument("--plans", nargs="+", required=True, help="the dataset's plan .json files")
    table.add_argument("--metrics", nargs="+", required=True, help="its training metrics.json")
    table.add_argument("--kappa", action="append", required=True, help="'1/N', '1/<int>', a number")
    table.add_argument("--max-risk", type=_unit, action="append", required=True)
    table.add_argument("--fpr", type=_unit, action="append", help="membership FPRs")
    table.add_argument("--accountant", choices=ACCOUNTANTS, default="auto")
    table.add_argument(
        "--from-scratch",
        help="the dataset's from-scratch bound CSV: rows per criterion, median norm",
    )
    table.add_argument("--out", required=True, help="CSV to write")
    table.set_defaults(handler=run_advice)
