"""Every benchmark answers ``--help`` without working and runs end to end with ``--quick``.

Each script runs in a fresh interpreter from the repository root, as its usage line says; no
time is asserted. The ``--help`` of a script with heavy imports (torch, Opacus, the accountants)
takes seconds on a loaded machine, so it is slow.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO

BENCHMARKS = REPO / "benchmarks"
NAMES = [*sorted(path.stem for path in BENCHMARKS.glob("bench_*.py")), "foundation", "gpu_check"]
#: benchmarks whose imports are light (no torch, no accountants): ``--help`` in about a second
LIGHT = {"bench_dry_run", "bench_prepare"}


def run_benchmark(name: str, flag: str, timeout: float) -> subprocess.CompletedProcess:
    """``python benchmarks/<name>.py <flag>`` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), flag],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[] if name in LIGHT else pytest.mark.slow) for name in NAMES]
)
def test_help_answers_without_running(name: str) -> None:
    result = run_benchmark(name, "--help", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:"), result.stdout[:500]
    assert "--quick" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_mode_prints_its_table(name: str) -> None:
    result = run_benchmark(name, "--quick", timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip(), result.stderr[-2000:]
