"""Skip-connection patterns: the `1001` strings users see, and their bool form."""
from __future__ import annotations

from itertools import product
from typing import Sequence, Union

SkipSpec = Union[str, Sequence[bool], Sequence[int]]

MIN_DEPTH = 1
MAX_DEPTH = 5


def check_depth(depth: int, max_depth: int = MAX_DEPTH) -> int:
    """Return `depth` if it is an int in [1, max_depth], else raise ValueError."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not MIN_DEPTH <= depth <= max_depth:
        raise ValueError(f"depth must be an integer from {MIN_DEPTH} to {max_depth}, got {depth!r}")
    return depth


def parse_skips(skips: SkipSpec | None, depth: int) -> tuple[bool, ...]:
    """Turn a pattern ("1001", [1,0,0,1], [True,...], None = all on) into one bool per level, s1 first."""
    check_depth(depth)
    if skips is None:
        return (True,) * depth
    if isinstance(skips, str):
        if not skips or set(skips) - {"0", "1"}:
            raise ValueError(f"skip pattern must be a string of 0/1 like '1001', got {skips!r}")
        bits = tuple(c == "1" for c in skips)
    else:
        items = list(skips)
        if any(not isinstance(b, (bool, int)) or int(b) not in (0, 1) for b in items):
            raise ValueError(f"skip pattern must hold only 0/1 or booleans, got {items!r}")
        bits = tuple(bool(b) for b in items)
    if len(bits) != depth:
        raise ValueError(
            f"skip pattern {format_skips(bits)!r} has {len(bits)} bits but depth is {depth}: "
            f"give one bit per level (s1 nearest the input .. s{depth} deepest)"
        )
    return bits


def format_skips(bits: Sequence[bool]) -> str:
    """Write a pattern as the user-facing string, s1 first (e.g. `1001`)."""
    return "".join("1" if b else "0" for b in bits)


def all_patterns(depth: int) -> list[str]:
    """Every skip pattern of a depth, as strings, all-off first."""
    check_depth(depth)
    return ["".join(bits) for bits in product("01", repeat=depth)]


def run_key(depth: int, skips: str) -> str:
    """A configuration's key in runs, tables and reports: d{depth}-s{pattern}, e.g. d4-s1001."""
    return f"d{int(depth)}-s{skips}"
