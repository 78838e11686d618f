"""A dataset fingerprint in the spirit of nnU-Net, and the depths and patch sizes it allows."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from unet_core.sizes import MAX_DEPTH, feasible

from .pages import release_pages
from .types import SegmentationData

PATCH_CANDIDATES = (32, 48, 64, 96, 128, 192, 256, 384, 512)
CONTEXT = 3  # a patch should hold a typical structure about three times over: the structure and context on both sides
MIN_PATCH = 64
WIDTH_IMAGES = 200  # the structure width's median is taken over at most this many training images, evenly spaced
FINGERPRINT_VERSION = 1  # of a fingerprint kept beside a store: a change in how it is computed makes a new one


def structure_width(samples, background: int | None) -> float:
    """The typical width in pixels of the foreground structures: per image, twice the 95th percentile of the distance
    from a foreground pixel to the nearest other pixel (a vessel's or membrane's thickness, a lesion's diameter);
    the median over images. 0 where no image has foreground."""
    widths = []
    for s in samples:
        widths.append(image_width(s, background))
        release_pages()
    return median_width(widths)


def median_width(widths: list[float | None]) -> float:
    """The median of the images' widths that exist (0 where none does)."""
    found = [w for w in widths if w is not None]
    return float(np.median(found)) if found else 0.0


def image_width(sample, background: int | None) -> float | None:
    """One image's structure width (see structure_width); None where it has no foreground."""
    from scipy import ndimage  # deferred: SciPy's ndimage (about 0.1 s); only computing a fingerprint needs it

    fg = (np.asarray(sample.mask) != (background if background is not None else -1)) & np.asarray(sample.valid, bool)
    if not fg.any():
        return None
    return 2.0 * float(np.percentile(ndimage.distance_transform_edt(fg)[fg], 95))


def recommend_patch(width: float, min_side: int) -> int:
    """The smallest candidate patch that holds CONTEXT structure widths (at least MIN_PATCH), no larger than the images."""
    fitting = [p for p in PATCH_CANDIDATES if p <= min_side] or [min(PATCH_CANDIDATES)]
    wanted = max(MIN_PATCH, CONTEXT * width)
    return next((p for p in fitting if p >= wanted), fitting[-1])


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


class Moments:
    """Per-channel count, sum and sum of squares in float64 over any number of pixels (a float32 sum stops growing at
    2**24 times its increment: the mean of 316 M pixels read 0.053 for 0.56)."""

    def __init__(self, channels: int):
        self.count = 0
        self.sum = np.zeros(channels, np.float64)
        self.squares = np.zeros(channels, np.float64)

    def add(self, image: np.ndarray, valid: np.ndarray) -> None:
        """The valid pixels of one (C, H, W) image, in [0, 1] (uint8 images are read as value / 255)."""
        scale = 255.0 if image.dtype == np.uint8 else 1.0
        valid = np.asarray(valid, bool)
        self.count += int(valid.sum())
        for c in range(image.shape[0]):
            values = np.asarray(image[c])[valid].astype(np.float64) / scale
            self.sum[c] += values.sum()
            self.squares[c] += np.dot(values, values)

    def mean(self) -> np.ndarray:
        """Per-channel mean."""
        return self.sum / max(self.count, 1)

    def std(self) -> np.ndarray:
        """Per-channel population standard deviation."""
        return np.sqrt(np.maximum(self.squares / max(self.count, 1) - self.mean() ** 2, 0.0))


def compute_fingerprint(data: SegmentationData) -> Fingerprint:
    """Fingerprint the training (+ validation) images of a dataset in one pass, an image at a time; test images are only
    counted; the structure width is measured on up to WIDTH_IMAGES training images. A stored dataset's fingerprint is
    kept beside its store (per split) and read back the next time."""
    cached = _cached_path(data)
    if cached is not None and cached.is_file():
        try:
            return Fingerprint(**json.loads(cached.read_text()))
        except (OSError, ValueError, TypeError):
            pass
    fp = _compute(data)
    if cached is not None:
        _write_atomically(cached, json.dumps(fp.to_dict()))
    return fp


def _cached_path(data: SegmentationData) -> Path | None:
    if data.store is None:
        return None
    key = [FINGERPRINT_VERSION, data.name, data.class_names, data.background, [s.name for s in data.train], [s.name for s in data.val], len(data.test)]
    return Path(data.store) / f"fingerprint-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.json"


def _write_atomically(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:  # a read-only store: computed again next time
        pass


def _compute(data: SegmentationData) -> Fingerprint:
    samples = data.train + data.val
    shapes = np.array([s.mask.shape for s in samples])
    moments = Moments(data.in_channels)
    counts = np.zeros(len(data.class_names), np.int64)
    valid_total, widths = 0, []
    measured = set(np.linspace(0, len(data.train) - 1, min(len(data.train), WIDTH_IMAGES)).round().astype(int).tolist())
    for i, s in enumerate(samples):  # one pass, one image at a time
        valid = np.asarray(s.valid, bool)
        moments.add(s.image, valid)
        counts += np.bincount(np.asarray(s.mask)[valid].ravel(), minlength=len(counts))[: len(counts)]
        valid_total += int(valid.sum())
        if i in measured:  # the structure width is the training images'
            widths.append(image_width(s, data.background))
        release_pages()
    min_side = int(shapes.min())
    patches = [p for p in PATCH_CANDIDATES if p <= min_side]
    depths = [d for d in range(1, MAX_DEPTH + 1) if any(feasible(p, d) for p in patches)]
    width = median_width(widths)
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
        intensity_mean=[float(v) for v in moments.mean()],
        intensity_std=[float(v) for v in moments.std()],
        class_names=list(data.class_names),
        class_fraction={n: float(c / max(1, counts.sum())) for n, c in zip(data.class_names, counts)},
        valid_fraction=valid_total / float(shapes.prod(1).sum()),
        feasible_patch_sizes=patches,
        feasible_depths=depths,
        structure_width=round(width, 1),
        recommended_patch=patch,
        recommended_depth=max([d for d in range(1, 5) if feasible(patch, d)] or [1]),
    )
