"""What each column of the summary table (:func:`rero.reporting.summary.summarise`) means.

The column names are made from the same registries the summary is built from (the tasks' test
metrics, the attack fields, the κ labels and FPRs of the bounds tables), so a column the summary
gains without a description here is refused by :func:`describe_column`, not silently left out of
the guide to the results.
"""

from __future__ import annotations

import re

from rero.data.tasks import METRIC_LABELS
from rero.reporting.summary import METRICS

#: the columns of the privacy plan and of the training runs, in the order the summary has them
FIXED = {
    "dataset": "name of the dataset (a key of `datasets` in the config)",
    "target_epsilon": "target privacy budget ε of the run (inf: the non-private baseline)",
    "epsilon": "ε at δ that the privacy plan certifies for σ: an upper bound from its accountant",
    "accountant": (
        "accountant that produced `epsilon` (inclusions, pld, prv, rdp; none for the baseline)"
    ),
    "prv_epsilon_estimate": (
        "the PRV accountant's own estimate of ε at δ for σ (Gopi, Lee & Wutschitz 2021), "
        "recorded beside the certified bracket: an estimate, not a bound, never the reported "
        "`epsilon`; empty where PRV refuses (the plan's prv_note says why)"
    ),
    "sigma": "noise multiplier σ of DP-SGD (noise std σ·C on the sum of clipped gradients)",
    "sample_rate": "Poisson sampling rate q = B/N (expected batch size over training-set size)",
    "steps": "number of DP-SGD steps T",
    "delta": "δ of the (ε, δ) guarantee",
    "task": "task of the dataset (classification or segmentation)",
    "main_metric": "the test metric that stands for utility (MCC or mean soft Dice)",
    "main_metric_mean": "test value of `main_metric`: mean over the seeds",
    "main_metric_sd": "test value of `main_metric`: standard deviation over the seeds",
    "n_seeds": "number of training runs (seeds) behind the means and standard deviations",
    "main_metric_test_ci_width": (
        "width of a run's 95 % percentile-bootstrap interval of `main_metric` over its test "
        "examples (1000 resamples; the noise of the finite test set, not of the seed), mean over "
        "the seeds; empty where the runs did not record it"
    ),
    "epsilon_lower": "ε at δ of σ from below: a lower bound from the plan's accountant (the true ε "
    "lies in [epsilon_lower, epsilon]; empty where the accountant gives none, as RDP)",
    "rdp_epsilon_upper_bound": (
        "upper bound on the training run's ε at δ from Opacus' RDP accountant (Mironov, Talwar "
        "and Zhang 2019), mean over seeds: looser than the plan's certified bracket "
        "[epsilon_lower, epsilon], so above it; not the ε the run spent, and not the budget (inf "
        "for the non-private run)"
    ),
    "audit_epsilon_lower_white_box": (
        "empirical 95 % lower bound on the ε of the training code, from a one-run white-box audit "
        "(every noisy step seen, gradient canaries); empty where the budget was not audited"
    ),
    "audit_epsilon_lower_black_box": (
        "empirical 95 % lower bound on the ε of the training code, from a one-run black-box audit "
        "(final model's loss on mislabelled canary images); empty where not audited"
    ),
    "audit_epsilon_fdp_lower_white_box": (
        "f-DP lower bound on ε from the white-box audit (95 %): the lower end of the certified "
        "ε bracket at δ of the least private DP-SGD trade-off curve (the plan's q and T, any "
        "noise multiplier) its guesses reject (Mahloujifar et al. 2025); a lower bound within "
        "that family, not on every (ε, δ) claim; empty where not audited"
    ),
    "audit_epsilon_fdp_lower_black_box": (
        "f-DP lower bound on ε from the black-box audit (95 %), as "
        "audit_epsilon_fdp_lower_white_box; empty where not audited"
    ),
    "audit_epsilon_composed_white_box": (
        "empirical 95 % lower bound on the ε of the training code from the white-box audit's "
        "steps one by one, composed (Nasr et al. 2023): assumes the steps are independent uses "
        "of one per-step mechanism, nothing of that mechanism; empty where not audited"
    ),
    "audit_epsilon_composed_fdp_white_box": (
        "as audit_epsilon_composed_white_box, also assuming each step is a Poisson-subsampled "
        "Gaussian at the plan's q (any noise multiplier): the lower end of the certified ε "
        "bracket at δ of the noise multiplier its limits reject, a lower bound within that "
        "family; empty where not audited"
    ),
    "mia_auc": (
        "certified upper bound on the AUC of any membership-inference attack on the run "
        "(from the f-DP trade-off curve of the Poisson-subsampled Gaussian mechanism)"
    ),
    "mia_balanced_accuracy": (
        "certified upper bound on the balanced accuracy of any membership-inference attack"
    ),
}

ATTACK_FIELDS = {
    "success_rate": "share of trials that succeeded",
    "ci_low": "lower end of the 95 % Clopper–Pearson interval of the success rate",
    "ci_high": "upper end of the 95 % Clopper–Pearson interval of the success rate",
}
ATTACKS = {
    "imprint": (
        "imprint attack (malicious linear layer, one DP-SGD update; success: a reconstruction "
        "with SSIM ≥ η, attack.imprint.ssim_threshold, after the paper's per-image min-max "
        "normalisation)"
    ),
    "prior_aware": (
        "prior-aware informed adversary (picks the training image among M candidates from the "
        "noisy updates)"
    ),
}


