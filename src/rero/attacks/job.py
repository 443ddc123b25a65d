"""One attack job of the workflow: the imprint and prior-aware attacks at one privacy plan.

Writes, into ``out_dir`` (``results/attack/{dataset}/eps_{eps}/``): ``imprint.json`` and
``recon.npz`` (imprint attack on DP-SGD updates of real training batches, at the plan's σ and
the training's clip norm C) and ``prior_aware.json`` (informed adversary of Hayes et al. 2023
on its own DP-SGD run calibrated to the plan's target ε, beside the rigorous ReRo bound for that
run's σ, q, T). Every
setting comes from the caller (the workflow's config); the defaults live in the config schema only.
The σ the attacks calibrate themselves (the one-step imprint noise, the prior-aware run) are
calibrated as the study's plans are: with its ``privacy.accountant`` and ``privacy.eps_tolerance``
(:class:`CalibrationPolicy`).
Both attacks run on the job's device (``auto``: CUDA where there is one, as training).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rero.attacks.fidelity import RAW_METRICS
from rero.attacks.imprint import run_imprint_attack, summarise_imprint
from rero.attacks.prior_aware import run_prior_aware_attack, summarise_prior_aware
from rero.attacks.success import SuccessCriterion
from rero.data.prepare import read_meta
from rero.data.store import load_split
from rero.privacy.accounting.registry import ACCOUNTANTS
from rero.privacy.calibration import calibrate
from rero.privacy.plan import PrivacyPlan
from rero.privacy.rero.methods import rero_bound
from rero.runtime.device import resolve_device
from rero.runtime.io import provenance, save_npz, write_json

ATTACKS = ("imprint", "prior_aware")
NOISE_CALIBRATIONS = ("full", "one_step")
REFERENCE_SPLITS = ("val", "test")


@dataclass(frozen=True)
class ImprintSettings:
    """The imprint attack: ``num_batches`` updates of ``batch_size`` images, ``num_bins`` rows.

    ``noise_calibration``: "full" attacks one update at the plan's σ (the paper's setting);
    "one_step" at the σ whose single step alone spends the target ε. ``reference_split`` is the
    split whose statistic quantiles place the bins (data the server plausibly holds).
    ``clip_norm`` is the training's C (the attacked update is clipped to it and noised with std
    σ·C); None for the non-private plan, whose update is neither clipped nor noised.
    ``success``: criteria reported beside the paper's SSIM >= ``ssim_threshold`` (on the raw
    metrics; each once).
    """

    clip_norm: float | None
    batch_size: int
    num_batches: int
    num_bins: int
    ssim_threshold: float
    noise_calibration: str
    reference_split: str
    success: tuple[SuccessCriterion, ...] = ()

    def __post_init__(self) -> None:
        for criterion in self.success:
            if criterion.metric == "ssim":
                raise ValueError(
                    f"success criterion {criterion.text}: the paper's SSIM criterion is set by "
                    "the SSIM threshold; expected a criterion on a raw metric"
                )
        if len({criterion.label for criterion in self.success}) < len(self.success):
            raise ValueError(
                f"success criteria {[c.text for c in self.success]}: expected each once"
            )
        if self.clip_norm is not None and not (
            math.isfinite(self.clip_norm) and self.clip_norm > 0
        ):
            raise ValueError(f"clip norm must be a positive number or None, got {self.clip_norm}")
        if self.noise_calibration not in NOISE_CALIBRATIONS:
            raise ValueError(
                f"noise calibration must be one of {NOISE_CALIBRATIONS}, "
                f"got {self.noise_calibration!r}"
            )
        if self.reference_split not in REFERENCE_SPLITS:
            raise ValueError(
                f"reference split must be one of {REFERENCE_SPLITS}, got {self.reference_split!r}"
            )

    def check_plan(self, private: bool) -> None:
        """ValueError unless a private plan has the training's clip norm, the non-private none."""
        if private != (self.clip_norm is not None):
            raise ValueError(
                f"imprint clip norm {self.clip_norm}: a private plan needs the training's C > 0, "
                "the non-private plan none"
            )


