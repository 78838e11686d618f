"""Write tiny datasets in each official on-disk layout (real formats: TIF, GIF, JPG, PNG, RGB labels)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _rgb(rng, h, w):
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _binary(rng, h, w, on=255):
    return (rng.random((h, w)) < 0.2).astype(np.uint8) * on


def write_drive(root: Path, n_train=3, n_test=2, h=40, w=36) -> Path:
    rng = np.random.default_rng(0)
    for split, names in (("training", [f"{21 + i}" for i in range(n_train)]), ("test", [f"{i + 1:02d}" for i in range(n_test)])):
        for sub in ("images", "1st_manual", "mask"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for num in names:
            _rgb(rng, h, w).save(root / split / "images" / f"{num}_{split}.tif", compression="tiff_lzw")
            Image.fromarray(_binary(rng, h, w)).save(root / split / "1st_manual" / f"{num}_manual1.gif")
            fov = np.zeros((h, w), np.uint8)
            fov[2:-2, 2:-2] = 255
            Image.fromarray(fov).save(root / split / "mask" / f"{num}_{split}_mask.gif")
    return root


def write_isbi_pngs(root: Path, n=10, size=32) -> Path:
    rng = np.random.default_rng(1)
    (root / "train" / "image").mkdir(parents=True)
    (root / "train" / "label").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / "train" / "image" / f"{i}.png")
        Image.fromarray(255 - _binary(rng, size, size)).save(root / "train" / "label" / f"{i}.png")
    return root


def write_isbi_stacks(root: Path, n=10, size=32) -> Path:
    rng = np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)) for _ in range(n)]
    labels = [Image.fromarray(255 - _binary(rng, size, size)) for _ in range(n)]
    images[0].save(root / "train-volume.tif", save_all=True, append_images=images[1:])
    labels[0].save(root / "train-labels.tif", save_all=True, append_images=labels[1:])
    return root


def write_isic(root: Path, n=10) -> Path:
    rng = np.random.default_rng(3)
    (root / "ISIC2018_Task1-2_Training_Input").mkdir(parents=True)
    (root / "ISIC2018_Task1_Training_GroundTruth").mkdir(parents=True)
    for i in range(n):
        h, w = int(rng.integers(30, 60)), int(rng.integers(30, 60))  # many sizes
        key = f"ISIC_{i:07d}"
        _rgb(rng, h, w).save(root / "ISIC2018_Task1-2_Training_Input" / f"{key}.jpg")
        Image.fromarray(_binary(rng, h, w)).save(root / "ISIC2018_Task1_Training_GroundTruth" / f"{key}_segmentation.png")
    return root


def write_pet(root: Path, n=10, size=30) -> Path:
    rng = np.random.default_rng(4)
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for i in range(n):
        name = f"Abyssinian_{i + 1}"
        _rgb(rng, size, size).save(root / "images" / f"{name}.jpg")
        Image.fromarray(rng.integers(1, 4, (size, size), dtype=np.uint8)).save(root / "annotations" / "trimaps" / f"{name}.png")
    return root


VAIHINGEN_COLOURS = [(255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0)]


def write_vaihingen(root: Path, n=10, size=32) -> Path:
    rng = np.random.default_rng(5)
    (root / "top").mkdir(parents=True)
    (root / "gts_for_participants").mkdir(parents=True)
    for i in range(n):
        name = f"top_mosaic_09cm_area{i + 1}"
        _rgb(rng, size, size).save(root / "top" / f"{name}.tif")
        classes = rng.integers(0, 6, (size, size))
        Image.fromarray(np.array(VAIHINGEN_COLOURS, np.uint8)[classes]).save(root / "gts_for_participants" / f"{name}.tif")
    return root


def write_folder(root: Path, n=10, size=32, classes=2) -> Path:
    rng = np.random.default_rng(6)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / "images" / f"img{i}.png")
        mask = _binary(rng, size, size) if classes == 2 else rng.integers(0, classes, (size, size), dtype=np.uint8)
        Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / f"img{i}.png")
    return root