#: a criterion label of rero.attacks.success (the paper's SSIM is the plain imprint columns)
CRITERION = r"raw_(?:mse_le|psnr_ge|ncc_ge|ssim_ge)_[0-9.e+-]+"
CRITERION_TEXT = {
    "raw_mse_le": "MSE ≤ {threshold}",
    "raw_psnr_ge": "PSNR ≥ {threshold} dB (data range 1)",
    "raw_ncc_ge": "NCC ≥ {threshold} (uncentred normalised cross-correlation)",
    "raw_ssim_ge": "SSIM ≥ {threshold}",
}


#: a criterion label of the from-scratch bound (rero.privacy.rero.from_scratch_table)
SCRATCH_CRITERION = r"(?:mse_le|psnr_ge)_[0-9.e+-]+"
SCRATCH_CURVES = {
    "single": "one DP-SGD release that includes the image",
    "run": "the whole run, every release that includes the image averaged (none: a failure)",
}
SCRATCH_NORMS = {
    "median": "at the median norm ||X|| of the training images",
    "mean": "averaged over the training images (the chance for one drawn at random)",
}


def _criterion_text(label: str | None) -> str:
    """``raw_psnr_ge_30`` (or ``psnr_ge_30``) as "PSNR ≥ 30 dB (data range 1)"."""
    if label is None:
        return ""
    kind, _, threshold = label.rpartition("_")
    return CRITERION_TEXT[kind if kind.startswith("raw_") else f"raw_{kind}"].format(
        threshold=threshold
    )


def _statistic(stat: str) -> str:
    return "mean over the seeds" if stat == "mean" else "standard deviation over the seeds"


#: (pattern, description) of the columns whose names carry a value: metrics, κ, FPR, levels
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(rf"(?P<metric>{'|'.join(map(re.escape, METRICS))})_(?P<stat>mean|sd)"),
        "test {label}: {statistic} (empty for the other task's metrics)",
    ),
    (
        re.compile(r"train_rero_bound_kappa_(?P<kappa>.+)"),
        "certified upper bound on reconstruction success against the training run's DP-SGD at "
        "prior κ = {kappa} (rigorous: numerical f-DP, pessimistic discretisation; N = "
        "training-set size)",
    ),
    (
        re.compile(
            rf"from_scratch_(?P<criterion>{SCRATCH_CRITERION})_(?P<curve>single|run)"
            r"_(?P<norm>median|mean)"
        ),
        "from-scratch bound (Riess et al. 2024): the probability that an analytic inversion "
        "without a data prior reconstructs a training image with {criterion} from {curve}, "
        "{norm}; the law of the unbiased inversion with clipping active, an upper bound on that "
        "class of attacks (the imprint attack is one), not on every adversary; 1 for the "
        "non-private run (no noise)",
    ),
    (
        re.compile(r"mia_tpr_at_fpr_(?P<fpr>[0-9.e+-]+)"),
        "certified upper bound on the true-positive rate of any membership-inference attack at "
        "false-positive rate {fpr}",
    ),
    (
        re.compile(
            rf"imprint_transition_(?P<criterion>{CRITERION})_(?P<level>[<>=]+[0-9.e+-]+)"
            r"_eps_(?P<end>low|high)"
        ),
        "the imprint attack's success rate by {criterion} first becomes {level} at a budget in "
        "(eps_low, eps_high]: the {end} end of that interval (bisected between the budgets run)",
    ),
    (
        re.compile(r"imprint_transition_(?P<level>.+)_eps_(?P<end>low|high)"),
        "the imprint attack's success rate first becomes {level} at a budget in "
        "(eps_low, eps_high]: the {end} end of that interval (bisected between the budgets run)",
    ),
    (
        re.compile(rf"imprint_(?P<criterion>{CRITERION})_(?P<field>{'|'.join(ATTACK_FIELDS)})"),
        "imprint attack, success by {criterion} (of its best-SSIM reconstruction as read out, "
        "not clipped or normalised, against the image in [0, 1]; the units of the from-scratch "
        "bound): {field}; empty where the dataset's attack does not report it",
    ),
    (
        re.compile(rf"(?P<attack>{'|'.join(ATTACKS)})_(?P<field>{'|'.join(ATTACK_FIELDS)})"),
        "{attack}: {field}",
    ),
    (
        re.compile(r"prior_aware_run_kappa"),
        "prior-aware attack: the prior κ = 1/M (M candidates) of its own DP-SGD run",
    ),
    (
        re.compile(r"prior_aware_run_bound"),
        "certified upper bound on the prior-aware attack's success at its κ, for its own DP-SGD "
        "run (its q and T): compare its success with this, not with the training run's bound",
    ),
)


def describe_column(name: str) -> str:
    """What the summary column ``name`` holds; ValueError for a column no entry describes."""
    if name in FIXED:
        return FIXED[name]
    for pattern, template in PATTERNS:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        found = match.groupdict()
        return template.format(
            label=METRIC_LABELS.get(found.get("metric", ""), ""),
            statistic=_statistic(found.get("stat", "")),
            kappa=found.get("kappa"),
            fpr=found.get("fpr"),
            level=str(found.get("level")).replace(">=", "≥ ").replace(">", "> "),
            end=found.get("end"),
            attack=ATTACKS.get(found.get("attack", ""), ""),
            field=ATTACK_FIELDS.get(found.get("field", ""), ""),
            criterion=_criterion_text(found.get("criterion")),
            curve=SCRATCH_CURVES.get(found.get("curve", ""), ""),
            norm=SCRATCH_NORMS.get(found.get("norm", ""), ""),
        )
    raise ValueError(
        f"summary column {name!r} has no description; describe it in rero.reporting.columns"
    )