@dataclass(frozen=True)
class PriorAwareSettings:
    """The prior-aware attack: M candidates, |D-| known records, its own DP-SGD run (q, T, C)."""

    prior_size: int
    known_size: int
    trials: int
    steps: int
    sample_rate: float
    clip_norm: float
    learning_rate: float


@dataclass(frozen=True)
class CalibrationPolicy:
    """How an attack calibrates a σ of its own: the study's ``accountant`` (privacy.accountant)
    and relative tolerance ``rel_tol`` (privacy.eps_tolerance), as its privacy plans."""

    accountant: str
    rel_tol: float

    def __post_init__(self) -> None:
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(
                f"accountant {self.accountant!r}: expected one of {', '.join(ACCOUNTANTS)}"
            )
        if not 0 < self.rel_tol < 1:
            raise ValueError(f"rel_tol {self.rel_tol}: expected a number in (0, 1)")


def imprint_noise(plan: PrivacyPlan, calibration: str, policy: CalibrationPolicy | None) -> float:
    """σ of the attacked update: the plan's (whole training, the paper's default) or the σ
    calibrated by ``policy`` so that one step at the plan's q alone spends the target ε
    (``policy`` may be None for the non-private plan, which calibrates nothing)."""
    if calibration not in NOISE_CALIBRATIONS:
        raise ValueError(
            f"noise calibration must be one of {NOISE_CALIBRATIONS}, got {calibration!r}"
        )
    if not plan.private or calibration == "full":
        return plan.sigma
    return calibrate(
        plan.target_epsilon,
        sample_rate=plan.sample_rate,
        steps=1,
        delta=plan.delta,
        estimate_prv=False,
        **_policy_options(plan, policy),
    ).sigma


def prior_aware_plan(
    plan: PrivacyPlan, settings: PriorAwareSettings, policy: CalibrationPolicy | None
) -> PrivacyPlan:
    """The attack's own privacy plan: the σ at which its DP-SGD run (q, T of ``settings``)
    spends the plan's target ε at the plan's δ, calibrated by ``policy`` (the non-private plan
    for a non-private ``plan``, for which ``policy`` may be None)."""
    if not plan.private:
        return calibrate(
            math.inf, sample_rate=settings.sample_rate, steps=settings.steps, delta=plan.delta
        )
    return calibrate(
        plan.target_epsilon,
        sample_rate=settings.sample_rate,
        steps=settings.steps,
        delta=plan.delta,
        **_policy_options(plan, policy),
    )


def _policy_options(plan: PrivacyPlan, policy: CalibrationPolicy | None) -> dict[str, Any]:
    """``calibrate``'s accountant and tolerance for a private ``plan``; ValueError without one."""
    if policy is None:
        raise ValueError(
            f"a private plan (target ε {plan.target_epsilon!r}) needs the study's accountant and "
            "ε tolerance to calibrate the attack's own σ (--accountant, --rel-tol)"
        )
    return {"accountant": policy.accountant, "rel_tol": policy.rel_tol}


