"""Evaluate a model on whole images: overlap-tile prediction plus split-level metrics."""
from __future__ import annotations

from typing import Iterable

import numpy as np
from torch import nn

from .inference import image_tensor, predict_image
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
) -> dict[str, float]:
    """Metrics over a split of full images given as (image (C,H,W), mask (H,W), valid (H,W) or None), of one model or
    the average of several (a fold ensemble);
    `tta` averages the predictions of each image's views (unet_core.inference.VIEWS: none, flip, dihedral); `side` > 0 predicts at that working
    resolution and scores at the original one (unet_core.rescale). `per_image` adds `mean_dice`, the mean over images of
    each image's foreground Dice (the figure Kvasir-SEG's papers publish)."""
    metrics = SegmentationMetrics(num_classes, background)
    dices = []
    for image, mask, valid in samples:
        probs = predict_image(model, image_tensor(np.asarray(image)), tile, overlap, tta, side,
                              amp=amp, channels_last=channels_last)
        target, keep = image_tensor(np.asarray(mask)), None if valid is None else image_tensor(np.asarray(valid))
        metrics.update(probs, target, keep)
        if per_image:
            one = SegmentationMetrics(num_classes, background)
            one.update(probs, target, keep)
            dices.append(one.compute()["dice"])
    out = metrics.compute()
    return {**out, "mean_dice": float(np.mean(dices))} if per_image and dices else out
