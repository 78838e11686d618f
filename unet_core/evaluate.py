"""Evaluate a model on whole images: overlap-tile prediction plus split-level metrics."""
from __future__ import annotations

from typing import Iterable

import numpy as np
from torch import nn

from .inference import image_tensor, predict_views
from .metrics import SegmentationMetrics


def evaluate_images(
    model: nn.Module | list[nn.Module],
    samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    num_classes: int,
    tile: int,
    overlap: float = 0.5,
    background: int | None = 0,
    amp: bool = True,
    channels_last: bool = False,
    tta: str = "none",
    side: int = 0,
    per_image: bool = False,
    no_tta: bool = False,
) -> dict[str, float]:
    """Metrics over a split of full images given as (image (C,H,W), mask (H,W), valid (H,W) or None), of one model or
    the average of several (a fold ensemble);
    `tta` averages the predictions of each image's views (unet_core.inference.VIEWS: none, flip, dihedral); `side` > 0 predicts at that working
    resolution and scores at the original one (unet_core.rescale). `per_image` adds `mean_dice`, the mean over images of
    each image's foreground Dice (the figure Kvasir-SEG's papers publish). `no_tta` adds every metric of the images as
    is alone, named `<metric>_no_tta`, from the same predictions (what the augmentation adds, at no extra pass)."""
    scored = {"": _Scores(num_classes, background, per_image), "_no_tta": _Scores(num_classes, background, per_image)}
    for image, mask, valid in samples:
        probs = predict_views(model, image_tensor(np.asarray(image)), tile, overlap, tta, side, amp=amp, channels_last=channels_last)
        target, keep = image_tensor(np.asarray(mask)), None if valid is None else image_tensor(np.asarray(valid))
        for (suffix, scores), p in zip(scored.items(), probs):
            if suffix == "" or no_tta:
                scores.update(p, target, keep)
    out = scored[""].compute()
    return {**out, **{f"{k}_no_tta": v for k, v in scored["_no_tta"].compute().items()}} if no_tta else out


class _Scores:
    """A split's metrics, and with `per_image` the mean of each image's foreground Dice (`mean_dice`)."""

    def __init__(self, num_classes: int, background: int | None, per_image: bool):
        self.per_image = per_image
        self.metrics, self.dices = SegmentationMetrics(num_classes, background), []

    def update(self, probs, target, keep) -> None:
        counts = self.metrics.update(probs, target, keep)
        if self.per_image:
            self.dices.append(self.metrics.dice_of(counts))

    def compute(self) -> dict[str, float]:
        out = self.metrics.compute()
        return {**out, "mean_dice": float(np.mean(self.dices))} if self.per_image and self.dices else out
