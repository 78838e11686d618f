"""The dimensions the Optuna spaces share: depth, its conditional skip bits, and a patch size that fits the depth."""
from __future__ import annotations

from .limits import PATCH_STEP, SpaceLimits, min_patch


def patch(trial, depth: int, low: int, high: int) -> int:
    """A patch size in [low, high] (a PATCH_STEP multiple) that `depth` can halve: an infeasible pair is never proposed."""
    low = max(low, min_patch(depth))
    high = max(low, low + ((high - low) // PATCH_STEP) * PATCH_STEP)
    return trial.suggest_int("patch_size", low, high, step=PATCH_STEP)


def depth(trial, limits: SpaceLimits, cap: int = 99) -> int:
    """A depth among those `limits` allows (up to `cap`): an int range where they are contiguous."""
    allowed = [d for d in limits.depths if d <= cap] or [min(limits.depths)]
    if allowed == list(range(allowed[0], allowed[-1] + 1)):
        return trial.suggest_int("depth", allowed[0], allowed[-1])
    return trial.suggest_categorical("depth", allowed)


def skip_bits(trial, depth: int) -> str:
    """One on/off bit per level, s1..s{depth}: the skip pattern, e.g. "1001"."""
    return "".join(str(trial.suggest_int(f"s{i}", 0, 1)) for i in range(1, depth + 1))
