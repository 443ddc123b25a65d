"""Every benchmark answers ``--help`` without working and runs end to end with ``--quick``.

Each script runs from the repository root as its usage line says, as ``__main__`` with its own
``sys.argv`` and ``sys.path``; no time is asserted. The light ones' ``--help`` runs in a fresh
interpreter each (the fast tier); the heavy imports (torch, Opacus, the accountants) are paid
once: every other ``--help``, and every ``--quick``, runs in one interpreter per flag
(``tests.helpers.benchmark_runs``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO
from tests.helpers.benchmark_runs import RESULT_MARK

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


def runs_in_one_interpreter(flag: str, names: list[str], timeout: float) -> dict[str, dict]:
    """``benchmarks/<name>.py <flag>`` for each of ``names`` in one fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.helpers.benchmark_runs", flag, *names],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    marked = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert result.returncode == 0 and marked, result.stderr[-4000:]
    return json.loads(marked[-1][len(RESULT_MARK) :])


@pytest.fixture(scope="module")
def heavy_help() -> dict[str, dict]:
    return runs_in_one_interpreter("--help", sorted(set(NAMES) - LIGHT), timeout=300)


@pytest.fixture(scope="module")
def quick_runs() -> dict[str, dict]:
    return runs_in_one_interpreter("--quick", NAMES, timeout=1800)


def assert_answers_help(status: int, stdout: str, stderr: str) -> None:
    assert status == 0, stderr[-2000:]
    assert stdout.startswith("usage:"), stdout[:500]
    assert "--quick" in stdout


@pytest.mark.parametrize("name", sorted(LIGHT))
def test_light_help_answers_without_running(name: str) -> None:
    result = run_benchmark(name, "--help", timeout=60)
    assert_answers_help(result.returncode, result.stdout, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(NAMES) - LIGHT))
def test_help_answers_without_running(heavy_help, name: str) -> None:
    run = heavy_help[name]
    assert_answers_help(run["status"], run["stdout"], run["stderr"])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_mode_prints_its_table(quick_runs, name: str) -> None:
    run = quick_runs[name]
    assert run["status"] == 0, run["stderr"][-4000:]
    assert run["stdout"].strip(), run["stderr"][-2000:]
