"""Patches for training: a regular grid of a given size and stride, or random positions."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from unet_core.sizes import tile_starts

from .augment import Augment
from .pages import release_pages
from .types import Sample, as_float

RELEASE_EVERY = 256  # crops between two releases of the store's mapped pages


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


def _reflect(q: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(q)
    k = np.mod(q, 2 * (n - 1))
    return np.where(k < n, k, 2 * (n - 1) - k)


def _symmetric(q: np.ndarray, n: int) -> np.ndarray:
    k = np.mod(q, 2 * n)
    return np.where(k < n, k, 2 * n - 1 - k)


def _edge(q: np.ndarray, n: int) -> np.ndarray:
    return np.clip(q, 0, n - 1)


PAD_INDEX = {"reflect": _reflect, "symmetric": _symmetric, "edge": _edge}


class PaddedAxis:
    """One axis of `mirror_pad(pad_to(sample, out), margin)` without the copy: which original row (or column) each
    padded one reads, and whether it is an original pixel (only those can be valid).

    Args:
        n: the image's length along the axis.
        extra: pad_to's padding at the end (to reach the output size).
        end_mode: pad_to's numpy pad mode.
        margin: mirror_pad's padding on both sides.
        mirror_mode: mirror_pad's numpy pad mode.
    """

    def __init__(self, n: int, extra: int, end_mode: str, margin: int, mirror_mode: str):
        self.n, self.extra, self.end_mode, self.margin, self.mirror_mode = n, extra, end_mode, margin, mirror_mode
        self.padded = n + extra + 2 * margin

    def index(self, start: int, length: int) -> tuple[slice | np.ndarray, np.ndarray | None]:
        """(rows to read: a slice where no padding is touched, else an index array; original-pixel flags or None for all)."""
        lo = start - self.margin
        if lo >= 0 and lo + length <= self.n:
            return slice(lo, lo + length), None
        q = np.arange(lo, lo + length)
        inside = (q >= 0) & (q < self.n)
        n1 = self.n + self.extra
        q = np.where((q < 0) | (q >= n1), PAD_INDEX[self.mirror_mode](q, n1), q)
        q = np.where(q >= self.n, PAD_INDEX[self.end_mode](q, self.n), q)
        return q, inside


def padded_axes(shape: tuple[int, int], out: int, margin: int) -> tuple[PaddedAxis, PaddedAxis]:
    """The two axes of a (H, W) image padded to at least `out` (pad_to) and mirrored by `margin` (mirror_pad)."""
    h, w = shape
    ph, pw = max(0, out - h), max(0, out - w)
    end_mode = "reflect" if ph < h and pw < w else "edge"
    h1, w1 = h + ph, w + pw
    mirror_mode = "reflect" if margin < h1 and margin < w1 else "symmetric"
    return PaddedAxis(h, ph, end_mode, margin, mirror_mode), PaddedAxis(w, pw, end_mode, margin, mirror_mode)


def _take(array: np.ndarray, rows, cols) -> np.ndarray:
    """array[..., rows, cols] for slices or index arrays, reading only those rows and columns (of a memory map too)."""
    if isinstance(rows, slice) and isinstance(cols, slice):
        return array[..., rows, cols]
    part = array[..., rows, :]
    return part[..., cols]


def valid_windows(valid: np.ndarray, ys: np.ndarray, xs: np.ndarray, size: int) -> np.ndarray:
    """Whether each window [y, y + size) x [x, x + size) (clipped to the mask) holds a valid pixel: (len(ys), len(xs))."""
    h, w = valid.shape
    total = np.zeros((h + 1, w + 1), np.int64)
    total[1:, 1:] = np.asarray(valid, bool).cumsum(0, dtype=np.int64).cumsum(1)
    y0, y1 = ys[:, None], np.minimum(ys + size, h)[:, None]
    x0, x1 = xs[None, :], np.minimum(xs + size, w)[None, :]
    return (total[y1, x1] - total[y0, x1] - total[y1, x0] + total[y0, x0]) > 0


class PatchDataset(Dataset):
    """Every grid patch (size, stride) of the samples that holds at least one valid pixel.

    With `margin` > 0 (valid-padding U-Nets, whose output is `size - 2 * margin`) the images are mirrored by
    `margin` on every side and the grid covers the images with output windows: each patch is the
    `size` input around an output window, so every pixel of an image is a training target. Images smaller than the
    output are padded to it (the padding is not valid). Padding and crops are computed per patch from the samples'
    arrays (memory maps of the store, datasets.store), so memory holds the patches, not padded copies of the images.

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
        self.samples = list(samples)
        self.crops = 0
        self.axes = [padded_axes(s.mask.shape, self.out, margin) for s in self.samples]
        parts = []
        for i, (s, (ay, ax)) in enumerate(zip(self.samples, self.axes)):
            ys = np.asarray(tile_starts(ay.n + ay.extra, self.out, stride))
            xs = np.asarray(tile_starts(ax.n + ax.extra, self.out, stride))
            yy, xx = np.nonzero(valid_windows(s.valid, ys, xs, self.out))
            parts.append(np.stack([np.full(len(yy), i), ys[yy], xs[xx]], 1).astype(np.int32))  # 12 bytes a patch
        self.index = np.concatenate(parts) if parts else np.zeros((0, 3), np.int32)

    def __len__(self) -> int:
        return len(self.index)

    def padded_shape(self, i: int) -> tuple[int, int]:
        """(height, width) of sample i once padded and mirrored."""
        ay, ax = self.axes[i]
        return ay.padded, ax.padded

    def crop(self, i: int, y: int, x: int):
        """The (augmented) patch of sample i at (y, x) of its padded image as tensors (image, mask, valid)."""
        self.crops += 1
        if self.crops % RELEASE_EVERY == 0:  # the store's pages read so far leave this process (datasets.store)
            release_pages()
        s, z = self.samples[i], self.size
        (rows, in_y), (cols, in_x) = self.axes[i][0].index(y, z), self.axes[i][1].index(x, z)
        image, mask, valid = as_float(_take(s.image, rows, cols)), _take(s.mask, rows, cols), _take(s.valid, rows, cols)
        if in_y is not None or in_x is not None:  # padding is never valid
            valid = valid & (True if in_y is None else in_y[:, None]) & (True if in_x is None else in_x[None, :])
        if s.keep is not None:  # the saliency loop's kept pixels; the rest read as 0
            keep = np.unpackbits(_take(s.keep, rows, slice(None)), axis=-1, count=s.mask.shape[1])[..., cols].astype(bool)
            image = np.where(keep[None], image, 0).astype(np.float32)
        weight = None if s.weight is None else _take(s.weight, rows, cols)
        if self.augment is not None:
            image, mask, valid, weight = self.augment(image, mask, valid, weight)
        if weight is not None:  # per-pixel loss weights ride in the valid slot: the losses weight by it
            valid = valid * weight.astype(np.float32)
        return _tensors(image, mask, valid)

    def __getitem__(self, k: int):
        return self.crop(*(int(v) for v in self.index[k]))


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
        h, w = self.padded_shape(i)
        return self.crop(i, int(self.rng.integers(h - self.size + 1)), int(self.rng.integers(w - self.size + 1)))
