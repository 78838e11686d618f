"""Search strategies as small registered objects (`register_strategy` / `create_strategy`): how a search turns its
space into Tune trials, and what it does once they end."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar

from search.registry import Registry
from search.spaces import Space, SpaceLimits


class Strategy:
    """One way to search a space.

    Attributes:
        name: the --strategy value.
        role: the MLflow role of its Tune trials' runs (search.tracking.schema).
        trains_default_unet: its final round trains the default U-Net beside the finalists (with --final-baseline).
        takes_folds: --folds applies to it in any space (the ablation's folds apply in every strategy).
        races: --validation reshuffle and race apply to it (its trials train stand-alone configurations).
        options: a dataclass of the settings only this strategy reads, declared with search.settings.setting; SearchConfig
            inherits its fields (so its flags are generated), and they are logged on the parent run only for it.
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = ""
    trains_default_unet: ClassVar[bool] = False
    takes_folds: ClassVar[bool] = False
    races: ClassVar[bool] = False
    options: ClassVar[type | None] = None

    @property
    def settings(self) -> tuple[str, ...]:
        """The SearchConfig fields only this strategy reads."""
        return tuple(f.name for f in fields(self.options)) if self.options is not None else ()

    def check(self, cfg, space: Space) -> None:
        """Raise ConfigError where `cfg` asks this strategy for something it does not do."""

    def function(self):
        """The Tune function trainable of its trials."""
        raise NotImplementedError

    def phase(self, cfg, space: Space, limits: SpaceLimits, tools: "Tools") -> tuple[dict[str, Any], Any]:
        """(param_space, TuneConfig) of its Tune phase, made with the driver's `tools`."""
        raise NotImplementedError

    def trial_count(self, cfg, space: Space, limits: SpaceLimits) -> int:
        """How many Tune trials its phase runs."""
        return space.trial_count(cfg, limits)

    def early_stopping(self, space: Space) -> bool:
        """Whether ASHA may stop its trials early."""
        return space.sampled

    def start_line(self, cfg, space: Space, search_name: str, total: int, parallel: int) -> str:
        """What the search is about to run, in one line."""
        raise NotImplementedError

    def dry_run_lines(self, cfg, space: Space, limits: SpaceLimits) -> list[dict[str, Any]]:
        """What --dry-run prints."""
        return space.dry_run_lines(cfg, limits)

    def finish(self, session, results, table, tools: "Tools"):
        """After its phase: (the final budget's trial table or None, a supernet's estimates or None), with the driver's `tools`."""
        raise NotImplementedError


@dataclass(frozen=True)
class Tools:
    """The driver's pieces a strategy's phase and finish call (search.driver.tools.TOOLS): the driver imports the strategies
    and lends them these, so that no strategy imports the driver."""

    tune_config: Callable[..., Any]  # search.driver.tuner: a TuneConfig of a searcher, scheduler and sample count
    make_searcher: Callable[..., Any]  # Optuna's searcher over the space
    make_scheduler: Callable[..., Any]  # ASHA
    default_unet_config: Callable[..., dict[str, Any]]  # search.driver.final: the default U-Net's Tune config
    rerank_at_final_budget: Callable[..., Any]  # the final round of a trials search
    train_at_final_budget: Callable[..., Any]  # train given candidates at the final budget


_REGISTRY: Registry[Strategy] = Registry("strategy")


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make `cls` available as --strategy cls.name."""
    return _REGISTRY.register(cls)


def create_strategy(name: str) -> Strategy:
    """The registered strategy `name` (UnknownName, one line, for any other)."""
    return _REGISTRY.create(name)


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy, in registration order."""
    return _REGISTRY.names()
