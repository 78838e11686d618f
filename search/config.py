"""The search's settings, validated at the edge (before Ray, MLflow or any data is touched)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets.registry import DATASETS
from unet_core.losses import LOSSES
from unet_core.precision import PRECISIONS
from unet_core.sizes import MAX_DEPTH, infeasible

from search.errors import ConfigError, SearchInterrupted, SearchStopped  # noqa: F401 - raised by the search; imported from here too
from search.spaces import create_space
from search.strategies import STRATEGIES, create_strategy

NUM_CLASSES_DATASETS = ("folder", "drive", "isic")  # loaders that take --num-classes


# how quick/arch/full trials validate (search.noise); here, not there: search.noise imports Ray, which must not load before
# search.driver.quiet has set its environment (a Ray imported at validation printed a token-authentication warning)
VALIDATIONS = ("fixed", "reshuffle", "race")

@dataclass
class SearchConfig:
    """Settings of one search (the CLI's flags).

    Attributes:
        space: quick, ablation, arch (the ablation's depth/skip space by Optuna and ASHA) or full.
        dataset / data_root / dataset_options: what to train on.
        num_samples: trials sampled by Optuna (quick/arch/full; None: the space's default_samples); ablation runs every configuration.
        max_epochs: epochs of each trial's first training round (ASHA's budget per trial).
        repeats: seeds per configuration (ablation).
        cpus_per_trial / gpus_per_trial: each trial's resources (fractions allowed).
        address: an existing Ray cluster ("auto" or ray://host:port); None starts a local one.
        experiment: MLflow experiment name (also the Tune folder under storage).
        register: the registered model name the chosen U-Net becomes a new version of ("": the experiment name).
        tracking_uri: MLflow tracking URI.
        storage: Ray Tune storage folder.
        resume: continue the newest unfinished search of this experiment.
        dry_run: print the trial configurations and exit.
        seed: seeds Optuna, the data split and the trials.
        patches_per_epoch: patches drawn per epoch (0: every grid patch, at most recipes.EPOCH_PATCH_CAP; None: the space's default_patches_per_epoch).
        base_channels, patch_size, loss: fixed values of the ablation and arch spaces; patch_size 0 = auto
            (the dataset fingerprint's recommended patch, resolved once the data is read).
        batch_size: patches per training step in the ablation and arch spaces (quick keeps 16, full searches 8/16/32).
        grace_period / reduction_factor: ASHA's settings.
        eval_tile: largest tile of full-image validation and test inference (images up to it: one tile).
        val_images: validation images each epoch scores, the first of the validation split (0: all): full-image inference
            costs a trial's epoch more than its training on large splits (Kvasir's 100 images: 40 s against 10 s).
        points_to_evaluate: configurations Optuna tries first.
        depths: the U-Net depths searched (empty: every depth the dataset allows, up to 4).
        skips: ablation only: the skip patterns to run (empty: every pattern of every depth).
        max_failures: retries of a trial whose process or node died (a trial's own error is never retried).
        searcher_seed: seeds Optuna alone (None: --seed), so searches differ only in the configurations they sample.
        stop_at: end the search as soon as a trial reports this validation Dice (None: run every trial).
        precision: auto, fp32 or bf16 for every trial's training (unet_core.precision).
        folds: ablation only: k-fold cross-validation over the training images (1: the dataset's validation split).
        rerank_top: quick/arch/full: before declaring a winner, train the search's best this many configurations at
            `final_budget` epochs and pick among them there (None: 3 for arch and full, 0 = off for quick).
        final_budget: the epochs of that re-ranking, the budget the user will train the winner at (None: 2 x max_epochs).
        final_baseline: with re-ranking (strategy "trials"), also train the default U-Net at the final budget beside the
            search's best: depth 4 (or the deepest the search allows) with every skip, at the arch space's fixed recipe. The
            winner is then never a configuration that the plain U-Net beats there on validation.
        strategy: arch only: "trials" (Optuna samples configurations, each trained) or "supernet" (one skip supernet per
            depth, and fold with `folds`, trained for max_epochs; its `rerank_top` best estimates trained stand-alone at
            `final_budget`).
        supernet_sampling / supernet_warmup / supernet_recalibrate: the supernet's pattern draw per batch ("fair" or
            "uniform"), epochs of all-skips training before sampling starts, and batches of batch-norm recalibration per
            pattern before it is scored (recipes.supernet.SupernetSettings; 0, the default: the shared statistics, which
            ranked better than 8 or 32 recalibration batches in bench/supernet_rank.py).
        validation: how quick/arch/full trials validate (search.noise): "fixed" (every trial on the dataset's validation
            split), "reshuffle" (each trial on its own seeded random split of the training + validation images, as many
            validation images; recorded as the run's val_seed and unet.val_images) or "race" (every evaluation on one fold
            of a `race_partition`-fold partition; a configuration that tops its ASHA rungs and beats the incumbent is scored
            on up to `race_folds` of the incumbent's folds before it may replace it; the default U-Net is the first incumbent).
        final_folds: the final round trains every finalist and the default U-Net on this many folds of the same partition
            (1: on the search's split); with 2 or more its choice is the default unless a finalist beats it by more than
            `default_margin` standard errors of the paired margin (search.noise.choose_final), recorded on the parent run.
            None: the space's default (arch and full 2: bench/search_replay.py).
    """

    space: str = "quick"
    dataset: str = "synthetic"
    data_root: str | None = None
    num_samples: int | None = None
    max_epochs: int = 6
    repeats: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    experiment: str = "unet-search"
    register: str = ""
    tracking_uri: str | None = None
    storage: str = "ray_results"
    resume: bool = False
    dry_run: bool = False
    seed: int = 0
    base_channels: int = 8
    batch_size: int = 16
    patch_size: int = 0
    patches_per_epoch: int | None = None
    loss: str = "dice_bce"
    lr: float = 3e-3
    grace_period: int = 2
    reduction_factor: int = 2
    eval_tile: int = 640
    val_images: int = 32
    dataset_options: dict[str, Any] = field(default_factory=dict)
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    depths: tuple[int, ...] = ()
    skips: tuple[str, ...] = ()
    max_failures: int = 2
    searcher_seed: int | None = None
    stop_at: float | None = None
    precision: str = "auto"
    folds: int = 1
    rerank_top: int | None = None
    final_budget: int | None = None
    final_baseline: bool = True
    strategy: str = "trials"
    supernet_sampling: str = "fair"
    supernet_warmup: int = 0
    supernet_recalibrate: int = 0
    validation: str = "fixed"
    race_folds: int = 3
    race_partition: int = 5
    final_folds: int | None = None
    default_margin: float = 1.0

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
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}")
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
        if self.final_budget is not None and self.final_budget < 1:
            raise ConfigError(f"--final-budget must be at least 1 epoch, got {self.final_budget}")
        classes = self.dataset_options.get("num_classes")
        if classes is not None:
            if self.dataset not in NUM_CLASSES_DATASETS:
                raise ConfigError(f"--num-classes applies to the datasets {', '.join(NUM_CLASSES_DATASETS)}; {self.dataset} has its own classes")
            if classes < 2 or (self.dataset != "folder" and classes != 2):
                raise ConfigError(f"--num-classes {classes}: " + ("give at least 2" if self.dataset == "folder" else f"{self.dataset} masks are binary: use 2"))
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        self._check_architecture()

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
        skip |= {key for name in STRATEGIES if name != self.strategy for key in create_strategy(name).settings if key not in chosen.settings}
        out = {k: v for k, v in asdict(self).items() if k not in skip and v is not None and v != ()}
        out.update({k: ",".join(map(str, getattr(self, k))) for k in ("depths", "skips") if getattr(self, k)})
        out.update({f"dataset_{k}": v for k, v in self.dataset_options.items()})
        return out
