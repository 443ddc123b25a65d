"""Foundation benchmark: DP-SGD / non-private step-time ratios and σ-calibration times, in one run.

The two tables of ``bench_dp_step.run`` (small_cnn per grad-sample mode, and rero's training
loop, on the shipped default study's model and batch) and of ``bench_calibration.run`` (the
paper's ε grid in the schedules of ``workflow/configs/paper.yaml`` and ``config.yaml``, beside
Opacus); ``--quick`` passes their quick settings on.

Usage: .venv/bin/python benchmarks/foundation.py [--quick]
"""

from __future__ import annotations

import argparse

import bench_calibration
import bench_dp_step


def main(quick: bool) -> None:
    """Run both benchmarks side by side in this process."""
    print("== DP-SGD step time versus non-private (default model) ==")
    bench_dp_step.run(print_fn=print, quick=quick)
    print()
    print("== σ calibration of the paper's ε grid, per accountant ==")
    bench_calibration.run(print_fn=print, quick=quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="both at their quick settings")
    main(parser.parse_args().quick)
