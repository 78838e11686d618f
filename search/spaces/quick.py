"""`--space quick`: a tiny space for smoke runs and CI."""
from __future__ import annotations

from typing import Any

from . import dims
from .limits import PATCH_STEP, SpaceLimits
from .registry import Space, register_space


@register_space
class QuickSpace(Space):
    """Depth 1..2, its skip bits, patch 32..48, loss dice or dice_bce, lr; a newcomer's few-minute demo."""

    name = "quick"
    default_samples = 8

    def define(self, trial, limits: SpaceLimits) -> dict[str, Any]:
        """Depth 1..2, its skip bits, patch 32..48, loss dice or dice_bce, lr."""
        depth = dims.depth(trial, limits, cap=2)
        dims.skip_bits(trial, depth)
        dims.patch(trial, depth, 32, min(48, limits.max_patch))
        trial.suggest_categorical("loss", ["dice", "dice_bce"])
        trial.suggest_float("lr", 3e-3, 1e-2, log=True)
        return {"patch_stride": PATCH_STEP, "base_channels": 8, "batch_size": 16, "augment": "none"}
