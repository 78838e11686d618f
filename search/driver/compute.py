"""What a search will cost before it runs: trials, epochs, patches, and a time measured on this machine."""
from __future__ import annotations

from dataclasses import dataclass

from datasets import SegmentationData
from datasets.patching import grid_positions

from recipes.settings import EPOCH_PATCH_CAP
from search.config import SearchConfig
from search.plan import Plan
from search.plan.cost import time_steps
from search.spaces import create_space
from search.strategies import create_strategy


@dataclass
class Compute:
    """A search's expected compute: `patches` patch passes in all, `seconds_per_patch` measured here, `parallel` trials at once."""

    trials: int
    epochs_per_trial: int
    patches_per_epoch: int
    patches: int
    patch: int
    seconds_per_patch: float
    parallel: int
    early_stopping: bool
    rerank_trials: int = 0  # the best configurations retrained at the final budget afterwards (search.driver.rerank)
    rerank_epochs: int = 0
    baseline: bool = False  # the default U-Net trained beside them at the final budget
    final_folds: int = 1  # each of them on this many folds (--final-folds)
    sampled_width: bool = False  # the full space samples width and patch: the measured 8-wide, 64-px speed is its cheap end
    timed: str = "a depth-4 U-Net measured here"  # what the step was timed on

    @property
    def minutes(self) -> float:
        """Wall minutes at the measured speed with `parallel` trials at once (validation not included)."""
        return self.patches * self.seconds_per_patch / self.parallel / 60

    def line(self) -> str:
        """One plain sentence for the terminal."""
        bound = "at most " if self.early_stopping else ""
        epochs = f"{self.trials} trials x {bound}{self.epochs_per_trial} epochs"
        if self.rerank_trials:  # the best few retrained at the final budget once the search ends
            beside = " and the default U-Net" if self.baseline else ""
            folds = f" x {self.final_folds} folds" if self.final_folds > 1 else ""
            epochs = f"({epochs} + {self.rerank_trials} re-ranking trials{beside}{folds} x {self.rerank_epochs} epochs)"
        return (f"expected compute: {epochs} x {self.patches_per_epoch} patches of {self.patch} px = "
                f"{bound}{self.patches:,} patch passes; at {1000 * self.seconds_per_patch:.1f} ms per patch ({self.timed}) and "
                f"{self.parallel} trial(s) at a time, {bound}~{self.minutes:.0f} min of training"
                + (" (ASHA stops most trials early)" if self.early_stopping else "")
                + ("; the full space also samples 16-wide nets and 128-px patches, up to 16x that cost a patch" if self.sampled_width else ""))


def grid_patches(data: SegmentationData, patch: int) -> int:
    """Patches of one epoch over the training images when every grid patch is used (stride half the patch)."""
    return sum(len(grid_positions(s.image.shape[-2], s.image.shape[-1], patch, max(1, patch // 2))) for s in data.train)


def seconds_per_patch(base_channels: int, patch: int, depth: int = 4, threads: int = 1, batch: int = 16, steps: int = 3) -> float:
    """Training seconds per patch of a U-Net at this width and patch on this machine with a trial's `threads` (a few timed
    fp32 steps: the plan's cost model's timing, search.plan.cost.time_steps)."""
    return time_steps(depth, base_channels, patch, batch, False, "cpu", threads, steps) / batch


def expected_compute(cfg: SearchConfig, data: SegmentationData, trials: int, epochs_per_trial: int, cpus: float,
                     plan: Plan | None = None) -> Compute:
    """The expected compute of the search `cfg` on `data` (its patch size settled) with `cpus` CPUs for trials; `plan`
    (a budget's or a plans file's: search.plan.Plan) gives the epoch's patches at its working resolution and the step its
    cost model measured, so the line and the plan count the same epochs."""
    patch = cfg.patch_size or 64  # quick/full sample the patch per trial (32-128 px): 64 stands for them
    space = create_space(cfg.space)
    width = cfg.base_channels if space.fixed_recipe else 8
    depth = min(4, max(cfg.ablation_depths if space.fixed_recipe else (4,)))
    timed = {}
    if plan is not None:
        per_epoch, per_patch = plan.epoch_patches, plan.step_s / max(1, plan.batch_size)
        timed = {"timed": f"the plan's step: depth {plan.depth}, width {plan.base_channels}, batch {plan.batch_size}"}
    else:
        per_epoch = cfg.patches_per_epoch or min(grid_patches(data, patch), EPOCH_PATCH_CAP)
        per_patch = seconds_per_patch(width, patch, depth, int(cfg.cpus_per_trial))
    parallel = max(1, min(trials, int(cpus // cfg.cpus_per_trial)))
    patches = (trials * epochs_per_trial + cfg.final_trials * cfg.final_epochs) * per_epoch
    return Compute(trials, epochs_per_trial, per_epoch, patches, patch, per_patch, parallel,
                   early_stopping=create_strategy(cfg.strategy).early_stopping(space), rerank_trials=cfg.rerank_k, rerank_epochs=cfg.final_epochs if cfg.rerank_k else 0,
                   baseline=cfg.final_trials > cfg.rerank_k * cfg.final_folds, final_folds=cfg.final_folds,
                   **{"sampled_width": space.samples_width, **timed})
