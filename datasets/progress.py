"""The progress of a long decode: cases done, their rate and the time left, on stderr."""
from __future__ import annotations

import sys
import time
from typing import Callable, Iterable


class Progress:
    """Cases written, rate and time left, on stderr: rewritten in place on a terminal, a line every 10 s otherwise."""

    def __init__(self, what: str, total: int | None, clock: Callable[[], float] = time.monotonic, stream=None, every_s: float = 10.0):
        self.what, self.total, self.clock, self.every_s = what, total, clock, every_s
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self.last = clock()
        self.done = 0

    def line(self) -> str:
        """The current state in words."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            return f"{self.what}: {self.done}/{self.total} cases, {rate:.0f} a second, {left:.0f} s left"
        return f"{self.what}: {self.done} cases, {rate:.0f} a second"

    def step(self) -> None:
        """One more case done."""
        self.done += 1
        now = self.clock()
        if self.tty or now - self.last >= self.every_s:
            self.last = now
            print(("\r" if self.tty else "") + self.line(), end="" if self.tty else "\n", file=self.stream, flush=True)

    def close(self) -> None:
        """The final line."""
        elapsed = self.clock() - self.start
        print(("\r" if self.tty else "") + f"{self.what}: {self.done} cases in {elapsed:.0f} s", file=self.stream, flush=True)


def case_count(cases: Iterable) -> int | None:
    """How many cases an iterable holds, where it knows (a list does; a generator of decoded cases does not)."""
    try:
        return len(cases)  # type: ignore[arg-type]
    except TypeError:
        return None
