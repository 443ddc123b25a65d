"""Run several benchmark scripts in one interpreter, each as ``python benchmarks/<name>.py
<flags>`` would: ``sys.argv`` and ``sys.path[0]`` set as for a script, run as ``__main__``, its
output captured. One start-up (torch, Opacus, the accountants) serves every script; the scripts'
own subprocesses (gpu_check's guarded parts) still start as they do.

Usage: python -m tests.helpers.benchmark_runs FLAG NAME [NAME ...]; its last line is
:data:`RESULT_MARK` and one JSON object, name -> {"status": exit status, "stdout", "stderr"}
(a script's subprocesses may write to the same stream before it).
"""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys
import traceback

from tests.helpers import REPO

BENCHMARKS = REPO / "benchmarks"
RESULT_MARK = "benchmark_runs: "


def run_as_script(name: str, flag: str) -> dict[str, object]:
    """``benchmarks/<name>.py <flag>`` in this process: its exit status and output."""
    script = BENCHMARKS / f"{name}.py"
    stdout, stderr = io.StringIO(), io.StringIO()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv, sys.path[0] = [str(script), flag], str(BENCHMARKS)
    status = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stopped:
        code = stopped.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if isinstance(code, str):
            stderr.write(code + "\n")
    except Exception:  # reported as the script's failure, as an interpreter would
        status = 1
        stderr.write(traceback.format_exc())
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return {"status": status, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def main(arguments: list[str]) -> None:
    """Run each named benchmark with the flag; the results on the last line."""
    flag, *names = arguments
    results = {name: run_as_script(name, flag) for name in names}
    print(RESULT_MARK + json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
