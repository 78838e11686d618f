"""A wall-clock budget as users write it (45m, 2h, 1h30m, 90s) and the time a search has used of it."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from search.errors import ConfigError

UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_budget(text: str) -> float:
    """Seconds of a budget such as 45m, 2h, 1h30m or 90s (ConfigError, one line, on anything else or on zero)."""
    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*", text or "")
    if not text or not text.strip() or parts is None or not any(parts.groups()):
        raise ConfigError(f"--budget {text!r}: give a wall-clock duration such as 45m, 2h, 1h30m or 600s")
    seconds = sum(float(v) * UNITS[u] for v, u in zip(parts.groups(), "hms") if v)
    if seconds <= 0:
        raise ConfigError(f"--budget {text!r}: a budget must be longer than zero")
    return seconds


def duration(seconds: float) -> str:
    """Seconds as a budget is written: 1h05m, 12m30s, 45s."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Budget:
    """A search's wall-clock budget: `total_s`, of which `used_before_s` went to earlier sessions of the same search (a
    resumed search goes on with the time it has left); `clock` is injectable (tests)."""

    total_s: float
    used_before_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def used_s(self) -> float:
        """Seconds used so far, earlier sessions included."""
        return self.used_before_s + self.clock() - self.started

    @property
    def left_s(self) -> float:
        """Seconds left (0 once spent)."""
        return max(0.0, self.total_s - self.used_s)

    def line(self) -> str:
        """Time used against the budget, e.g. '12m30s of 1h00m'."""
        return f"{duration(self.used_s)} of {duration(self.total_s)}"
