"""`--strategy trials`: one Tune trial trains each configuration (Optuna + ASHA, or the ablation's grid); the best few
are then re-trained at the final budget beside the default U-Net."""
from __future__ import annotations

from typing import Any

from search.spaces import Space, SpaceLimits
from search.tracking import schema

from .registry import Strategy, Tools, register_strategy


def noise_aware(searcher, cfg, space: Space, limits: SpaceLimits, default_unet_config):
    """`searcher` as cfg.validation asks: as is (fixed), each trial on its own split (reshuffle) or raced on folds (race),
    the default U-Net at the search's budget (`default_unet_config(cfg, limits)`) the race's first incumbent."""
    from search.noise import Intensifier, Reshuffled  # deferred: Ray's searcher classes; --help and bad flags answer without Ray

    if cfg.validation == "reshuffle":
        return Reshuffled(searcher, cfg.seed)
    if cfg.validation == "race":
        first = {**default_unet_config(cfg, limits), "epochs": cfg.max_epochs} if cfg.final_baseline else None
        return Intensifier(searcher, cfg.race_partition, cfg.race_folds, space.max_trial_epochs(cfg), cfg.optuna_seed, cfg.seed, first=first)
    return searcher


@register_strategy
class TrialsStrategy(Strategy):
    """Train every sampled (or enumerated) configuration stand-alone."""

    name = "trials"
    role = schema.TRIAL
    trains_default_unet = True
    races = True

    def function(self):
        """run_trial: one stand-alone training per Tune trial."""
        from search.trainable.trial import run_trial  # deferred: the trainable imports torch and the recipe

        return run_trial

    def phase(self, cfg, space: Space, limits: SpaceLimits, tools: Tools) -> tuple[dict[str, Any], Any]:
        """A sampled space: Optuna's searcher and ASHA; an enumerated one: its grid, first in first out."""
        if space.sampled:
            searcher = noise_aware(tools.make_searcher(cfg, limits), cfg, space, limits, tools.default_unet_config)
            return {}, tools.tune_config(searcher, tools.make_scheduler(cfg), cfg.num_samples)
        return space.grid(cfg, limits), tools.tune_config()

    def start_line(self, cfg, space: Space, search_name: str, total: int, parallel: int) -> str:
        """Trials, epochs, parallelism and (sampled spaces) how the seed decides the configurations."""
        line = f"search {search_name}: {total} trials of up to {space.max_trial_epochs(cfg)} epochs, {min(parallel, total)} at a time"
        if space.sampled:
            line += (f"; Optuna seed {cfg.optuna_seed}: the same command samples the same configurations again, "
                     "--seed (or --searcher-seed) draws others")
        return line

    def finish(self, session, results, table, tools: Tools):
        """Re-rank the best few at the final budget (when the space re-ranks)."""
        return (tools.rerank_at_final_budget(session, results, table) if session.cfg.rerank_k else None), None
