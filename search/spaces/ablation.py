"""`--space ablation`: every skip pattern of every depth, each with --repeats seeds (and every fold): the study."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unet_core.skips import all_patterns

from search.settings import comma_list, setting

from .limits import SpaceLimits
from .registry import Space, fixed_recipe_params, register_space


def ablation_patterns(depths: tuple[int, ...] = (1, 2, 3, 4), patterns: tuple[str, ...] = ()) -> list[str]:
    """The given skip patterns, or every pattern of every depth (30 for depths 1..4), shallow first."""
    chosen = set(patterns) if patterns else {p for d in depths for p in all_patterns(d)}
    return sorted(chosen, key=lambda p: (len(p), p))


def ablation_configs(repeats: int, depths: tuple[int, ...] = (1, 2, 3, 4), patterns: tuple[str, ...] = (), folds: int = 1,
                     first_seed: int = 0) -> list[dict[str, Any]]:
    """Every ablation pattern (see ablation_patterns), each with `repeats` seeds from `first_seed` (and every fold when folds > 1)."""
    seeds = range(first_seed, first_seed + repeats)
    if folds > 1:
        return [{"skips": p, "seed": s, "fold": f} for p in ablation_patterns(depths, patterns) for s in seeds for f in range(folds)]
    return [{"skips": p, "seed": s} for p in ablation_patterns(depths, patterns) for s in seeds]


@dataclass
class AblationSettings:
    """The flags only the ablation reads."""

    repeats: int = setting(1, "ablation: seeds per configuration")
    skips: tuple[str, ...] = setting((), "ablation: comma-separated skip patterns to run, e.g. 1001,1111", "search", shown="all",
                                     parse=comma_list(str, "--skips", "patterns of 0/1 bits separated by commas, e.g. 1001,1111"))


@register_space
class AblationSpace(Space):
    """An exhaustive grid at the search's fixed recipe: no early stopping, no re-ranking."""

    name = "ablation"
    options = AblationSettings
    sampled = False
    fixed_recipe = True

    def fixed_params(self, cfg) -> dict[str, Any]:
        """The search's epochs and seed, and its fixed recipe."""
        return {**super().fixed_params(cfg), **fixed_recipe_params(cfg)}

    def trial_count(self, cfg, limits: SpaceLimits) -> int:
        """Every pattern x seed x fold."""
        return len(ablation_patterns(limits.depths, cfg.skips)) * cfg.repeats * cfg.folds

    def grid(self, cfg, limits: SpaceLimits) -> dict[str, Any]:
        """Patterns x seeds (x folds) as Tune grid searches over the fixed values."""
        from ray import tune  # deferred: Ray loads after quiet_libraries

        space = {**self.fixed_params(cfg), "skips": tune.grid_search(ablation_patterns(limits.depths, cfg.skips)),
                 "seed": tune.grid_search(list(range(cfg.seed, cfg.seed + cfg.repeats)))}
        if cfg.folds > 1:
            space["fold"] = tune.grid_search(list(range(cfg.folds)))
        return space

    def dry_run_lines(self, cfg, limits: SpaceLimits) -> list[dict[str, Any]]:
        """Every configuration the ablation trains."""
        from recipes.params import TrialParams  # deferred: recipes import torch; --help answers without it

        configs = ablation_configs(cfg.repeats, limits.depths, cfg.skips, cfg.folds, cfg.seed)
        trials = [TrialParams.from_config({**self.fixed_params(cfg), **c}) for c in configs]
        return [t.to_dict() | {"run_name": t.run_name} for t in trials]
