"""Evaluate a model on whole images: overlap-tile prediction plus split-level metrics."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

from .inference import dihedral_predict, image_tensor, sliding_window_predict
from .metrics import SegmentationMetrics


def evaluate_images(
    model: nn.Module,
    samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    num_classes: int,
    tile: int,
    overlap: float = 0.5,
    background: int | None = 0,
    amp: bool = True,
    channels_last: bool = False,
    tta: bool = False,
) -> dict[str, float]:
    """Metrics over a split of full images given as (image (C,H,W), mask (H,W), valid (H,W) or None);
    `tta` averages the predictions of the 8 flips/rotations of each image."""
    metrics = SegmentationMetrics(num_classes, background)
    predict = dihedral_predict if tta else sliding_window_predict
    for image, mask, valid in samples:
        probs = predict(
            model, image_tensor(np.asarray(image)), tile, overlap, amp=amp, channels_last=channels_last
        )
        metrics.update(probs, image_tensor(np.asarray(mask)), None if valid is None else image_tensor(np.asarray(valid)))
    return metrics.compute()
