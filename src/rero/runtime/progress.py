"""Line-based progress for job logs: whole lines a person (or ``tail -f``) can read.

A progress bar redraws one line with carriage returns, which a log file keeps as one long line;
this writes at most one line every ``interval_s`` seconds, and one when the work ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressLog:
    """Progress of ``total`` units of work, starting at ``initial`` (a resumed run)."""

    def __init__(
        self,
        description: str,
        total: int,
        initial: int = 0,
        *,
        details: Callable[[], str] | None = None,
        interval_s: float = 5.0,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description = description
        self.total = total
        self.done = initial
        self.details = details
        self.interval_s = interval_s
        self.enabled = enabled
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.initial = initial
        self.last_line = self.started
        self.done_at_last_line = initial

    def update(self, units: int = 1) -> None:
        """Count ``units`` more done; write a line if ``interval_s`` has passed since the last."""
        self.done += units
        if self.clock() - self.last_line >= self.interval_s:
            self._write()

    def close(self) -> None:
        """Write the last line, unless nothing was done since the previous one."""
        if self.done != self.done_at_last_line:
            self._write()

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self.close()

    def line(self) -> str:
        """``description: step done/total (percent), rate, time left[, details]``."""
        elapsed = self.clock() - self.started
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        parts = [f"{self.description}: step {self.done}/{self.total} ({percent:.0f}%)"]
        if rate > 0:
            left = (self.total - self.done) / rate
            parts.append(f"{rate:.3g} steps/s, {left:.0f} s left")
        if self.details is not None:
            parts.append(self.details())
        return ", ".join(parts)

    def _write(self) -> None:
        self.last_line = self.clock()
        self.done_at_last_line = self.done
        if self.enabled:
            print(self.line(), file=self.stream or sys.stderr, flush=True)
