"""The JSON record of an audit: the claim it tests, each auditor's bound, method and assumptions."""

from __future__ import annotations

from typing import Any

from rero.audit.canaries import GRADIENT_CANARY_NORM
from rero.audit.runner import AuditSettings
from rero.privacy.plan import PrivacyPlan

#: what each auditor sees and which canaries it tests
ACCESS = {
    "white_box": (
        "every logical step's noisy gradient (after Opacus' clipping, noise and scaling), read "
        f"in each gradient canary's coordinate; gradient canaries: Dirac per-sample gradients of "
        f"norm {GRADIENT_CANARY_NORM:g}·C in the parameter coordinates the data use least"
    ),
    "black_box": (
        "the final model's loss on each input canary; input canaries: held-out (validation) "
        "images with a uniformly drawn wrong label"
    ),
}
METHOD = (
    "one-run audit (Steinke, Nasr and Jagielski 2023): each canary included with probability "
    "1/2, the auditor guesses 'in' for the top-scored canaries (several guess counts, "
    "Bonferroni). epsilon_lower: the largest ε whose (ε, δ)-DP claim the count of right guesses "
    "rejects (their Theorem 3.1 with its δ term). epsilon_fdp_lower: the same counts judged "
    "against the trade-off curves of the claimed mechanism's family (Mahloujifar, Melis and "
    "Chaudhuri 2025, 'Auditing f-differential privacy in one run'): Poisson-subsampled Gaussian "
    "at the plan's q and T, noise multiplier s, each curve from below by the pessimistic PLD's "
    "privacy profile; the lower end of the certified ε bracket at δ (the accountant's) of the "
    "least private curve the counts reject (fdp_noise_multiplier). White-box only, per "
    "step (Nasr et al. 2023, 'Tight auditing of differentially private machine learning'): "
    "every (canary, step) pair is one test of a step at fixed thresholds, with one-sided "
    "Clopper–Pearson limits on its FPR and TPR (step_tests); epsilon_composed: the ε at δ of "
    "T steps of the binary mechanism with those rates (exact); epsilon_composed_fdp: the ε at δ "
    "of T steps of the subsampled Gaussian at the plan's q with the largest noise multiplier "
    "the limits reject (composed_noise_multiplier; the accountant's lower end)"
)
ASSUMPTIONS = (
    "a lower bound holds with the stated confidence over the audit's own randomness: a "
    "training that is (ε, δ)-DP per record yields a bound above ε with probability at most "
    "1 - confidence",
    "it audits the code path of `train` with the plan's σ, q, T and the configured C, engine "
    "and physical batch size; not other settings, and not the accountant's arithmetic",
    "gradient canaries enter as per-sample gradients after the backward pass: they test "
    "sampling, clipping, summation over virtual steps, noise and scaling, not the per-sample "
    "gradient kernel (the input canaries do)",
    "the white-box score is the likelihood ratio of the Poisson-subsampled Gaussian mechanism; "
    "the data's own gradients in a canary's coordinate count as noise to it",
    "epsilon_fdp_lower rejects curves of the claimed mechanism's family only: it says the "
    "training is less private than a DP-SGD run with noise multiplier fdp_noise_multiplier, so "
    "a DP-SGD run of that family has an ε above epsilon_fdp_lower; not that it violates every "
    "(ε, δ) claim at that ε (epsilon_lower says that)",
    "epsilon_composed and epsilon_composed_fdp assume the T steps are independent uses of one "
    "per-step mechanism, the same for every gradient canary (the data's gradients differ a "
    "little between canary coordinates); epsilon_composed_fdp also assumes that mechanism is "
    "a Poisson-subsampled Gaussian at the plan's q",
    "a bound far below the claimed ε does not show the claim is loose: a one-run audit of a "
    "subsampled mechanism at δ > 0 stays below it even when the claim is tight",
)


def audit_record(
    plan: PrivacyPlan, settings: AuditSettings, audit: dict[str, Any]
) -> dict[str, Any]:
    """The audit's JSON: the claim, each access's bound (with whether it exceeds the claim),
    the method and its assumptions."""
    accesses = {
        access: {
            "access": access.replace("_", "-"),
            "sees": ACCESS[access],
            **result,
            "exceeds_claim": result["epsilon_lower"] > plan.epsilon,
            "fdp_exceeds_claim": result["epsilon_fdp_lower"] > plan.epsilon,
            **{
                f"{kind.removeprefix('epsilon_')}_exceeds_claim": result[kind] > plan.epsilon
                for kind in ("epsilon_composed", "epsilon_composed_fdp")
                if kind in result
            },
        }
        for access, result in audit["results"].items()
    }
    return {
        "dataset": plan.dataset,
        "target_epsilon": plan.target_epsilon,
        "claimed": {
            "epsilon": plan.epsilon,
            "delta": plan.delta,
            "accountant": plan.accountant,
            "sigma": plan.sigma,
            "sample_rate": plan.sample_rate,
            "steps": plan.steps,
        },
        "confidence": settings.confidence,
        "runs": settings.runs,
        "seed": settings.seed,
        "method": METHOD,
        "assumptions": list(ASSUMPTIONS),
        **accesses,
        "seconds": audit["seconds"],
    }
