"""ISBI 2012 EM membranes (the U-Net paper's data); the class to segment is the membrane (label 0).

Layouts:
    ROOT/train-volume.tif + ROOT/train-labels.tif   (the challenge's multi-page TIFFs)
    ROOT/train/image/N.png + ROOT/train/label/N.png (one PNG per slice)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import grey_mask, image_files, read_image, read_label, read_pages, require_dir
from .types import DatasetError, Sample

CLASS_NAMES = ["cell", "membrane"]


def _membrane(label: np.ndarray, where: str) -> np.ndarray:
    values = set(np.unique(label).tolist())
    if not values <= {0, 255} and not values <= {0, 1}:
        grey = grey_mask(label)
        if grey:
            raise DatasetError(f"{where}: {grey}; re-save the labels losslessly (TIFF or PNG, nearest-neighbour resizing)")
        raise DatasetError(f"{where}: label values {sorted(values)[:8]} are not binary (0 = membrane, 255 = cell)")
    return (label == 0).astype(np.uint8)


def _from_stacks(volume: Path, labels: Path) -> list[Sample]:
    images, masks = read_pages(volume), read_pages(labels)
    if len(images) != len(masks):
        raise DatasetError(f"{labels}: {len(masks)} label pages but {len(images)} image pages in {volume.name}")
    samples = []
    for i, (im, lb) in enumerate(zip(images, masks)):
        image = np.asarray(im.convert("L"), dtype=np.float32)[None] / 255.0
        mask = _membrane(np.asarray(lb.convert("L")), f"{labels} page {i}")
        samples.append(Sample(f"slice{i:02d}", image, mask, np.ones(mask.shape, bool)))
    return samples


def _from_pngs(base: Path) -> list[Sample]:
    image_dir = require_dir(base / "image", "one grey PNG per slice")
    label_dir = require_dir(base / "label", "one label PNG per slice")
    paths = sorted(image_files(image_dir), key=lambda p: (len(p.stem), p.stem))
    if not paths:
        raise DatasetError(f"{image_dir}: no image/label pairs found")
    samples = []
    for path in paths:
        label = label_dir / path.name
        if not label.is_file():
            raise DatasetError(f"{path}: no label (expected {label})")
        mask = _membrane(read_label(label), str(label))
        samples.append(Sample(path.stem, read_image(path, "L"), mask, np.ones(mask.shape, bool)))
    return samples


def load(root: Path) -> dict[str, list[Sample]]:
    """Read the 30 annotated training slices (512x512); there is no public test split."""
    root = Path(root)
    require_dir(root, "ISBI 2012: train-volume.tif + train-labels.tif, or train/image + train/label")
    if (root / "train-volume.tif").is_file():
        return {"train": _from_stacks(root / "train-volume.tif", root / "train-labels.tif")}
    if (root / "train").is_dir():
        return {"train": _from_pngs(root / "train")}
    raise DatasetError(f"{root}: no ISBI 2012 data (expected train-volume.tif or train/image/*.png)")
