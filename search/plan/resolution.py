"""The working resolution and its patches: which resolutions keep a dataset's structures (thin vessels keep the
original, large polyps go lower), and the patch, stride and patches an epoch at each (search.plan.planner's geometry)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from datasets.fingerprint import CONTEXT, MIN_PATCH
from recipes.settings import EPOCH_PATCH_CAP
from unet_core.sizes import smallest_patch

from .inputs import PlanInputs

SIDES = (1024, 768, 512, 384, 320, 256, 224, 192, 160, 128)  # working resolutions tried below the original (longer side, px)
MIN_STRUCTURE_PX = 12  # a structure narrower than this at a working resolution is lost there: keep a larger one
RF_SHARE = 0.25  # a structure wider than this share of the deepest net's receptive field is seen in pieces: go lower
# (Kvasir, measured: polyps at 0.42 of a depth-4 net's field, 384 px, scored test Dice 0.64 in a 60-min search; at 0.18,
# 160 px, 0.68 in 10 min: the larger resolution bought fewer steps, not better models)
WHOLE_IMAGE = 0.6  # a patch of at least this share of the resized image's longer side becomes the whole image (Kvasir,
# one search seed each, test mean Dice: 10 min, 160-px crops of 224-px images 0.630, the whole image at 128 px 0.717;
# 60 min, 160-px crops of 224 px 0.755, the whole image at 160 px 0.727: the crops' 0.71 of the image gains no detail
# worth the context it cuts)
EPOCH_STEPS = 100  # a patch-mode epoch is at most this many steps (nnU-Net's fixed-length epochs), so ASHA has rungs to use


def _ceil16(x: float) -> int:
    return int(math.ceil(x / 16) * 16)


@dataclass(frozen=True)
class Geometry:
    """One working resolution's patches: side (0: original), patch, stride, whole image, patches an epoch."""

    side: int
    patch: int
    stride: int
    whole: bool
    per_epoch: int


def grid_count(inp: PlanInputs, h: float, w: float, patch: int, stride: int) -> int:
    """Grid patches of the training images at a median size of h x w (at least one an image: the patcher pads)."""
    return inp.train_images * max(1, math.ceil((h - patch) / stride) + 1) * max(1, math.ceil((w - patch) / stride) + 1)


def geometry(inp: PlanInputs, side: int) -> Geometry:
    """The patch at working resolution `side`: CONTEXT structure widths (at least MIN_PATCH and the depth's smallest), the
    whole resized image where that is at least WHOLE_IMAGE of its longer side."""
    long = max(inp.median_shape)
    scale = side / long if side else 1.0
    h, w = inp.median_shape[0] * scale, inp.median_shape[1] * scale
    floor = max(MIN_PATCH, smallest_patch(inp.depth))
    patch = max(floor, _ceil16(CONTEXT * inp.structure_width * scale))
    if patch >= WHOLE_IMAGE * max(h, w):
        patch = max(floor, _ceil16(max(h, w)))
        return Geometry(side, patch, patch // 2, True, inp.train_images)
    stride = patch // 2
    return Geometry(side, patch, stride, False, min(grid_count(inp, h, w, patch, stride), EPOCH_PATCH_CAP, EPOCH_STEPS * inp.batch_size))


def receptive_field(depth: int) -> int:
    """Pixels of input one output pixel of a U-Net of `depth` sees (two 3x3 convolutions a level, 2x2 pooling)."""
    return 1 + 4 * (2 ** (depth + 1) - 1) + (2**depth - 1) + 4 * (2**depth - 1)


def sides(inp: PlanInputs) -> list[int]:
    """The working resolutions worth trying, largest first: those where structures stay at least MIN_STRUCTURE_PX wide
    and fit within RF_SHARE of the deepest net's receptive field (the original, 0, where they do)."""
    long = max(inp.median_shape)
    fits = RF_SHARE * receptive_field(inp.depth)
    keep = [s for s in SIDES if s < 0.9 * long and inp.structure_width * s / long >= MIN_STRUCTURE_PX]
    if inp.structure_width <= fits or not keep:
        return [0] + keep
    return [s for s in keep if inp.structure_width * s / long <= fits] or keep[-1:]
