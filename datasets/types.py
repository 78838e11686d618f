"""The in-memory form every loader produces: decoded images, class masks, valid masks, splits."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .pages import release_pages


class DatasetError(ValueError):
    """A problem with the user's data; its message is one line that names the file or folder."""


def as_float(image: np.ndarray) -> np.ndarray:
    """An image (or a crop of one) as float32 in [0, 1]: uint8 values (the store's lossless form) divided by 255, exactly
    as the loaders decode 8-bit files; float images are returned as they are."""
    if image.dtype == np.uint8:
        return np.asarray(image).astype(np.float32) / 255.0
    return np.asarray(image, dtype=np.float32)


class FloatImages(Sequence):
    """The images of `samples` as float32 in [0, 1] (`as_float`), each converted when it is read."""

    def __init__(self, samples: list["Sample"]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return FloatImages(self.samples[i])
        return as_float(self.samples[i].image)


def full_images(samples: list["Sample"]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image as float, mask, valid) of each sample, one at a time: the input of unet_core.evaluate_images."""
    for s in samples:
        yield as_float(s.image), np.asarray(s.mask), np.asarray(s.valid)


class Streamed:
    """A split's cases decoded one at a time as they are iterated (len() without decoding), so a loader streams into the
    store instead of holding every decoded case: `decode(key)` makes the Sample of each of `keys`."""

    def __init__(self, keys: list, decode):
        self.keys, self.decode = list(keys), decode

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator["Sample"]:
        for key in self.keys:
            yield self.decode(key)

    def __getitem__(self, i):
        """Case `i` decoded (a slice: a list of them)."""
        if isinstance(i, slice):
            return [self.decode(k) for k in self.keys[i]]
        return self.decode(self.keys[i])


@dataclass
class Sample:
    """One image: image (C, H, W), float32 in [0, 1] or uint8 0..255 (read through `as_float`), mask (H, W) uint8 class
    indices, valid (H, W) bool (pixels that count for losses and metrics), and its name (file stem).
    weight (H, W) float32, optional: per-pixel loss weights (the border weight map of datasets.weights).
    keep (H, ceil(W / 8)) uint8, optional: the saliency loop's kept pixels as packed bits (np.packbits along rows);
    the other pixels read as 0. Arrays may be read-only memory maps of the store (datasets.store)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    weight: np.ndarray | None = None
    keep: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3:
            raise DatasetError(f"{self.name}: image must be (C, H, W), got shape {self.image.shape}")
        if self.image.shape[1:] != self.mask.shape or self.mask.shape != self.valid.shape:
            raise DatasetError(
                f"{self.name}: size mismatch: image {self.image.shape[1]}x{self.image.shape[2]}, "
                f"mask {self.mask.shape[0]}x{self.mask.shape[1]}, valid {self.valid.shape[0]}x{self.valid.shape[1]}"
            )


@dataclass
class SegmentationData:
    """A dataset ready for training: train/val/test samples plus what the model needs to know.

    Attributes:
        name: registry name ("drive", ...).
        class_names: one name per class, index = mask value; two names means a binary task.
        background: class left out of foreground metrics (None: all classes count).
        train, val, test: the splits.
        source: where it was read from.
    """

    name: str
    class_names: list[str]
    background: int | None
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    source: str = ""
    options: dict = field(default_factory=dict)
    objects: int | None = None  # the class whose connected components are separable objects (border weights), if any
    store: str | None = None  # the preprocessed store the arrays are memory-mapped from (datasets.store), if any

    @property
    def num_classes(self) -> int:
        """Model head outputs: 1 for binary tasks (sigmoid), else the number of classes."""
        return 1 if len(self.class_names) == 2 else len(self.class_names)

    @property
    def in_channels(self) -> int:
        """Channels of the images."""
        return int(self.train[0].image.shape[0])

    def split(self, name: str) -> list[Sample]:
        """The samples of split `name` (train, val or test)."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def class_counts(self) -> np.ndarray:
        """Pixels per class inside the valid masks of the training split (read one mask at a time)."""
        counts = np.zeros(len(self.class_names), dtype=np.int64)
        for s in self.train:
            counts += np.bincount(np.asarray(s.mask)[np.asarray(s.valid, bool)].ravel(), minlength=len(self.class_names))[: len(counts)]
            release_pages()  # a stored dataset's masks leave the process as they are counted
        return counts

    def class_weights(self) -> list[float]:
        """w_i = total / pixels of class i over the training masks (0 for an absent class)."""
        counts = self.class_counts().astype(np.float64)
        return [float(counts.sum() / c) if c > 0 else 0.0 for c in counts]
