"""The memory-mapped pages this process holds: every open store registers how to drop its pages, and
`release_pages` drops them all (a stored dataset's cases then leave the process's resident memory once read)."""
from __future__ import annotations

from typing import Callable

_RELEASERS: dict[str, Callable[[], None]] = {}


def register(key: str, release: Callable[[], None]) -> None:
    """Remember how to drop the pages of the store at `key` (its path)."""
    _RELEASERS[key] = release


def forget(key: str) -> None:
    """The store at `key` is gone (replaced by a newer build of the same files)."""
    _RELEASERS.pop(key, None)


def release_pages() -> None:
    """Drop the mapped pages of every store this process has open (they stay in the page cache; the next read maps them again)."""
    for release in list(_RELEASERS.values()):
        release()
