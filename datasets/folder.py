"""A generic folder dataset for users' own data: ROOT/images/* and ROOT/masks/* matched by file stem.

Masks are binary (0/1 or 0/255) or indexed (values 0..K-1). An optional ROOT/test/{images,masks}
holds a test split. Masks with many grey values, almost all at the two ends of the range (a binary mask resized with
interpolation or saved as JPEG), are refused with one line unless `num_classes` is 2, which thresholds them at half range.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import binarize, check_classes, check_image_file, grey_mask, image_files, read_image, read_label, require_dir
from .types import DatasetError, Sample


def _read_pairs(base: Path) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    images = image_files(require_dir(base / "images", "the images"))
    masks = {p.stem: p for p in image_files(require_dir(base / "masks", "one mask per image, same file stem"))}
    if not images:
        raise DatasetError(f"{base / 'images'}: no image/mask pairs found")
    pairs = []
    for path in images:
        check_image_file(path)
        if path.stem not in masks:
            raise DatasetError(f"{path}: no mask (expected {base / 'masks' / path.stem}.*)")
        image, label = read_image(path), read_label(masks[path.stem])
        if image.shape[1:] != label.shape:
            raise DatasetError(f"{masks[path.stem]}: size {label.shape[1]}x{label.shape[0]} differs from its image {image.shape[2]}x{image.shape[1]}")
        pairs.append((masks[path.stem], image, label))
    return pairs


def detect_classes(pairs: list[tuple[Path, np.ndarray, np.ndarray]]) -> int:
    """2 for binary masks (0/1 or 0/255), else max value + 1; masks that look like grey-valued binary masks are an error
    that says what was found and what to do."""
    values = set()
    for path, _, label in pairs:
        grey = grey_mask(label)
        if grey:
            raise DatasetError(f"{path}: {grey}; pass --num-classes 2 to threshold the masks at half range, re-save them losslessly "
                               "(PNG, nearest-neighbour resizing), or pass --num-classes N if they really are N class labels")
        values |= set(np.unique(label).tolist())
    return 2 if values <= {0, 1} or values <= {0, 255} else int(max(values)) + 1


def load(root: Path, num_classes: int | None = None) -> dict[str, list[Sample]]:
    """Read images/ + masks/ (and test/images + test/masks if present); `num_classes` None detects it."""
    root = Path(root)
    splits = {"train": _read_pairs(root)}
    if (root / "test").is_dir():
        splits["test"] = _read_pairs(root / "test")
    classes = num_classes or detect_classes([pair for pairs in splits.values() for pair in pairs])
    out = {}
    for split, pairs in splits.items():
        out[split] = [
            Sample(path.stem, image, binarize(label, path, threshold=num_classes == 2) if classes == 2 else check_classes(label, classes, path),
                   np.ones(label.shape, bool))
            for path, image, label in pairs
        ]
    return out
