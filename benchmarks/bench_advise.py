"""Time of one budget-advice query beside the calibration a user would otherwise run.

``python -m rero advise`` answers "which ε keeps the certified reconstruction risk under r?"; the
nearest question a user can ask a library is Opacus' ``get_noise_multiplier`` (σ for a given ε),
which knows nothing of reconstruction risk. Both run side by side, in one process, on the default
study's setting (q = 256/8000, T = 256, δ = 1e-5) and the paper's MSD Liver one (q = 1/106,
T = 53,000, δ = 8e-7); the script prints each time and the ratio.
Run: ``.venv/bin/python benchmarks/bench_advise.py``.
"""

from __future__ import annotations

import time
import warnings

from opacus.accountants.utils import get_noise_multiplier

from rero.privacy.advice import Constraint, advise

SETTINGS = {
    "default study": (256 / 8000, 256, 1e-5, 1 / 8000),
    "MSD Liver (paper)": (1 / 106, 53_000, 8e-7, 1 / 106),
}


def main() -> None:
    warnings.filterwarnings("ignore")
    for name, (sample_rate, steps, delta, kappa) in SETTINGS.items():
        start = time.perf_counter()
        answer = advise([Constraint("reconstruction", kappa, 0.05)], sample_rate, steps, delta)
        advise_s = time.perf_counter() - start
        start = time.perf_counter()
        sigma = get_noise_multiplier(
            target_epsilon=answer["epsilon"],
            target_delta=delta,
            sample_rate=sample_rate,
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
    main()
