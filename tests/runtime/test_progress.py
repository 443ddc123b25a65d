"""Line-based progress for job logs: whole lines, at most one per interval, and a last one."""

from __future__ import annotations

import io

from rero.runtime.progress import ProgressLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_and_a_last_line():
    clock, stream = FakeClock(), io.StringIO()
    with ProgressLog(
        "train x", 10, details=lambda: "loss 0.5", interval_s=5.0, stream=stream, clock=clock
    ) as progress:
        for _ in range(10):
            clock.now += 2.0
            progress.update()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # lines at t = 6, 12, 18 s (3, 6 and 9 steps done), then the last one at 10 steps
    assert [line.split(",")[0] for line in lines] == [
        "train x: step 3/10 (30%)",
        "train x: step 6/10 (60%)",
        "train x: step 9/10 (90%)",
        "train x: step 10/10 (100%)",
    ]
    assert lines[0] == "train x: step 3/10 (30%), 0.5 steps/s, 14 s left, loss 0.5"


def test_resumed_progress_counts_its_rate_from_the_resume():
    clock, stream = FakeClock(), io.StringIO()
    progress = ProgressLog("run", 100, initial=90, interval_s=1.0, stream=stream, clock=clock)
    clock.now = 4.0
    progress.update(2)
    assert stream.getvalue() == "run: step 92/100 (92%), 0.5 steps/s, 16 s left\n"
    progress.close()
    assert stream.getvalue().count("\n") == 1  # nothing done since that line: no repeat


def test_disabled_progress_writes_nothing():
    clock, stream = FakeClock(), io.StringIO()
    progress = ProgressLog("run", 3, enabled=False, interval_s=0.0, stream=stream, clock=clock)
    clock.now = 1.0
    progress.update(3)
    progress.close()
    assert stream.getvalue() == ""
