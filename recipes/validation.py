"""Full-image validation of a trial: the tile it predicts in, and split-level metrics."""
from __future__ import annotations

import numpy as np
import torch

from datasets import SegmentationData, as_float, full_images
from datasets.store import release_pages
from unet_core import SegmentationMetrics
from unet_core.inference import image_tensor, predict_image
from unet_core.unet import input_size_for

from .params import TrialParams

PICTURES = 3  # validation predictions a Validator keeps for the trial's picture


def eval_tile_for(params: TrialParams, requested: int, data: SegmentationData) -> int:
    """A validation tile (the network's input): its output at least the patch, no larger than needed for the images (at
    the working resolution where the trial has one)."""
    factor = 2**params.depth
    largest = params.image_side or max(max(s.mask.shape) for s in data.val + data.test)
    tile = max(params.patch_size, min(requested, -(-largest // factor) * factor))
    return input_size_for(-(-tile // factor) * factor, params.depth, params.padding)


class Validator:
    """Full-image validation with split-level metrics, at the original resolution (a model trained at working resolution
    `side` predicts there and its probabilities are upsampled); keeps a few predictions for the pictures."""

    def __init__(self, data: SegmentationData, tile: int, overlap: float, keep: int = PICTURES, limit: int = 0, side: int = 0):
        self.data, self.tile, self.overlap, self.keep, self.side = data, tile, overlap, keep, side
        self.images = data.val[:limit] if limit else data.val  # a fixed subset, the same for every trial
        self.last_probs: list[np.ndarray] = []

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        metrics = SegmentationMetrics(self.data.num_classes, self.data.background)
        self.last_probs = []
        for i, (image, mask, valid) in enumerate(full_images(self.images)):  # one image in memory at a time
            probs = predict_image(model, image_tensor(image), self.tile, self.overlap, side=self.side)
            metrics.update(probs, image_tensor(mask), image_tensor(valid))
            if i < self.keep:
                self.last_probs.append(probs.numpy())
        release_pages()
        return metrics.compute()

    def picture_items(self):
        """(name, image, mask, valid, probs) of the kept validation images."""
        return [(s.name, as_float(s.image), s.mask, s.valid, p) for s, p in zip(self.images, self.last_probs)]
