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
    # bench/search_replay.py (2026-12-05): the best 2 and the default U-Net on 2 folds, the default unless a finalist beats it
    # by more than the paired noise, returned a pick worse than the default in 12% (DRIVE) of searcher seeds against 40% for
    # the best 3 on the search's split
    default_rerank = 2
    default_final_folds = 2
    supernet = True

    def fixed_params(self, cfg) -> dict[str, Any]:
        """The search's epochs and seed, and its fixed recipe."""
        return {**super().fixed_params(cfg), **fixed_recipe_params(cfg)}

    def define(self, trial, limits: SpaceLimits) -> dict[str, Any]:
        """Depth, then its skip bits."""
        dims.skip_bits(trial, dims.depth(trial, limits))
        return {}
