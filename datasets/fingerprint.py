"""A dataset fingerprint in the spirit of nnU-Net, and the depths and patch sizes it allows."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .types import SegmentationData

PATCH_CANDIDATES = (32, 48, 64, 96, 128, 192, 256, 384, 512)
MIN_BOTTLENECK = 4  # the deepest feature map must keep at least 4x4 pixels
MAX_DEPTH = 5
CONTEXT = 3  # a patch should hold a typical structure about three times over: the structure and context on both sides
MIN_PATCH = 64


def structure_width(samples, background: int | None) -> float:
    """The typical width in pixels of the foreground structures: per image, twice the 95th percentile of the distance
    from a foreground pixel to the nearest other pixel (a vessel's or membrane's thickness, a lesion's diameter);
    the median over images. 0 where no image has foreground."""
    from scipy import ndimage

    widths = []
    for s in samples:
        fg = (s.mask != (background if background is not None else -1)) & s.valid
        if fg.any():
            widths.append(2.0 * float(np.percentile(ndimage.distance_transform_edt(fg)[fg], 95)))
    return float(np.median(widths)) if widths else 0.0


def recommend_patch(width: float, min_side: int) -> int:
    """The smallest candidate patch that holds CONTEXT structure widths (at least MIN_PATCH), no larger than the images."""
    fitting = [p for p in PATCH_CANDIDATES if p <= min_side] or [min(PATCH_CANDIDATES)]
    wanted = max(MIN_PATCH, CONTEXT * width)
    return next((p for p in fitting if p >= wanted), fitting[-1])


def feasible(patch: int, depth: int) -> bool:
    """A patch suits a depth when it halves exactly `depth` times and keeps >= 4 pixels at the bottom."""
    return patch % 2**depth == 0 and patch // 2**depth >= MIN_BOTTLENECK


@dataclass
class Fingerprint:
    """What a dataset looks like and what U-Nets fit it."""

    name: str
    total_images: int  # every annotated image, all splits
    train_images: int
    val_images: int
    test_images: int
    image_shape: list[int]  # median [height, width]
    min_shape: list[int]
    max_shape: list[int]
    channels: int
    intensity_mean: list[float]
    intensity_std: list[float]
    class_names: list[str]
    class_fraction: dict[str, float]  # inside the valid masks of the training images
    valid_fraction: float
    feasible_patch_sizes: list[int]
    feasible_depths: list[int]
    structure_width: float = 0.0  # typical foreground structure width in pixels (see structure_width)
    recommended_patch: int = 64  # the patch the study and arch searches use by default (see recommend_patch)
    recommended_depth: int = 4  # the deepest U-Net (up to 4) that patch allows with a 4-pixel bottleneck: nnU-Net's rule

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return asdict(self)


def compute_fingerprint(data: SegmentationData) -> Fingerprint:
    """Fingerprint the training (+ validation) images of a dataset; test images are only counted."""
    samples = data.train + data.val
    shapes = np.array([s.mask.shape for s in samples])
    pixels = np.concatenate([s.image[:, s.valid].reshape(s.image.shape[0], -1) for s in samples], axis=1)
    counts = np.zeros(len(data.class_names), np.int64)
    for s in samples:
        counts += np.bincount(s.mask[s.valid].ravel(), minlength=len(counts))[: len(counts)]
    min_side = int(shapes.min())
    patches = [p for p in PATCH_CANDIDATES if p <= min_side]
    depths = [d for d in range(1, MAX_DEPTH + 1) if any(feasible(p, d) for p in patches)]
    valid_total = sum(int(s.valid.sum()) for s in samples)
    width = structure_width(data.train, data.background)
    patch = recommend_patch(width, min_side)
    return Fingerprint(
        name=data.name,
        total_images=len(data.train) + len(data.val) + len(data.test),
        train_images=len(data.train) + len(data.val),
        val_images=len(data.val),
        test_images=len(data.test),
        image_shape=[int(v) for v in np.median(shapes, axis=0)],
        min_shape=[int(v) for v in shapes.min(0)],
        max_shape=[int(v) for v in shapes.max(0)],
        channels=data.in_channels,
        intensity_mean=[float(v) for v in pixels.mean(1)],
        intensity_std=[float(v) for v in pixels.std(1)],
        class_names=list(data.class_names),
        class_fraction={n: float(c / max(1, counts.sum())) for n, c in zip(data.class_names, counts)},
        valid_fraction=valid_total / float(sum(s.mask.size for s in samples)),
        feasible_patch_sizes=patches,
        feasible_depths=depths,
        structure_width=round(width, 1),
        recommended_patch=patch,
        recommended_depth=max([d for d in range(1, 5) if feasible(patch, d)] or [1]),
    )
