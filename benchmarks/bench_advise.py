"""Time of one budget-advice query beside the calibration a user would otherwise run.

``python -m rero advise`` answers "which ε keeps the certified reconstruction risk under r?"; the
nearest question a user can ask a library is Opacus' ``get_noise_multiplier`` (σ for a given ε),
which knows nothing of reconstruction risk. Both run side by side, in one process, on the shipped
default study's schedule (``config.yaml``: N = 8,000, B = 256, 8 epochs, so q = 256/8000, T = 256,
δ = 1e-5) and the paper's MSD Liver one (``workflow/configs/paper.yaml``: N = 106, B = 1, 500
epochs, so q = 1/106, T = 53,000, δ = 8e-7), both read from those files (``study_settings``),
κ = 1/N; the script prints each time and the ratio. ``--quick`` runs the default study's only.

Usage: .venv/bin/python benchmarks/bench_advise.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

from opacus.accountants.utils import get_noise_multiplier
from study_settings import DEFAULT_STUDY, PAPER_STUDY, Schedule, schedules, study_config

from rero.privacy.advice import Constraint, advise


def settings(quick: bool) -> dict[str, Schedule]:
    """The timed schedules by label: the default study's, and the paper's MSD Liver one."""
    chosen = {"default study": schedules(study_config(DEFAULT_STUDY))["mni152"]}
    if not quick:
        chosen["MSD Liver (paper)"] = schedules(study_config(PAPER_STUDY))["msd_liver"]
    return chosen


def main(quick: bool) -> None:
    warnings.filterwarnings("ignore")
    for name, schedule in settings(quick).items():
        q, steps, delta = schedule.sample_rate, schedule.steps, schedule.delta
        start = time.perf_counter()
        answer = advise([Constraint("reconstruction", schedule.kappa, 0.05)], q, steps, delta)
        advise_s = time.perf_counter() - start
        start = time.perf_counter()
        sigma = get_noise_multiplier(
            target_epsilon=answer["epsilon"],
            target_delta=delta,
            sample_rate=q,
            steps=steps,
            accountant="prv",
        )
        opacus_s = time.perf_counter() - start
        evaluations = answer["constraints"][0]["evaluations"]
        print(
            f"{name}: advise (risk <= 0.05 at kappa = 1/N) {advise_s:.2f} s ({evaluations} bound "
            f"evaluations) -> sigma {answer['sigma']:.4g}, epsilon {answer['epsilon']:.4g}; "
            f"Opacus get_noise_multiplier(PRV) at that epsilon {opacus_s:.2f} s -> sigma "
            f"{sigma:.4g}; ratio {advise_s / opacus_s:.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default study's schedule only")
    main(parser.parse_args().quick)
