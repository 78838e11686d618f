"""The errors the search raises on purpose: each message is one line that says what to do."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad command-line setting; the message is one line."""


class SearchStopped(RuntimeError):
    """The search ended before every trial did (Ray failed under it); the message is one line and says how to resume."""


class SearchInterrupted(SearchStopped):
    """The search was stopped (Ctrl-C) before every trial ended; the message is one line and says how to resume."""


class TrackingError(RuntimeError):
    """The tracking server cannot be used; the message is one line."""


class TrackingUnavailable(RuntimeError):
    """The tracking store did not take a trial's writes for the whole wait (down, full or read-only)."""


class UnknownName(ConfigError):
    """A space or strategy name that is not registered."""


def find_cause(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """The innermost exception of type `kind` that `exc` is or wraps (through Ray's task errors' `cause` and Python's
    chained causes), or None."""
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, kind):
            found = exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return found
