"""Train/validation/test splits: official where they exist, seeded otherwise."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .types import DatasetError, Sample, SegmentationData


def carve(samples: list[Sample], fraction: float, seed: int, what: str) -> tuple[list[Sample], list[Sample]]:
    """Split off round(fraction * n) samples (at least 1) with a seeded shuffle: returns (rest, carved)."""
    n = len(samples)
    k = max(1, int(round(fraction * n)))
    if n - k < 1:
        raise DatasetError(f"too few images ({n}) to carve a {what} split")
    order = np.random.default_rng(seed).permutation(n)
    carved = set(order[:k].tolist())
    return [s for i, s in enumerate(samples) if i not in carved], [s for i, s in enumerate(samples) if i in carved]


def make_splits(
    loaded: dict[str, list[Sample]], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, val, test): the official test split if given, else 10% carved; validation carved from training.

    With no official test split the result is 80/10/10.
    """
    train = list(loaded["train"])
    if "test" in loaded and loaded["test"]:
        test = list(loaded["test"])
    else:
        train, test = carve(train, 0.1, seed + 1, "test")
        val_fraction = 0.1 / 0.9
    train, val = carve(train, val_fraction, seed, "validation")
    return train, val, test


def kfold(samples: list[Sample], folds: int, seed: int) -> list[list[Sample]]:
    """`folds` disjoint groups covering `samples` (sizes differing by at most one), by a seeded shuffle of the
    samples sorted by name, so the groups do not depend on the order the loader read them in."""
    if folds < 2:
        raise DatasetError(f"k-fold cross-validation needs at least 2 folds, got {folds}")
    if folds > len(samples):
        raise DatasetError(f"{folds} folds but only {len(samples)} training images: use at most {len(samples)} folds")
    ordered = sorted(samples, key=lambda s: s.name)
    order = np.random.default_rng(seed).permutation(len(ordered))
    return [[ordered[i] for i in sorted(chunk.tolist())] for chunk in np.array_split(order, folds)]


def with_fold(data: SegmentationData, fold: int, folds: int, seed: int) -> SegmentationData:
    """`data` with its training + validation images re-split for k-fold cross-validation: fold `fold` of `folds`
    (see kfold, shuffled by `seed`) is held out for validation, the rest trains."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    groups = kfold(data.train + data.val, folds, seed)
    train = [s for i, g in enumerate(groups) if i != fold for s in g]
    return replace(data, train=train, val=groups[fold])


def reshuffled(data: SegmentationData, seed: int) -> SegmentationData:
    """`data` with its training + validation images re-split by a seeded shuffle (of the images sorted by name), keeping
    as many validation images as `data` has: one trial's own random validation split (reshuffled validation)."""
    pool = sorted(data.train + data.val, key=lambda s: s.name)
    k = len(data.val)
    if k < 1 or k >= len(pool):
        raise DatasetError(f"cannot reshuffle a validation split of {k} images out of {len(pool)}")
    order = np.random.default_rng(seed).permutation(len(pool))
    held = set(order[:k].tolist())
    return replace(data, train=[s for i, s in enumerate(pool) if i not in held], val=[s for i, s in enumerate(pool) if i in held])
