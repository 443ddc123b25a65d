#!/usr/bin/env bash
# First run on a GPU: the paper-scale DP-SGD steps, imprint attacks and a few `rero train` steps
# in one table (benchmarks/gpu_check.py; under 10 minutes). Without CUDA it says why and exits 0.
# Usage: scripts/gpu_check.sh [--quick] [--device cuda|cpu]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=python3
if [[ -x .venv/bin/python ]]; then
    python=.venv/bin/python
fi
exec "$python" benchmarks/gpu_check.py "$@"
