"""`--strategy supernet`: one Tune trial per depth (and fold) trains that depth's skip supernet and estimates every skip
pattern from it (search.trainable.supernet); each estimate becomes an MLflow run marked as an estimate
(search.strategies.estimates); the best few patterns by estimate are then trained stand-alone at the final budget
(search.driver.final.train_at_final_budget), and the best of those wins."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from unet_core.skips import all_patterns

from search.errors import ConfigError
from search.settings import setting
from search.spaces import Space, SpaceLimits
from search.tracking.schema import ESTIMATE_RANKING_TAG
from search.tracking.schema import SUPERNET as ROLE

from .registry import Strategy, Tools, register_strategy

if TYPE_CHECKING:
    from recipes.supernet import SupernetSettings

SAMPLING = ("fair", "uniform")  # --supernet-sampling (recipes.supernet.SupernetSettings)


def param_space(fixed: dict[str, Any], depths: tuple[int, ...], folds: int, settings: SupernetSettings) -> dict[str, Any]:
    """The supernet phase's Tune grid: one trial per depth (and fold), the arch space's fixed values and the supernet settings."""
    from ray import tune  # deferred: Ray loads after quiet_libraries

    space = {**fixed, "depth": tune.grid_search(list(depths)), "supernet_sampling": settings.sampling,
             "supernet_warmup": settings.warmup_epochs, "supernet_recalibrate": settings.recalibrate_batches}
    if folds > 1:
        space["fold"] = tune.grid_search(list(range(folds)))
    return space


def supernet_settings(cfg) -> SupernetSettings:
    """The supernet settings of a --strategy supernet search."""
    from recipes.supernet import SupernetSettings  # deferred: recipes import torch; --help and bad flags answer without it

    return SupernetSettings(sampling=cfg.supernet_sampling, warmup_epochs=cfg.supernet_warmup, recalibrate_batches=cfg.supernet_recalibrate)


@dataclass
class SupernetOptions:
    """The flags only --strategy supernet reads (recipes.supernet.SupernetSettings)."""

    supernet_sampling: str = setting("fair", "supernet: the skip pattern of each batch, fair (every pattern once per cycle) or uniform", "strategy")
    supernet_warmup: int = setting(0, "supernet: epochs of all-skips training before patterns are sampled", "strategy")
    supernet_recalibrate: int = setting(0, "supernet: training batches that re-estimate each pattern's batch-norm statistics before it is "
                                        "scored; 0 = the shared statistics, which ranked better in bench/supernet_rank.py", "strategy")


@register_strategy
class SupernetStrategy(Strategy):
    """One weight-sharing supernet per depth (and fold) estimates every skip pattern; the best estimates are then
    trained stand-alone at the final budget."""

    name = "supernet"
    role = ROLE
    takes_folds = True
    options = SupernetOptions

    def check(self, cfg, space: Space) -> None:
        """Only spaces of skip patterns at a fixed recipe; its settings in range."""
        if not space.supernet:
            raise ConfigError(f"--strategy supernet applies to --space arch (a supernet shares the skip patterns of a depth), not --space {cfg.space}")
        if cfg.rerank_top == 0:
            raise ConfigError("--strategy supernet trains its best estimates stand-alone before it picks one: --rerank-top must be at least 1")
        if cfg.stop_at is not None:
            raise ConfigError("--stop-at applies to --strategy trials: a supernet scores every pattern at once")
        if cfg.budget is not None or cfg.plan or cfg.image_side:
            raise ConfigError("--budget, --plan and --image-side apply to --strategy trials: the supernet's recipe trains at the original "
                              "resolution and is not planned")
        if cfg.supernet_sampling not in SAMPLING:
            raise ConfigError(f"unknown --supernet-sampling {cfg.supernet_sampling!r}: choose one of {', '.join(SAMPLING)}")
        if not 0 <= cfg.supernet_warmup < cfg.max_epochs:
            raise ConfigError(f"--supernet-warmup {cfg.supernet_warmup}: give 0 to {cfg.max_epochs - 1} epochs (fewer than --max-epochs)")
        if cfg.supernet_recalibrate < 0:
            raise ConfigError(f"--supernet-recalibrate must be >= 0 batches (0: no recalibration), got {cfg.supernet_recalibrate}")

    def function(self):
        """run_supernet_trial: one supernet training per Tune trial."""
        from search.trainable.supernet import run_supernet_trial  # deferred: the trainable imports torch and the recipe

        return run_supernet_trial

    def phase(self, cfg, space: Space, limits: SpaceLimits, tools: Tools) -> tuple[dict[str, Any], Any]:
        """One trial per depth (and fold), first in first out."""
        return param_space(space.fixed_params(cfg), limits.depths, cfg.folds, supernet_settings(cfg)), tools.tune_config()

    def trial_count(self, cfg, space: Space, limits: SpaceLimits) -> int:
        """One supernet per depth and fold."""
        return len(limits.depths) * cfg.folds

    def early_stopping(self, space: Space) -> bool:
        """Never: a supernet's estimates need its whole training."""
        return False

    def start_line(self, cfg, space: Space, search_name: str, total: int, parallel: int) -> str:
        """Supernets, epochs, parallelism and the final round."""
        return (f"search {search_name}: {total} skip supernets (one per depth{' and fold' if cfg.folds > 1 else ''}) of {cfg.max_epochs} epochs, "
                f"{min(parallel, total)} at a time, each estimating every skip pattern of its depth; then the best {cfg.rerank_k} estimates "
                f"trained stand-alone at {cfg.final_epochs} epochs")

    def dry_run_lines(self, cfg, space: Space, limits: SpaceLimits) -> list[dict[str, Any]]:
        """Every supernet, with the patterns it estimates."""
        from recipes.params import TrialParams, supernet_run_name  # deferred: recipes import torch; --help answers without it

        lines = []
        for depth in limits.depths:
            for fold in range(cfg.folds):
                params = TrialParams.from_config({**space.fixed_params(cfg), "depth": depth, "fold": fold})
                lines.append(params.to_dict() | {"run_name": supernet_run_name(params), "estimates": all_patterns(depth), **asdict(supernet_settings(cfg))})
        return lines

    def finish(self, session, results, table, tools: Tools):
        """Record one estimate run per pattern, then train the best estimates stand-alone at the final budget."""
        from .estimates import candidates, record_estimates  # deferred: MLflow; --help and bad flags answer without it

        cfg, fixed = session.cfg, session.space.fixed_params(session.cfg)
        estimates = record_estimates(session.client, session.ctx.experiment_id, session.ctx.parent_run_id, fixed)
        top = candidates(estimates, fixed, cfg.rerank_k)
        if top:
            session.echo(f"supernets estimated {len(estimates)} skip patterns; training the best {len(top)} stand-alone at the final budget "
                         f"({cfg.final_epochs} epochs): " + ", ".join(f"{c['run_name']} (estimate {c['best_val_dice']:.4f})" for c in top))
        return tools.train_at_final_budget(session, top, ESTIMATE_RANKING_TAG), estimates
