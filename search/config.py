"""The search's settings, declared once (search.settings: the flags are generated from these fields) and validated at the
edge, before Ray, MLflow or any data is touched."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unet_core.precision import PRECISIONS
from unet_core.sizes import MAX_DEPTH, infeasible

from search.errors import ConfigError, SearchInterrupted, SearchStopped  # noqa: F401 - raised by the search; imported from here too
from search.plan.budget import parse_budget
from search.plan.planner import PLAN_LR
from search.settings import comma_list, setting
from search.spaces import create_space, space_names
from search.strategies import create_strategy, strategy_names

# how quick/arch/full trials validate (search.noise); here, not there: search.noise imports Ray, which must not load before
# search.driver.quiet has set its environment (a Ray imported at validation printed a token-authentication warning)
VALIDATIONS = ("fixed", "reshuffle", "race")


def _patch(text: str) -> int:
    """--patch-size: a number of pixels, or auto (0)."""
    try:
        return 0 if text == "auto" else int(text)
    except ValueError:
        raise ConfigError(f"--patch-size {text!r}: give a number of pixels or auto") from None


def _owned_settings() -> tuple[type, ...]:
    """The settings dataclasses of the registered spaces and strategies (each declares the flags only it reads)."""
    owners = [create_space(n) for n in space_names()] + [create_strategy(n) for n in strategy_names()]
    return tuple(o.options for o in owners if o.options is not None)


def _rerank_defaults() -> str:
    sampled = [k for k in space_names() if create_space(k).sampled]
    by = {}
    for k in sampled:
        by.setdefault(create_space(k).default_rerank, []).append(k)
    return ", ".join(f"{n} for {' and '.join(ks)}" for n, ks in sorted(by.items(), reverse=True))


def _sampled_defaults() -> str:
    return ", ".join(f"{k} {create_space(k).default_samples}" for k in space_names() if create_space(k).sampled)


@dataclass
class SearchConfig(*_owned_settings()):
    """Settings of one search: the CLI's flags (each field's help is its --help line), plus `eval_tile`, `dataset_options`
    (the loader options: --green, --num-classes) and `points_to_evaluate` (configurations Optuna tries first), which are
    set by code. The spaces and strategies declare the settings only they read (search.strategies.owned_settings)."""

    space: str = setting("quick", " | ".join(space_names()))
    dataset: str = setting("synthetic", "the dataset (python -m search.run --help lists them under --dataset's choices)", shown="synthetic, embedded")
    data_root: str | None = setting(None, "the dataset's folder in its official layout")
    num_samples: int | None = setting(None, "trials Optuna samples (quick, arch, full; the ablation runs every configuration)", shown=_sampled_defaults())
    budget: float | None = setting(None, "plan the search to this wall-clock time, final round and test score included: 45m, 2h, "
                                   "1h30m (the working resolution, patch, epochs, trials and final round are chosen on a cost model "
                                   "measured here; --dry-run prints the plan)", parse=parse_budget, shown="no plan: the settings as given")
    plan: str | None = setting(None, "run this plans file (plan.json, as --dry-run --budget writes it, edited as you like) instead of "
                               "planning", shown="none")
    max_epochs: int = setting(6, "epochs of each trial's training (ASHA's budget; full-space saliency trials retrain up to twice more for "
                              "half as many epochs each)")
    cpus_per_trial: float = setting(1.0, "CPUs (and PyTorch threads) each trial gets; trials run side by side on the rest", shown="1")
    gpus_per_trial: float = setting(0.0, "GPUs each trial gets; fractions share a GPU, e.g. 0.25", shown="0")
    address: str | None = setting(None, "an existing Ray cluster: auto or ray://HOST:PORT", shown="start a local Ray")
    experiment: str = setting("unet-search", "MLflow experiment name (also the Tune folder under --storage)")
    register: str = setting("", "the registered model the search's chosen U-Net becomes a new version of (an existing name gets a new "
                            "version, never an overwrite)", shown="the --experiment name")
    tracking_uri: str | None = setting(None, "MLflow tracking URI", shown="$MLFLOW_TRACKING_URI or sqlite:///mlflow/mlflow.db")
    storage: str = setting("ray_results", "Ray Tune storage folder")
    resume: bool = setting(False, "continue the newest unfinished search of --experiment")
    dry_run: bool = setting(False, "print the trial configurations (JSON lines on stdout) and the expected compute (on stderr, timed on "
                            "this machine), then exit")
    seed: int = setting(0, "seeds Optuna's sampler, the data split and folds, and every trial's initialisation and patch order: the "
                        "same command with the same --seed samples the same trials again", "recipe")
    base_channels: int = setting(8, "ablation and arch: width of the first level's convolutions (quick keeps 8, full searches 4/8/16; "
                                 "with --budget the plan chooses 16 or 8)", "recipe", shown="8, or planned with --budget")
    batch_size: int = setting(16, "ablation and arch: patches per training step; with large patches (ISIC's 192 px) a smaller batch keeps "
                              "the number of steps up at the same compute (quick keeps 16, full searches 8/16/32)", "recipe")
    patch_size: int = setting(0, "ablation and arch: training patch side, a number or auto = the dataset fingerprint's recommendation "
                              "(about 3 foreground-structure widths, at least 64; see python -m datasets.inspect); quick and full search it",
                              "recipe", parse=_patch, shown="auto")
    patches_per_epoch: int | None = setting(None, "patches drawn per epoch, every space; 0 = every grid patch at the trial's stride (half "
                                            "the patch in ablation and arch), at most 4096, drawn anew each epoch where the grid holds more "
                                            "(DRIVE's 64-px grid: about 4,600; Kvasir's 1000 images at 32 px: about a million); the full "
                                            "space samples the stride, so it draws a fixed number, and --dry-run states the compute", "recipe",
                                            shown="0 for quick, arch and ablation; 1024 for full")
    loss: str = setting("dice_bce", "ablation and arch: the loss (quick and full search it)", "recipe")
    lr: float = setting(3e-3, "ablation and arch, and every final round's default U-Net: Adam's learning rate (quick and full search "
                        f"it; with --budget the plan sets {PLAN_LR:g}, `lr` in the plans file)", "recipe", shown=f"3e-3, or {PLAN_LR:g} planned with --budget")
    image_side: int = setting(0, "working resolution: train on images resized so their longer side is this many px (a resized copy "
                              "in the store), score at the original resolution; 0 = original", "recipe", shown="0, or planned with --budget")
    val_images: int = setting(32, "validation images scored every epoch, the first of the validation split, the same for every trial; "
                              "0 = all", "recipe", shown="32: DRIVE, ISBI 2012 and ISIC hold fewer")
    depths: tuple[int, ...] = setting((), "comma-separated U-Net depths to search, e.g. 2,3", "search", shown="1..4 as the data allows",
                                      parse=comma_list(int, "--depths", "whole numbers separated by commas, e.g. 2,3"))
    max_failures: int = setting(2, "retries of a trial whose process or node died (a trial's own error is never retried)", "search")
    searcher_seed: int | None = setting(None, "seed of Optuna alone: same trials, other samples", "search", shown="--seed")
    stop_at: float | None = setting(None, "end the search once a trial reaches this validation Dice", "search", shown="run every trial")
    precision: str = setting("auto", f"{' | '.join(PRECISIONS)}: training precision of every trial: auto = bf16 autocast + channels_last "
                             "where bf16 is native (CUDA, AVX512-BF16/AMX CPUs), else fp32", "search")
    folds: int = setting(1, "ablation and --strategy supernet: k-fold cross-validation over the training images, each configuration "
                         "scored on every held-out fold", "search", shown="1: the dataset's validation split")
    grace_period: int = setting(2, "quick, arch, full: ASHA's first rung, in epochs", "search")
    reduction_factor: int = setting(2, "quick, arch, full: ASHA keeps 1 in this many trials at each rung", "search")
    rerank_top: int | None = setting(None, "quick, arch, full: before declaring a winner, train the search's best K configurations at "
                                     "--final-budget epochs and pick among them there; 0 = off", "search", shown=_rerank_defaults())
    final_budget: int | None = setting(None, "epochs of those re-ranking trials: the budget you will train the winner at", "search",
                                       shown="2 x --max-epochs")
    final_baseline: bool = setting(True, "with re-ranking, also train the default U-Net (depth 4, every skip, the arch space's recipe) at "
                                   "--final-budget beside the search's best, so the winner is never one it beats there", "search", negatable=True)
    validation: str = setting("fixed", " | ".join(VALIDATIONS) + ": how quick, arch and full trials validate: fixed (every trial on the "
                              "dataset's validation split), reshuffle (each trial its own seeded random split, recorded on its run) or race "
                              "(every evaluation on one fold of --race-partition folds; a configuration that tops its rungs and beats the "
                              "incumbent is scored on more of the incumbent's folds before it may replace it; the default U-Net is the first "
                              "incumbent)", "noise")
    race_folds: int = setting(3, "race: the most folds a configuration is scored on", "noise")
    race_partition: int = setting(5, "race and --final-folds: folds of the partition of the training images", "noise")
    final_folds: int | None = setting(None, "the final round trains each finalist and the default U-Net on this many folds; from 2 on, the "
                                      "default U-Net is named unless a finalist beats it by more than --default-margin standard errors of "
                                      "the paired margin; 1: on the search's split, the best there wins", "noise",
                                      shown="2 for arch and full, 1 for quick and --strategy supernet")
    default_margin: float = setting(1.0, "standard errors of the paired margin a finalist must beat the default U-Net by", "noise", shown="1")
    strategy: str = setting("trials", " | ".join(strategy_names()) + ": arch: trials (Optuna samples configurations, each trained) or "
                            "supernet (one weight-sharing skip supernet per depth estimates every skip pattern; the best --rerank-top are "
                            "then trained stand-alone at --final-budget)", "strategy")
    channels_last: bool | None = None  # set by a budget's plan: the memory format its cost model measured faster here
    schedule: str = "plateau"  # set by a budget's plan (cosine: every training knows its epochs): recipes.TrialParams.schedule
    eval_tile: int = 640  # largest tile of full-image validation and test inference (images up to it: one tile)
    dataset_options: dict[str, Any] = field(default_factory=dict)  # loader options (search.run fills them from datasets.registry's options)
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)  # configurations Optuna tries first

    def __post_init__(self) -> None:
        if self.tracking_uri and self.tracking_uri.startswith("sqlite:///") and not self.tracking_uri.startswith("sqlite:////"):
            # a relative SQLite path: trials run in their own folders and would open another, empty store there
            self.tracking_uri = "sqlite:///" + str(Path(self.tracking_uri[len("sqlite:///"):]).expanduser().resolve())
        space = create_space(self.space)  # an unknown name: UnknownName, a ConfigError
        if self.num_samples is None:
            self.num_samples = space.default_samples
        if self.patches_per_epoch is None:
            self.patches_per_epoch = space.default_patches_per_epoch
        if self.val_images < 0:
            raise ConfigError(f"--val-images must be >= 0 (0: the whole validation split), got {self.val_images}")
        if self.patches_per_epoch < 0:
            raise ConfigError(f"--patches-per-epoch must be >= 0 (0: every grid patch), got {self.patches_per_epoch}")
        self._check_dataset()
        for name in ("num_samples", "max_epochs", "repeats", "grace_period", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.cpus_per_trial <= 0:
            raise ConfigError(f"--cpus-per-trial must be positive, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            raise ConfigError(f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise ConfigError(f"--gpus-per-trial above 1 must be a whole number, got {self.gpus_per_trial}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.experiment):
            raise ConfigError(f"--experiment must be letters, digits, '_', '.' or '-', got {self.experiment!r}")
        if self.register and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.register):
            raise ConfigError(f"--register must be letters, digits, '_', '.' or '-', got {self.register!r}")
        if self.reduction_factor < 2:
            raise ConfigError(f"ASHA reduction factor must be >= 2, got {self.reduction_factor}")
        if self.max_failures < 0:
            raise ConfigError(f"--max-failures must be >= 0, got {self.max_failures}")
        if self.stop_at is not None and not 0 < self.stop_at <= 1:
            raise ConfigError(f"--stop-at is a validation Dice in (0, 1], got {self.stop_at}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.folds < 1:
            raise ConfigError(f"--folds must be at least 1, got {self.folds}")
        strategy = create_strategy(self.strategy)
        if self.folds > 1 and space.sampled and not strategy.takes_folds:
            raise ConfigError("--folds applies to --space ablation (the study) and to --strategy supernet: Optuna spaces validate on the "
                              "dataset's validation split")
        if self.rerank_top is not None and self.rerank_top < 0:
            raise ConfigError(f"--rerank-top must be >= 0 (0: off), got {self.rerank_top}")
        space.check(self)
        strategy.check(self, space)
        self._check_noise(space, strategy)
        if self.budget is not None and self.plan:
            raise ConfigError("give --budget (plan now) or --plan FILE (run a plan made before), not both: a plan keeps its own budget")
        if self.plan:
            self.plan = str(Path(self.plan).expanduser().resolve())
        if self.image_side < 0 or 0 < self.image_side < 16:
            raise ConfigError(f"--image-side must be 0 (original resolution) or at least 16 px, got {self.image_side}")
        if self.final_budget is not None and self.final_budget < 1:
            raise ConfigError(f"--final-budget must be at least 1 epoch, got {self.final_budget}")
        self._check_loss()
        self._check_architecture()

    def _check_dataset(self) -> None:
        from datasets.registry import DATASETS, dataset_options  # deferred: the loaders import numpy and PIL; bad flags answer without them

        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}")
        options = dataset_options()
        for name in self.dataset_options:
            takers = options[name][1] if name in options else (self.dataset,)  # options set by code (a bench's size=) pass as they are
            if self.dataset not in takers:
                raise ConfigError(f"--{name.replace('_', '-')} applies to the datasets {', '.join(takers)}; {self.dataset} "
                                  + ("has its own classes" if name == "num_classes" else "does not take it"))
        if self.dataset_options.get("split_lists"):  # trials read it from their own folders
            self.dataset_options["split_lists"] = str(Path(self.dataset_options["split_lists"]).expanduser().resolve())
        classes = self.dataset_options.get("num_classes")
        if classes is not None and (classes < 2 or (self.dataset != "folder" and classes != 2)):
            raise ConfigError(f"--num-classes {classes}: " + ("give at least 2" if self.dataset == "folder" else f"{self.dataset} masks are binary: use 2"))

    def _check_loss(self) -> None:
        from unet_core.losses import LOSSES  # deferred: imports torch; bad flags answer without it

        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")

    def _check_noise(self, space, strategy) -> None:
        if self.final_folds is None:  # the default unless better needs the default U-Net beside the finalists (not --strategy supernet)
            self.final_folds = space.default_final_folds if strategy.trains_default_unet else 1

        if self.validation not in VALIDATIONS:
            raise ConfigError(f"unknown validation {self.validation!r}: choose one of {', '.join(VALIDATIONS)}")
        if self.validation != "fixed" and not (space.sampled and strategy.races):
            raise ConfigError(f"--validation {self.validation} applies to the sampled spaces (quick, arch, full) with --strategy trials; "
                              "the ablation study validates on --folds")
        if self.race_partition < 2:
            raise ConfigError(f"--race-partition must be at least 2 folds, got {self.race_partition}")
        if not 1 <= self.race_folds <= self.race_partition:
            raise ConfigError(f"--race-folds must be in 1..--race-partition ({self.race_partition}), got {self.race_folds}")
        if not 1 <= self.final_folds <= self.race_partition:
            raise ConfigError(f"--final-folds must be in 1..--race-partition ({self.race_partition}), got {self.final_folds}")
        if self.default_margin < 0:
            raise ConfigError(f"--default-margin is a number of standard errors >= 0, got {self.default_margin}")

    def _check_architecture(self) -> None:
        self.depths = tuple(sorted({int(d) for d in self.depths}))
        self.skips = tuple(str(s) for s in self.skips)
        for d in self.depths:
            if not 1 <= d <= MAX_DEPTH:
                raise ConfigError(f"--depths {d}: a U-Net depth must be in 1..{MAX_DEPTH}")
        for pattern in self.skips:
            if not pattern or set(pattern) - {"0", "1"}:
                raise ConfigError(f"--skips {pattern!r}: a skip pattern is a string of 0/1 bits, one per level (e.g. 1001)")
            if self.depths and len(pattern) not in self.depths:
                raise ConfigError(f"--skips {pattern}: {len(pattern)} bits, but --depths is {','.join(map(str, self.depths))}: "
                                  "a pattern needs one bit per level")
        if self.patch_size < 0:
            raise ConfigError(f"--patch-size must be a positive number of pixels or auto, got {self.patch_size}")
        if create_space(self.space).fixed_recipe and self.patch_size:  # their patch size is fixed (0: auto, checked once the data is read)
            for d in self.ablation_depths:
                if (why := infeasible(self.patch_size, d)) is not None:
                    halved, remedy = why.split(": ", 1)
                    raise ConfigError(f"--patch-size {self.patch_size} {halved} (depth {d}): {remedy}")

    @property
    def rerank_k(self) -> int:
        """How many of the search's best configurations are re-trained at the final budget (0: none)."""
        return create_space(self.space).rerank_k(self)

    @property
    def final_trials(self) -> int:
        """At most how many trainings the final budget takes: the re-ranked configurations, plus the default U-Net beside them,
        each on --final-folds folds."""
        if not self.rerank_k:
            return 0
        return (self.rerank_k + (1 if self.final_baseline and create_strategy(self.strategy).trains_default_unet else 0)) * self.final_folds

    @property
    def final_epochs(self) -> int:
        """The epochs of the re-ranking trials."""
        return self.final_budget if self.final_budget is not None else 2 * self.max_epochs

    @property
    def optuna_seed(self) -> int:
        """The seed of Optuna's sampler."""
        return self.seed if self.searcher_seed is None else self.searcher_seed

    @property
    def ablation_depths(self) -> tuple[int, ...]:
        """The depths an ablation runs: those of --skips, else --depths, else 1..4."""
        if self.skips:
            return tuple(sorted({len(p) for p in self.skips}))
        return self.depths or (1, 2, 3, 4)

    @property
    def storage_path(self) -> Path:
        """Absolute Tune storage folder for this experiment."""
        return (Path(self.storage).expanduser().resolve() / self.experiment)

    def to_params(self) -> dict[str, Any]:
        """The settings worth logging on the parent run."""
        skip = {"dry_run", "resume", "points_to_evaluate", "dataset_options"}
        chosen = create_strategy(self.strategy)
        skip |= {key for name in strategy_names() if name != self.strategy for key in create_strategy(name).settings if key not in chosen.settings}
        out = {k: v for k, v in asdict(self).items() if k not in skip and v is not None and v != ()}
        out.update({k: ",".join(map(str, getattr(self, k))) for k in ("depths", "skips") if getattr(self, k)})
        out.update({f"dataset_{k}": v for k, v in self.dataset_options.items()})
        return out
