"""``scripts/gpu_check.sh`` on a machine without CUDA: one line saying why, exit status 0.

Its ``--quick`` run of every part on the CPU is in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import subprocess

import pytest
import torch

from tests.helpers import REPO


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip mode is for machines without CUDA")
def test_gpu_check_skips_in_one_line_without_cuda(tmp_path):
    result = subprocess.run(
        [str(REPO / "scripts" / "gpu_check.sh")],
        cwd=tmp_path,  # the script finds the repository and its venv itself
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = result.stdout.splitlines()
    assert line.startswith("gpu_check: skipped: ") and "no CUDA device" in line, line
