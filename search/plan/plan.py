"""The plans file (after nnU-Net's): every choice a search makes before it starts, each phase's predicted time, and
why; written as plan.json beside the store and on the parent run, printed by --dry-run, and run as edited by --plan."""
from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from unet_core.schedules import EPOCH_SCHEDULES
from unet_core.sizes import infeasible

from search.errors import ConfigError

PLAN_VERSION = 1
# the SearchConfig settings a plan sets (its fields of the same name)
PLANNED = ("image_side", "patch_size", "batch_size", "patches_per_epoch", "max_epochs", "grace_period", "num_samples", "rerank_top",
           "final_budget", "final_folds", "channels_last", "base_channels", "schedule", "lr")


def data_key(name: str, images: int, shape: list[int], classes: list[str]) -> str:
    """What identifies the dataset a plan was made for: its name, image count, median shape and classes."""
    return hashlib.sha256(json.dumps([name, images, list(shape), list(classes)]).encode()).hexdigest()[:12]


def _fits(kind: str, value: Any) -> bool:
    """Whether a JSON value is of the plan field's kind (a bool is not a number)."""
    return isinstance(value, bool) if kind == "bool" else isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Plan:
    """One search's plan.

    Attributes:
        dataset / data_key / images: the dataset it was made for (a plan run on other data is refused).
        budget_s: the wall-clock budget it plans to (None: today's defaults, timed).
        parallel: trials at a time; cpus_per_trial / gpus_per_trial: each trial's share.
        image_side: working resolution, the longer side in px (0: the original); whole_image: the patch covers it.
        patch_size, patch_stride, batch_size: the patches (at the working resolution); patches_per_epoch: the setting (0:
            every grid patch, at most 4096), epoch_patches: what that draws an epoch here.
        max_epochs, grace_period, num_samples: the Tune phase (ASHA's max_t and first rung, Optuna's trials).
        rerank_top, final_budget, final_folds: the final round (finalists, epochs, folds; the default U-Net beside them).
        depth: the depth the cost model timed (the deepest searched); base_channels: the first level's width it timed, and
            the width the search trains (arch and ablation; the full space samples its own).
        step_s, epoch_s, channels_last: the measured step and one epoch with its validation (of the deepest net, in the
            precision the trials train in), and the faster memory format.
        predicted_s: each phase's predicted wall seconds (setup, search, final, test, total).
        why: one sentence per decision.
        search_epoch_s: a search trial's epoch seconds to ASHA's first rung as planned (a sampled space: the mean over its
            depths; the epochs past it are timed at the deepest's, epoch_s).
        schedule: every trial's learning-rate schedule: plateau (halved when validation stalls) or cosine (decayed to 1%
            over the training's epochs; a budget's plan, whose every training knows its epochs).
        closing_s: seconds of a final-round training's closing validation on the whole split (recipes.closing_choice).
        lr: Adam's first learning rate in the trainings of the fixed recipe (arch and ablation, and every final round's
            default U-Net); 0 keeps the --lr setting (a plan without a budget, and plans files from before the field).
    """

    dataset: str
    data_key: str
    images: int
    budget_s: float | None
    parallel: int
    cpus_per_trial: float
    gpus_per_trial: float
    image_side: int
    whole_image: bool
    patch_size: int
    patch_stride: int
    batch_size: int
    patches_per_epoch: int
    epoch_patches: int
    max_epochs: int
    grace_period: int
    num_samples: int
    rerank_top: int
    final_budget: int
    final_folds: int
    depth: int
    base_channels: int
    step_s: float
    epoch_s: float
    channels_last: bool
    predicted_s: dict[str, float] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)
    search_epoch_s: float = 0.0
    schedule: str = "plateau"
    closing_s: float = 0.0
    lr: float = 0.0
    version: int = PLAN_VERSION

    def to_json(self) -> str:
        """The plans file's text."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, path: str | Path) -> "Plan":
        """A plans file (ConfigError, one line, where it is missing, not JSON or not a plan)."""
        try:
            raw = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"--plan {path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ConfigError(f"--plan {path}: not JSON ({exc})") from None
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or raw.get("version") != PLAN_VERSION or not names >= set(raw) or not {"dataset", "patch_size"} <= set(raw):
            raise ConfigError(f"--plan {path}: not a plans file of version {PLAN_VERSION} (write one with --dry-run --budget ...)")
        missing = [f.name for f in fields(cls) if f.name not in raw and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ConfigError(f"--plan {path}: not a complete plans file (no {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                              "write one with --dry-run --budget ...")
        for f in fields(cls):  # an edit that wrote "256" or null where a number belongs
            if f.name in raw and f.type in ("int", "float", "bool") and not _fits(f.type, raw[f.name]):
                raise ConfigError(f"--plan {path}: {f.name} must be {'true or false' if f.type == 'bool' else 'a number'}, got {raw[f.name]!r}")
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ConfigError(f"--plan {path}: {exc}") from None

    def check(self, path: str | Path, dataset: str, key: str, depths: tuple[int, ...]) -> None:
        """ConfigError where the plan was made for other data, or an edit made it infeasible for the searched depths."""
        if (self.dataset, self.data_key) != (dataset, key):
            raise ConfigError(f"--plan {path} was made for another dataset ({self.dataset}, {self.images} images): plan this one with --dry-run")
        for d in depths:
            if (why := infeasible(self.patch_size, d)) is not None:
                raise ConfigError(f"--plan {path}: patch_size {self.patch_size} {why} (depth {d})")
        for name in ("batch_size", "max_epochs", "grace_period", "num_samples", "final_budget", "final_folds", "patch_stride", "base_channels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--plan {path}: {name} must be at least 1, got {getattr(self, name)}")
        if self.schedule not in EPOCH_SCHEDULES:
            raise ConfigError(f"--plan {path}: schedule must be one of {', '.join(EPOCH_SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.lr < 1:
            raise ConfigError(f"--plan {path}: lr must be 0 (the --lr setting) or a learning rate below 1, got {self.lr:g}")
        if self.image_side < 0 or 0 < self.image_side < 16:
            raise ConfigError(f"--plan {path}: image_side must be 0 (original resolution) or at least 16 px, got {self.image_side}")

    def apply(self, cfg):
        """`cfg` with the planned settings."""
        return replace(cfg, **{name: getattr(self, name) for name in PLANNED if name != "lr" or self.lr})

    def lines(self) -> list[str]:
        """The plan for the terminal: one line of choices, one of times, then the reasons."""
        p = self.predicted_s
        res = f"{self.image_side} px (longer side)" if self.image_side else "original"
        head = (f"plan: resolution {res}, {'whole-image ' if self.whole_image else ''}patch {self.patch_size} stride {self.patch_stride}, "
                f"batch {self.batch_size}, width {self.base_channels}, {self.epoch_patches} patches an epoch; {self.num_samples} trials of at most {self.max_epochs} "
                f"epochs ({self.parallel} at a time, ASHA rung {self.grace_period}); final round: best {self.rerank_top} and the default "
                f"U-Net, {self.final_budget} epochs on {self.final_folds} fold(s); {self.schedule} learning-rate schedule"
                f"{f' from {self.lr:g}' if self.lr else ''}")
        times = "predicted: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in p.items())
        budget = f" of a {self.budget_s / 60:.0f}-min budget" if self.budget_s else " (no --budget: today's defaults, timed)"
        return [head, times + budget, *(f"  because {w}" for w in self.why)]
