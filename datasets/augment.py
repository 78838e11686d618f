"""Augmentation presets built with albumentations; masks and valid masks move with the image."""
from __future__ import annotations

from typing import Callable

import albumentations as A
import cv2
import numpy as np

PRESETS = ("none", "flips", "light", "strong")

# (image (C,H,W), mask, valid, weight or None) -> the same four, transformed together
Augment = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]


def _transforms(preset: str) -> list[A.BasicTransform]:
    flips = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if preset == "flips":
        return flips
    light = flips + [A.RandomRotate90(p=0.5)]
    if preset == "light":
        return light
    return light + [
        A.ElasticTransform(alpha=30, sigma=6, border_mode=cv2.BORDER_REFLECT_101, p=0.3),  # the U-Net paper's deformation
        A.Affine(scale=(0.9, 1.1), border_mode=cv2.BORDER_REFLECT_101, p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
        A.GaussNoise(std_range=(0.01, 0.04), p=0.3),
    ]


def build_augmentation(preset: str, seed: int | None = None) -> Augment | None:
    """A callable (image (C,H,W), mask, valid, weight=None) -> the four augmented together, for a preset; None for `none`.

    `flips`: horizontal and vertical mirroring only (data whose images have a shape, as an endoscope's, that quarter
    turns would change). `light`: flips and 90-degree rotations. `strong`: light plus elastic deformation, scaling,
    brightness/contrast and Gaussian noise.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if preset == "none":
        return None
    compose = A.Compose(_transforms(preset), seed=seed)

    def augment(image: np.ndarray, mask: np.ndarray, valid: np.ndarray, weight: np.ndarray | None = None):
        masks = [mask, valid.astype(np.uint8)] + ([] if weight is None else [np.ascontiguousarray(weight, dtype=np.float32)])
        out = compose(image=np.ascontiguousarray(image.transpose(1, 2, 0)), masks=masks)
        img = out["image"]
        img = img[..., None] if img.ndim == 2 else img
        m, v = out["masks"][:2]
        w = None if weight is None else np.asarray(out["masks"][2], dtype=np.float32)
        return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32), np.asarray(m), np.asarray(v).astype(bool), w

    return augment
