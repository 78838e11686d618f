"""Search spaces as small registered objects (timm-style `register_space` / `create_space`): what each samples or
enumerates, what its trials share, and which settings it takes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from search.errors import ConfigError
from search.registry import Registry

from .limits import SpaceLimits


class Space:
    """One search space. A subclass sets the class attributes and `define` (sampled spaces) or `grid` (enumerated ones).

    Attributes:
        name: the --space value.
        default_samples: trials Optuna samples when --num-samples is not given (sampled spaces).
        default_patches_per_epoch: patches an epoch when --patches-per-epoch is not given (0: every grid patch).
        sampled: Optuna samples the space and ASHA stops the weak (False: every configuration runs, FIFO).
        fixed_recipe: the trials share the search's --loss, --base-channels, --patch-size, --lr and --batch-size.
        default_rerank: configurations re-trained at the final budget when --rerank-top is not given.
        default_final_folds: folds the final round trains each of them (and the default U-Net) on when --final-folds is not
            given; from 2 on, the default U-Net is named unless a finalist beats it beyond the paired noise.
        border_weights: trials may sample a border-weighted loss (the border weight maps are computed where possible).
        samples_width: trials sample the network width and patch (the compute estimate's 8-wide, 64-px speed is its cheap end).
        supernet: --strategy supernet may search this space (one weight-sharing net per depth holds all its skip patterns).
        options: a dataclass of the settings only this space reads (search.settings.setting fields; SearchConfig inherits them).
    """

    name: ClassVar[str] = ""
    default_samples: ClassVar[int] = 8
    default_patches_per_epoch: ClassVar[int] = 0
    sampled: ClassVar[bool] = True
    fixed_recipe: ClassVar[bool] = False
    default_rerank: ClassVar[int] = 0
    default_final_folds: ClassVar[int] = 1
    border_weights: ClassVar[bool] = False
    samples_width: ClassVar[bool] = False
    supernet: ClassVar[bool] = False
    options: ClassVar[type | None] = None

    def check(self, cfg) -> None:
        """Raise ConfigError where `cfg` asks this space for something it does not take."""
        if cfg.repeats > 1 and self.sampled:
            raise ConfigError("--repeats applies to --space ablation (Optuna spaces sample each configuration once)")
        if cfg.rerank_top and not self.sampled:
            raise ConfigError("--rerank-top applies to Optuna spaces (quick, arch, full): the ablation trains every configuration at one budget")
        if cfg.skips and self.sampled:
            raise ConfigError("--skips applies to --space ablation (quick/full search the skip bits)")

    def fixed_params(self, cfg) -> dict[str, Any]:
        """Values every trial of the space shares."""
        return {"epochs": cfg.max_epochs, "patches_per_epoch": cfg.patches_per_epoch, "seed": cfg.seed, "precision": cfg.precision,
                **({"image_side": cfg.image_side} if cfg.image_side else {}),
                **({"channels_last": cfg.channels_last} if cfg.channels_last is not None else {}),
                **({"schedule": cfg.schedule} if cfg.schedule != "plateau" else {})}

    def max_trial_epochs(self, cfg) -> int:
        """The most epochs any trial of the space can report (ASHA's max_t)."""
        return cfg.max_epochs

    def rerank_k(self, cfg) -> int:
        """How many of the search's best configurations are re-trained at the final budget (0: none)."""
        if not self.sampled:
            return 0
        return self.default_rerank if cfg.rerank_top is None else cfg.rerank_top

    def trial_count(self, cfg, limits: SpaceLimits) -> int:
        """How many trials one search of the space runs."""
        return cfg.num_samples

    def define(self, trial, limits: SpaceLimits) -> dict[str, Any]:
        """Optuna define-by-run: suggest this space's values on `trial`; returns the values derived from them."""
        raise NotImplementedError(f"--space {self.name} is not sampled")

    def grid(self, cfg, limits: SpaceLimits) -> dict[str, Any]:
        """Tune's param_space of an enumerated space (tune.grid_search values)."""
        raise NotImplementedError(f"--space {self.name} is sampled, not enumerated")

    def dry_run_lines(self, cfg, limits: SpaceLimits) -> list[dict[str, Any]]:
        """What --dry-run prints: the first configurations Optuna samples (seeded as the search is)."""
        import optuna  # deferred: --help and bad flags answer without loading Optuna

        from recipes.params import TrialParams  # deferred: recipes imports torch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.optuna_seed))
        space, lines = define_by_run(cfg, limits), []
        for _ in range(cfg.num_samples):
            trial = study.ask()
            constants = space(trial)  # suggests first: trial.params holds what it sampled
            params = TrialParams.from_config({**trial.params, **constants})
            lines.append(params.to_dict() | {"run_name": params.run_name})
            study.tell(trial, 0.0)
        return lines


_REGISTRY: Registry[Space] = Registry("space")


def register_space(cls: type[Space]) -> type[Space]:
    """Class decorator: make `cls` available as --space cls.name."""
    return _REGISTRY.register(cls)


def create_space(name: str) -> Space:
    """The registered space `name` (UnknownName, one line, for any other)."""
    return _REGISTRY.create(name)


def space_names() -> tuple[str, ...]:
    """Every registered space, in registration order."""
    return _REGISTRY.names()


@dataclass(frozen=True)
class DefineByRun:
    """The Optuna define-by-run function of a space, with the values every trial shares.

    A module-level callable (not a closure) so Tune can pickle the searcher's state for --resume. An unregistered space
    name is an error (UnknownName), never another space.
    """

    space: str
    limits: SpaceLimits
    constants: tuple[tuple[str, Any], ...] = ()

    def __call__(self, trial) -> dict[str, Any]:
        return {**dict(self.constants), **create_space(self.space).define(trial, self.limits)}


def define_by_run(cfg, limits: SpaceLimits) -> DefineByRun:
    """The Optuna define-by-run function of cfg's (sampled) space, its fixed values included."""
    return DefineByRun(cfg.space, limits, tuple(sorted(create_space(cfg.space).fixed_params(cfg).items())))


def fixed_recipe_params(cfg) -> dict[str, Any]:
    """The recipe values the ablation and arch spaces take from the search's flags (and its folds)."""
    return {"loss": cfg.loss, "base_channels": cfg.base_channels, "patch_size": cfg.patch_size, "patch_stride": cfg.patch_size // 2, "lr": cfg.lr,
            "augment": "light", "batch_size": cfg.batch_size, **({"folds": cfg.folds, "split_seed": cfg.seed} if cfg.folds > 1 else {})}
