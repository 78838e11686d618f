"""`--space arch`: the ablation's depth/skip space, sampled by Optuna (ASHA stops the weak)."""
from __future__ import annotations

from typing import Any

from . import dims
from .limits import SpaceLimits
from .registry import Space, fixed_recipe_params, register_space


@register_space
class ArchSpace(Space):
    """Depth, then its skip bits; every other value is the search's fixed recipe. --strategy supernet searches it too."""

    name = "arch"
    # bench/search_replay.py: the trials ASHA + TPE starts within a quarter of the exhaustive grid's compute on DRIVE
    default_samples = 16
    fixed_recipe = True
    default_rerank = 3
    supernet = True

    def fixed_params(self, cfg) -> dict[str, Any]:
        """The search's epochs and seed, and its fixed recipe."""
        return {**super().fixed_params(cfg), **fixed_recipe_params(cfg)}

    def define(self, trial, limits: SpaceLimits) -> dict[str, Any]:
        """Depth, then its skip bits."""
        dims.skip_bits(trial, dims.depth(trial, limits))
        return {}