def imprint_job(
    train: tuple[np.ndarray, np.ndarray],
    reference: np.ndarray,
    num_classes: int,
    plan: PrivacyPlan,
    settings: ImprintSettings,
    seed: int,
    device: torch.device,
    policy: CalibrationPolicy | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the imprint attack on ``device`` (a one-step σ calibrated by ``policy``); return the
    JSON record and the arrays of ``recon.npz``."""
    settings.check_plan(plan.private)
    sigma = imprint_noise(plan, settings.noise_calibration, policy)
    result = run_imprint_attack(
        *train,
        reference,
        num_classes=num_classes,
        batch_size=settings.batch_size,
        num_batches=settings.num_batches,
        num_bins=settings.num_bins,
        sigma=sigma,
        clip_norm=settings.clip_norm,
        seed=seed,
        device=device,
    )
    record = summarise_imprint(result, settings.ssim_threshold, settings.success) | {
        "num_batches": settings.num_batches,
        "batch_size": settings.batch_size,
        "num_bins": settings.num_bins,
        "sigma": sigma,
        "clip_norm": settings.clip_norm,
        "noise_calibration": settings.noise_calibration,
        "seed": seed,
        "device": device.type,
        "threshold_source": f"quantiles of the statistic on the {settings.reference_split} split",
    }
    arrays = {
        "originals": result.originals,
        "reconstructions": result.reconstructions,
        "ssim": result.ssim,
        "mse": result.mse,
        **{metric: getattr(result, metric) for metric in RAW_METRICS},
        "batch_index": result.batch_index,
        "alone_in_bin": result.alone_in_bin,
    }
    return record, arrays


def prior_aware_job(
    train: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    plan: PrivacyPlan,
    settings: PriorAwareSettings,
    seed: int,
    device: torch.device,
    policy: CalibrationPolicy | None,
) -> dict[str, Any]:
    """Run the prior-aware attack on ``device`` (its σ calibrated by ``policy``); put the rigorous
    ReRo bound (κ = 1/M) beside it."""
    attack_plan = prior_aware_plan(plan, settings, policy)
    result = run_prior_aware_attack(
        *train,
        num_classes=num_classes,
        prior_size=settings.prior_size,
        known_size=settings.known_size,
        trials=settings.trials,
        steps=attack_plan.steps,
        sample_rate=attack_plan.sample_rate,
        sigma=attack_plan.sigma,
        clip_norm=settings.clip_norm,
        learning_rate=settings.learning_rate,
        seed=seed,
        device=device,
    )
    bound = rero_bound(
        "rigorous",
        sigma=attack_plan.sigma,
        sample_rate=attack_plan.sample_rate,
        steps=attack_plan.steps,
        kappa=result.kappa,
    )
    return summarise_prior_aware(result, float(bound.value)) | {
        "sigma": attack_plan.sigma,
        "sample_rate": attack_plan.sample_rate,
        "steps": attack_plan.steps,
        "bound_method": "rigorous",
        "bound_note": bound.note,
        "clip_norm": settings.clip_norm,
        "known_size": settings.known_size,
        "learning_rate": settings.learning_rate,
        "seed": seed,
        "device": device.type,
        "attack_plan": attack_plan.to_dict(),
        "noise": "sigma calibrated for the attack's own sample rate and steps at the plan's "
        "target epsilon and delta, std sigma x its clip norm (0 for the non-private plan)",
    }


def run_attacks(
    data_dir: str | Path,
    plan: PrivacyPlan,
    out_dir: str | Path,
    *,
    attacks: tuple[str, ...] | list[str],
    imprint: ImprintSettings,
    prior_aware: PriorAwareSettings,
    seed: int,
    policy: CalibrationPolicy | None,
    threads: int = 1,
    device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """Run ``attacks`` on the prepared dataset at ``plan``; write their outputs into ``out_dir``.

    ``policy`` calibrates the attacks' own σ (needed by a private plan); ``device`` (one of
    :data:`DEVICES`) is where the attacks run. Returns the JSON records by attack name.
    """
    unknown = sorted(set(attacks) - set(ATTACKS))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; expected some of {', '.join(ATTACKS)}")
    torch_device = resolve_device(device)
    if "imprint" in attacks:
        imprint.check_plan(plan.private)
    if plan.private:
        _policy_options(plan, policy)  # refused before any data is read
    torch.set_num_threads(threads)
    out = Path(out_dir)
    meta = read_meta(data_dir)
    train = load_split(data_dir, "train")
    plan.check_dataset(len(train[1]))
    num_classes = int(meta["num_classes"])
    common = {
        "dataset": meta["dataset"],
        "target_epsilon": plan.target_epsilon,
        "plan": plan.to_dict(),
    }
    records = {}
    for attack in attacks:
        start = time.perf_counter()
        if attack == "imprint":
            reference, _ = load_split(data_dir, imprint.reference_split)
            record, arrays = imprint_job(
                train, reference, num_classes, plan, imprint, seed, torch_device, policy
            )
            save_npz(
                out / "recon.npz",
                **arrays,
                dataset=np.str_(meta["dataset"]),
                target_epsilon=np.float64(plan.target_epsilon),
            )
        else:
            record = prior_aware_job(
                train, num_classes, plan, prior_aware, seed, torch_device, policy
            )
        wall = {"wall_time_s": time.perf_counter() - start, "provenance": provenance()}
        records[attack] = record | common | wall
        write_json(out / f"{attack}.json", records[attack])
    return records
