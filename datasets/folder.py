"""A generic folder dataset for users' own data: ROOT/images/* and ROOT/masks/* matched by file stem.

Masks are binary (0/1 or 0/255) or indexed (values 0..K-1), grey or saved as RGB(A) with three equal channels. An
optional ROOT/test/{images,masks} holds a test split. Masks with many grey values, almost all at the two ends of the
range (a binary mask resized with interpolation or saved as JPEG), are refused with one line unless `num_classes` is 2,
which thresholds them at half range. Cases are decoded one at a time, so a folder of any size streams into the store.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .io import binarize, check_classes, check_image_file, grey_mask, image_files, read_image, read_label, require_dir
from .types import DatasetError, Sample


def _pairs(base: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths, checked to exist before anything is decoded."""
    images = image_files(require_dir(base / "images", "the images"))
    masks = {p.stem: p for p in image_files(require_dir(base / "masks", "one mask per image, same file stem"))}
    if not images:
        raise DatasetError(f"{base / 'images'}: no image/mask pairs found")
    for path in images:
        check_image_file(path)
        if path.stem not in masks:
            raise DatasetError(f"{path}: no mask (expected {base / 'masks' / path.stem}.*)")
    return [(path, masks[path.stem]) for path in images]


def detect_classes(labels) -> int:
    """2 for binary masks (0/1 or 0/255), else max value + 1, over (path, label) pairs; masks that look like grey-valued
    binary masks are an error that says what was found and what to do."""
    values = set()
    for path, label in labels:
        grey = grey_mask(label)
        if grey:
            raise DatasetError(f"{path}: {grey}; pass --num-classes 2 to threshold the masks at half range, re-save them losslessly "
                               "(PNG, nearest-neighbour resizing), or pass --num-classes N if they really are N class labels")
        values |= set(np.unique(label).tolist())
    return 2 if values <= {0, 1} or values <= {0, 255} else int(max(values)) + 1


class Cases:
    """The cases of one split, decoded one at a time as they are iterated (len() without decoding)."""

    def __init__(self, pairs: list[tuple[Path, Path]], classes: int, threshold: bool):
        self.pairs, self.classes, self.threshold = pairs, classes, threshold

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Sample]:
        for image_path, mask_path in self.pairs:
            image, label = read_image(image_path), read_label(mask_path)
            if image.shape[1:] != label.shape:
                raise DatasetError(f"{mask_path}: size {label.shape[1]}x{label.shape[0]} differs from its image {image.shape[2]}x{image.shape[1]}")
            mask = binarize(label, mask_path, self.threshold) if self.classes == 2 else check_classes(label, self.classes, mask_path)
            yield Sample(image_path.stem, image, mask, np.ones(label.shape, bool))


def _listed(pairs: list[tuple[Path, Path]], lists: Path) -> dict[str, list[tuple[Path, Path]]]:
    """The pairs split by the stem lists in `lists`: train.txt, and test.txt (or val.txt: a published split's held-out list)."""
    folder = require_dir(Path(lists), "the split lists (train.txt, and test.txt or val.txt)")
    held_out = next((folder / n for n in ("test.txt", "val.txt") if (folder / n).is_file()), None)
    if not (folder / "train.txt").is_file() or held_out is None:
        raise DatasetError(f"{folder}: a split-lists folder holds train.txt and test.txt (or val.txt), one image stem a line")
    by_stem = {image.stem: (image, mask) for image, mask in pairs}
    out = {}
    for split, file in (("train", folder / "train.txt"), ("test", held_out)):
        stems = [line.strip() for line in file.read_text().splitlines() if line.strip()]
        missing = next((stem for stem in stems if stem not in by_stem), None)
        if missing is not None:
            raise DatasetError(f"{file}: {missing} has no image in the images folder")
        out[split] = [by_stem[stem] for stem in stems]
    return out


def load(root: Path, num_classes: int | None = None, split_lists: str | None = None) -> dict[str, Cases]:
    """Read images/ + masks/ (and test/images + test/masks if present); `num_classes` None detects it (one pass over
    the masks alone); `split_lists` names a folder whose train.txt and test.txt (or val.txt) list the image stems of
    each split (a published split), instead of test/."""
    root = Path(root)
    splits = {"train": _pairs(root)}
    if split_lists:
        splits = _listed(splits["train"], Path(split_lists))
    elif (root / "test").is_dir():
        splits["test"] = _pairs(root / "test")
    classes = num_classes or detect_classes((mask, read_label(mask)) for pairs in splits.values() for _, mask in pairs)
    return {split: Cases(pairs, classes, num_classes == 2) for split, pairs in splits.items()}
