"""ISIC lesion segmentation (Task 1): ISIC_XXXXXXX.jpg with ISIC_XXXXXXX_segmentation.png anywhere under ROOT.

Images come in many sizes; every image and mask is resized to `size` x `size`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .io import check_image_file, read_binary_mask, read_image, require_dir, resize_pair
from .types import DatasetError, Sample, Streamed

CLASS_NAMES = ["skin", "lesion"]
_IMAGE = re.compile(r"^(ISIC_\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
_MASK = re.compile(r"^(ISIC_\d+)_segmentation\.png$", re.IGNORECASE)


def load(root: Path, size: int = 256, num_classes: int | None = None) -> dict[str, Streamed]:
    """Pair every ISIC image with its segmentation by ID (images and masks may sit in separate folders); `num_classes` 2
    thresholds grey-valued masks (resized with interpolation, saved as JPEG) at half range instead of refusing them."""
    root = require_dir(Path(root), "ISIC images and *_segmentation.png masks")
    images, masks = {}, {}
    for path in sorted(root.rglob("ISIC_*")):
        if (m := _MASK.match(path.name)) is not None:
            masks[m.group(1)] = path
        elif (m := _IMAGE.match(path.name)) is not None:
            images[m.group(1)] = path
    if not images:
        raise DatasetError(f"{root}: no ISIC_*.jpg images found")
    for key, path in sorted(images.items()):  # every pair checked before anything is decoded
        check_image_file(path)
        if key not in masks:
            raise DatasetError(f"{path}: no mask (expected {key}_segmentation.png under {root})")

    def decode(key: str) -> Sample:
        image, mask = read_image(images[key], "RGB"), read_binary_mask(masks[key], threshold=num_classes == 2)
        if image.shape[1:] != mask.shape:
            raise DatasetError(f"{masks[key]}: size {mask.shape[1]}x{mask.shape[0]} differs from its image {image.shape[2]}x{image.shape[1]}")
        image, mask = resize_pair(image, mask, size)
        return Sample(key, image, mask, np.ones(mask.shape, bool))

    return {"train": Streamed(sorted(images), decode)}
