"""The in-memory form every loader produces: decoded images, class masks, valid masks, splits."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class DatasetError(ValueError):
    """A problem with the user's data; its message is one line that names the file or folder."""


@dataclass
class Sample:
    """One decoded image: image (C, H, W) float32 in [0, 1], mask (H, W) uint8 class indices,
    valid (H, W) bool (pixels that count for losses and metrics), and its name (file stem).
    weight (H, W) float32, optional: per-pixel loss weights (the border weight map of datasets.weights)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3:
            raise DatasetError(f"{self.name}: image must be (C, H, W), got shape {self.image.shape}")
        if self.image.shape[1:] != self.mask.shape or self.mask.shape != self.valid.shape:
            raise DatasetError(
                f"{self.name}: size mismatch: image {self.image.shape[1]}x{self.image.shape[2]}, "
                f"mask {self.mask.shape[0]}x{self.mask.shape[1]}, valid {self.valid.shape[0]}x{self.valid.shape[1]}"
            )


@dataclass
class SegmentationData:
    """A dataset ready for training: train/val/test samples plus what the model needs to know.

    Attributes:
        name: registry name ("drive", ...).
        class_names: one name per class, index = mask value; two names means a binary task.
        background: class left out of foreground metrics (None: all classes count).
        train, val, test: the splits.
        source: where it was read from.
    """

    name: str
    class_names: list[str]
    background: int | None
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    source: str = ""
    options: dict = field(default_factory=dict)
    objects: int | None = None  # the class whose connected components are separable objects (border weights), if any

    @property
    def num_classes(self) -> int:
        """Model head outputs: 1 for binary tasks (sigmoid), else the number of classes."""
        return 1 if len(self.class_names) == 2 else len(self.class_names)

    @property
    def in_channels(self) -> int:
        """Channels of the images."""
        return int(self.train[0].image.shape[0])

    def split(self, name: str) -> list[Sample]:
        """The samples of split `name` (train, val or test)."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def with_fold(self, fold: int, folds: int, seed: int) -> "SegmentationData":
        """The same dataset with training + validation images re-split for k-fold cross-validation: fold `fold`
        of `folds` (see datasets.splits.kfold, shuffled by `seed`) is held out for validation, the rest trains."""
        from .splits import kfold

        if not 0 <= fold < folds:
            raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
        groups = kfold(self.train + self.val, folds, seed)
        train = [s for i, g in enumerate(groups) if i != fold for s in g]
        return replace(self, train=train, val=groups[fold])

    def class_counts(self) -> np.ndarray:
        """Pixels per class inside the valid masks of the training split."""
        counts = np.zeros(len(self.class_names), dtype=np.int64)
        for s in self.train:
            counts += np.bincount(s.mask[s.valid].ravel(), minlength=len(self.class_names))[: len(counts)]
        return counts

    def class_weights(self) -> list[float]:
        """w_i = total / pixels of class i over the training masks (0 for an absent class)."""
        counts = self.class_counts().astype(np.float64)
        return [float(counts.sum() / c) if c > 0 else 0.0 for c in counts]
