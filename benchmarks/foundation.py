"""Foundation benchmark: DP-SGD / non-private step-time ratios and σ-calibration times, in one run.

Usage: .venv/bin/python benchmarks/foundation.py
"""

from __future__ import annotations

import bench_calibration
import bench_dp_step


def main() -> None:
    """Run both benchmarks side by side in this process."""
    print("== DP-SGD step time versus non-private (default model) ==")
    bench_dp_step.run(print_fn=print)
    print()
    print("== σ calibration of a 10-value ε grid, per accountant ==")
    bench_calibration.run(print_fn=print)


if __name__ == "__main__":
    main()
