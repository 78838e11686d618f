"""Oxford-IIIT Pet: ROOT/images/*.jpg with ROOT/annotations/trimaps/*.png (1 pet, 2 background, 3 border).

Trimap values map to classes 0 background, 1 pet, 2 border. Images are resized to `size` x `size`.
The official lists annotations/trainval.txt and annotations/test.txt set the splits when present.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import image_files, read_image, read_label, require_dir, resize_pair
from .types import DatasetError, Sample, Streamed

CLASS_NAMES = ["background", "pet", "border"]
_TRIMAP_TO_CLASS = {1: 1, 2: 0, 3: 2}


def _official_lists(root: Path) -> dict[str, set[str]]:
    lists = {}
    for split, name in (("train", "trainval.txt"), ("test", "test.txt")):
        path = root / "annotations" / name
        if path.is_file():
            lists[split] = {line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}
    return lists if len(lists) == 2 else {}


def load(root: Path, size: int = 256) -> dict[str, Streamed]:
    """Read images and trimaps; splits from the official lists, else everything is training data."""
    root = Path(root)
    paths = [p for p in image_files(require_dir(root / "images", "the pet .jpg images")) if p.suffix.lower() in (".jpg", ".jpeg")]
    trimaps = require_dir(root / "annotations" / "trimaps", "one trimap PNG per image")
    if not paths:
        raise DatasetError(f"{root / 'images'}: no .jpg images found")
    by_stem = {}
    for path in paths:  # every pair checked before anything is decoded
        tri = trimaps / f"{path.stem}.png"
        if not tri.is_file():
            raise DatasetError(f"{path}: no trimap (expected {tri})")
        by_stem[path.stem] = (path, tri)

    def decode(stem: str) -> Sample:
        path, tri = by_stem[stem]
        raw = read_label(tri)
        bad = sorted(set(np.unique(raw).tolist()) - set(_TRIMAP_TO_CLASS))
        if bad:
            raise DatasetError(f"{tri}: trimap values {bad[:8]} outside 1 (pet), 2 (background), 3 (border)")
        mask = np.zeros(raw.shape, np.uint8)
        for value, cls in _TRIMAP_TO_CLASS.items():
            mask[raw == value] = cls
        image = read_image(path, "RGB")
        if image.shape[1:] != mask.shape:
            raise DatasetError(f"{tri}: size {mask.shape[1]}x{mask.shape[0]} differs from its image {image.shape[2]}x{image.shape[1]}")
        image, mask = resize_pair(image, mask, size)
        return Sample(path.stem, image, mask, np.ones(mask.shape, bool))

    lists = _official_lists(root)
    if not lists:
        return {"train": Streamed(list(by_stem), decode)}
    return {split: Streamed([k for k in by_stem if k in names], decode) for split, names in lists.items()}
