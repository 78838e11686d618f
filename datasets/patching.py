"""Patches for training: a regular grid of a given size and stride, or random positions."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from unet_core.inference import tile_starts

from .augment import Augment
from .types import Sample


def _pad(sample: Sample, top: int, bottom: int, left: int, right: int, mode: str) -> Sample:
    """Pad image, mask and weights with `mode`; the padding is outside the valid mask."""
    hw = ((top, bottom), (left, right))
    return Sample(sample.name, np.pad(sample.image, ((0, 0), *hw), mode=mode), np.pad(sample.mask, hw, mode=mode),
                  np.pad(sample.valid, hw, constant_values=False), None if sample.weight is None else np.pad(sample.weight, hw, mode=mode))


def pad_to(sample: Sample, size: int) -> Sample:
    """Mirror-pad a sample smaller than `size` in either dimension (padding is outside the valid mask)."""
    h, w = sample.mask.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if not ph and not pw:
        return sample
    return _pad(sample, 0, ph, 0, pw, "reflect" if ph < h and pw < w else "edge")


def mirror_pad(sample: Sample, margin: int) -> Sample:
    """Mirror the image by `margin` pixels on every side (the paper's overlap-tile context); the margin is not valid."""
    if margin <= 0:
        return sample
    h, w = sample.mask.shape
    return _pad(sample, margin, margin, margin, margin, "reflect" if margin < h and margin < w else "symmetric")


def grid_positions(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of `size` patches every `stride` pixels that cover the whole image."""
    return [(y, x) for y in tile_starts(height, size, stride) for x in tile_starts(width, size, stride)]


def extract_patches(image: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cut (C, H, W) into (N, C, size, size) patches on the grid; returns patches and their corners."""
    positions = grid_positions(image.shape[-2], image.shape[-1], size, stride)
    return np.stack([image[..., y : y + size, x : x + size] for y, x in positions]), positions


def stitch_patches(patches: np.ndarray, positions: list[tuple[int, int]], height: int, width: int) -> np.ndarray:
    """Reassemble (N, C, s, s) patches into (C, H, W), averaging where they overlap."""
    size = patches.shape[-1]
    acc = np.zeros((patches.shape[1], height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for patch, (y, x) in zip(patches, positions):
        acc[:, y : y + size, x : x + size] += patch
        count[y : y + size, x : x + size] += 1
    return (acc / np.maximum(count, 1)).astype(patches.dtype)


def _tensors(image: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)),
        torch.from_numpy(np.ascontiguousarray(valid, dtype=np.float32 if valid.dtype.kind == "f" else bool)),
    )


class PatchDataset(Dataset):
    """Every grid patch (size, stride) of the samples that holds at least one valid pixel.

    With `margin` > 0 (valid-padding U-Nets, whose output is `size - 2 * margin`) the images are mirrored by
    `margin` on every side and the grid covers the images with output windows: each patch is the
    `size` input around an output window, so every pixel of an image is a training target.

    Args:
        samples: the training images.
        size: patch side in pixels (the network's input).
        stride: step between patches' output windows (stride < output size overlaps them).
        augment: optional augmentation applied to each patch.
        margin: pixels the network loses on each side (0 for same padding).
    """

    def __init__(self, samples: list[Sample], size: int, stride: int, augment: Augment | None = None, margin: int = 0):
        if size < 1 or stride < 1:
            raise ValueError(f"patch size and stride must be positive, got {size} and {stride}")
        if margin < 0 or size - 2 * margin < 1:
            raise ValueError(f"margin {margin} leaves no output in a patch of {size}")
        self.size, self.margin, self.out, self.augment = size, margin, size - 2 * margin, augment
        self.samples = [mirror_pad(pad_to(s, self.out), margin) for s in samples]
        m, o = margin, self.out
        self.index = [
            (i, y, x)
            for i, s in enumerate(self.samples)
            for y, x in grid_positions(s.mask.shape[0] - 2 * m, s.mask.shape[1] - 2 * m, o, stride)
            if s.valid[y + m : y + m + o, x + m : x + m + o].any()
        ]

    def __len__(self) -> int:
        return len(self.index)

    def crop(self, i: int, y: int, x: int):
        """The (augmented) patch of sample i at (y, x) as tensors (image, mask, valid)."""
        s, z = self.samples[i], self.size
        image, mask, valid = s.image[:, y : y + z, x : x + z], s.mask[y : y + z, x : x + z], s.valid[y : y + z, x : x + z]
        weight = None if s.weight is None else s.weight[y : y + z, x : x + z]
        if self.augment is not None:
            image, mask, valid, weight = self.augment(image, mask, valid, weight)
        if weight is not None:  # per-pixel loss weights ride in the valid slot: the losses weight by it
            valid = valid * weight.astype(np.float32)
        return _tensors(image, mask, valid)

    def __getitem__(self, k: int):
        return self.crop(*self.index[k])


class RandomPatchDataset(PatchDataset):
    """`patches_per_epoch` patches at uniformly random positions, drawn anew on every access (seeded)."""

    def __init__(self, samples: list[Sample], size: int, patches_per_epoch: int, augment: Augment | None = None, seed: int = 0,
                 margin: int = 0):
        super().__init__(samples, size, max(1, size - 2 * margin), augment, margin)
        self.patches_per_epoch = patches_per_epoch
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.patches_per_epoch

    def __getitem__(self, k: int):
        i = int(self.rng.integers(len(self.samples)))
        h, w = self.samples[i].mask.shape
        return self.crop(i, int(self.rng.integers(h - self.size + 1)), int(self.rng.integers(w - self.size + 1)))
