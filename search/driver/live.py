"""The live session of each search on this driver, by search name. Tune pickles its callbacks and stoppers with the
search and restores those on --resume; they look the session up here instead of holding it, so a resumed search's
restored ones see this session's budget clock (not the dead process's) and hold no MLflow client."""
from __future__ import annotations

from typing import Any

LIVE: dict[str, Any] = {}


def register(session) -> None:
    """Make `session` the live one of its search."""
    LIVE[session.search_name] = session


def budget_of(search_name: str | None):
    """The live budget (search.plan.Budget) of a search, or None (no budget, or no live session)."""
    session = LIVE.get(search_name) if search_name else None
    return getattr(session, "budget", None)


def mark_deadline(search_name: str) -> None:
    """Record that the budget's deadline ended the search's Tune phase (not Ctrl-C)."""
    session = LIVE.get(search_name)
    if session is not None:
        session.deadline_reached = True


def note_time(search_name: str | None) -> None:
    """Keep the time a live budgeted search has used in its state file."""
    session = LIVE.get(search_name) if search_name else None
    if session is not None:
        session.note_time()
