"""What the planner reads of a search and its data (search.driver.planning fills it from the fingerprint and the flags)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanInputs:
    """What the planner reads: the fingerprint's figures and the search's fixed settings.

    Attributes:
        dataset, data_key, images: the data (search.plan.plan.data_key).
        train_images, val_images, test_images: the search's splits (train_images: those a trial trains on, the validation
            split's held out; the fingerprint's count holds both); val_per_epoch: the validation images an epoch scores.
        median_shape, min_shape: images' median and smallest [h, w]; structure_width: the fingerprint's, px.
        depth, base_channels, batch_size: the net timed (the deepest searched) and the batch.
        depths: the depths a sampled space draws from (its trials' epochs are timed as their mean; empty: `depth` only).
        widths: the first-level widths the plan may choose among, widest first (empty: base_channels only).
        cpus, cpus_per_trial, gpus, gpus_per_trial: the resources; reduction_factor: ASHA's.
        sampled: Optuna samples the trials (False: an enumerated ablation of `fixed_trials`).
        rerank_top, final_folds: the user's choice, or None for the planner's.
        fold_val_images: a fold's validation images where a final round trains on several folds (1/--race-partition of
            the training and validation images; 0: not given, the validation split's count stands).
    """

    dataset: str
    data_key: str
    images: int
    train_images: int
    val_images: int
    test_images: int
    val_per_epoch: int
    median_shape: tuple[int, int]
    min_shape: tuple[int, int]
    structure_width: float
    depth: int = 4
    depths: tuple[int, ...] = ()
    base_channels: int = 8
    batch_size: int = 8
    cpus: float = 2.0
    cpus_per_trial: float = 1.0
    gpus: float = 0.0
    gpus_per_trial: float = 0.0
    reduction_factor: int = 2
    sampled: bool = True
    fixed_trials: int = 0
    rerank_top: int | None = None
    final_folds: int | None = None
    widths: tuple[int, ...] = ()
    fold_val_images: int = 0

    @property
    def parallel(self) -> int:
        """Trials at a time: by GPUs where trials take GPUs, else by CPUs."""
        if self.gpus_per_trial:
            return max(1, int(self.gpus / self.gpus_per_trial + 1e-9))
        return max(1, int(self.cpus / self.cpus_per_trial + 1e-9))
