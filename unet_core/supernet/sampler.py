"""Which skip pattern a supernet trains on next: one drawn per batch."""
from __future__ import annotations

import random
from collections import Counter
from typing import Sequence

SAMPLING_RULES = ("uniform", "fair")


class PatternSampler:
    """Draws one skip pattern per call, reproducibly from `seed`.

    Args:
        patterns: the patterns to draw from (a supernet's `patterns`).
        rule: "uniform" (an independent uniform draw each call) or "fair" (every pattern once per cycle through them, in
            a fresh random order each cycle, as FairNAS does: after k full cycles each pattern has had exactly k batches).
        seed: seeds the draws.
    """

    def __init__(self, patterns: Sequence[str], rule: str = "fair", seed: int = 0):
        if rule not in SAMPLING_RULES:
            raise ValueError(f"unknown sampling rule {rule!r}: choose one of {', '.join(SAMPLING_RULES)}")
        if not patterns:
            raise ValueError("a pattern sampler needs at least one pattern")
        self.patterns, self.rule = list(patterns), rule
        self.rng = random.Random(seed)
        self.cycle: list[str] = []
        self.counts: Counter[str] = Counter()

    def __call__(self) -> str:
        """The next pattern."""
        if self.rule == "uniform":
            pattern = self.rng.choice(self.patterns)
        else:
            if not self.cycle:
                self.cycle = self.rng.sample(self.patterns, len(self.patterns))
            pattern = self.cycle.pop()
        self.counts[pattern] += 1
        return pattern
