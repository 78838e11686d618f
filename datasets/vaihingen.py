"""ISPRS Vaihingen-style aerial tiles with RGB-coded labels.

Layouts: the ISPRS release `ROOT/top/*.tif` + `ROOT/gts_for_participants/*.tif`, or `ROOT/images/*` +
`ROOT/labels/*` matched by file stem. Label colours map to: 0 impervious surfaces (white),
1 building (blue), 2 low vegetation (cyan), 3 tree (green), 4 car (yellow), 5 clutter (red).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import image_files, read_image, read_rgb_label
from .types import DatasetError, Sample, Streamed

CLASS_NAMES = ["impervious_surfaces", "building", "low_vegetation", "tree", "car", "clutter"]
COLOURS = [(255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0)]
BACKGROUND = 5  # clutter is left out of the foreground mean, as in the ISPRS benchmark


def decode_colours(rgb: np.ndarray, path: Path) -> np.ndarray:
    """Map an (H, W, 3) colour-coded label to class indices; an unknown colour is an error naming the file."""
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    mask = np.full(code.shape, 255, np.uint8)
    for cls, (r, g, b) in enumerate(COLOURS):
        mask[code == (r << 16 | g << 8 | b)] = cls
    if (mask == 255).any():
        y, x = np.argwhere(mask == 255)[0]
        raise DatasetError(f"{path}: colour {tuple(int(v) for v in rgb[y, x])} at ({y}, {x}) is not an ISPRS class colour")
    return mask


def load(root: Path) -> dict[str, Streamed]:
    """Read every tile and its colour-coded label."""
    root = Path(root)
    for images_dir, labels_dir in (("top", "gts_for_participants"), ("images", "labels")):
        if (root / images_dir).is_dir() and (root / labels_dir).is_dir():
            break
    else:
        raise DatasetError(f"{root}: missing folder (expected top/ + gts_for_participants/ or images/ + labels/)")
    labels = {p.stem: p for p in image_files(root / labels_dir)}
    paths = image_files(root / images_dir)
    if not paths:
        raise DatasetError(f"{root / images_dir}: no image tiles found")
    for path in paths:  # every pair checked before anything is decoded
        if path.stem not in labels:
            raise DatasetError(f"{path}: no label (expected {root / labels_dir / path.stem}.*)")

    def decode(path: Path) -> Sample:
        image, mask = read_image(path, "RGB"), decode_colours(read_rgb_label(labels[path.stem]), labels[path.stem])
        if image.shape[1:] != mask.shape:
            raise DatasetError(f"{labels[path.stem]}: size {mask.shape[1]}x{mask.shape[0]} differs from its image {image.shape[2]}x{image.shape[1]}")
        return Sample(path.stem, image, mask, np.ones(mask.shape, bool))

    return {"train": Streamed(paths, decode)}
