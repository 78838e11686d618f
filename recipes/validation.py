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
    `side` predicts there and its probabilities are upsampled); keeps a few predictions for the pictures and each
    image's foreground Dice (`image_dice`, by sample name: what a paired comparison of two trainings reads)."""

    def __init__(self, data: SegmentationData, tile: int, overlap: float, keep: int = PICTURES, limit: int = 0, side: int = 0):
        self.data, self.tile, self.overlap, self.keep, self.side = data, tile, overlap, keep, side
        self.images = data.val[:limit] if limit else data.val  # a fixed subset, the same for every trial
        self.last_probs: list[np.ndarray] = []
        self.image_dice: dict[str, float] = {}

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        metrics = SegmentationMetrics(self.data.num_classes, self.data.background)
        self.last_probs, self.image_dice = [], {}
        for i, (sample, (image, mask, valid)) in enumerate(zip(self.images, full_images(self.images))):  # one image in memory at a time
            probs = predict_image(model, image_tensor(image), self.tile, self.overlap, side=self.side)
            self.image_dice[sample.name] = metrics.dice_of(metrics.update(probs, image_tensor(mask), image_tensor(valid)))
            if i < self.keep:
                self.last_probs.append(probs.numpy())
        release_pages()
        return metrics.compute()

    def picture_items(self):
        """(name, image, mask, valid, probs) of the kept validation images."""
        return [(s.name, as_float(s.image), s.mask, s.valid, p) for s, p in zip(self.images, self.last_probs)]


def closing_choice(model: torch.nn.Module, best_state: dict[str, torch.Tensor] | None, validator: Validator) -> tuple[str, dict[str, torch.Tensor], dict[str, float], dict[str, float]]:
    """A finished training's last weights (`model`'s) against its best epoch's (`best_state`; None where the best epoch
    is the last), each scored on `validator`'s images (the whole split): ('last' or 'best_epoch', the kept weights, the
    kept weights' metrics, and both Dice figures as closing_val_dice_last / closing_val_dice_best_epoch). The validator's
    pictures and per-image Dice are of the kept ones."""
    last_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if best_state is None:
        at_last = validator(model)
        return "last", last_state, at_last, {"closing_val_dice_last": at_last["dice"], "closing_val_dice_best_epoch": at_last["dice"]}
    model.load_state_dict(best_state)
    at_best, best_probs, best_dice = validator(model), validator.last_probs, validator.image_dice
    model.load_state_dict(last_state)
    at_last = validator(model)
    pair = {"closing_val_dice_last": at_last["dice"], "closing_val_dice_best_epoch": at_best["dice"]}
    if at_last["dice"] >= at_best["dice"]:  # a tie keeps the last: it has had every epoch, and its rate has annealed
        return "last", last_state, at_last, pair
    validator.last_probs, validator.image_dice = best_probs, best_dice
    return "best_epoch", best_state, at_best, pair
