"""Synthetic data, deterministic per seed: the embedded default for the main job and the tests.

`vessels`: thin curvilinear dark structures on a bright, vignetted disk (a circular field of view),
like a fundus photograph. `lesions`: dark elliptical blobs on textured skin.
"""
from __future__ import annotations

import numpy as np

from .types import Sample

KINDS = ("vessels", "lesions")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:size, 0:size].astype(np.float32)


def _vessel_mask(rng: np.random.Generator, size: int, fov: np.ndarray) -> np.ndarray:
    yy, xx = _grid(size)
    mask = np.zeros((size, size), bool)
    c = (size - 1) / 2
    for _ in range(rng.integers(5, 9)):
        angle = rng.uniform(0, 2 * np.pi)
        start = np.array([c, c]) + rng.normal(0, size * 0.08, 2)
        direction = np.array([np.sin(angle), np.cos(angle)])
        wiggle, phase, freq = size * rng.uniform(0.02, 0.06), rng.uniform(0, 2 * np.pi), rng.uniform(1, 3)
        radius = rng.uniform(0.6, 1.8)
        t = np.linspace(0, size * 0.55, int(size * 1.5))
        normal = np.array([-direction[1], direction[0]])
        pts = start[None] + t[:, None] * direction[None] + (wiggle * np.sin(freq * t / size * 2 * np.pi + phase))[:, None] * normal[None]
        for chunk in np.array_split(pts, 8):
            d2 = (yy[None] - chunk[:, 0, None, None]) ** 2 + (xx[None] - chunk[:, 1, None, None]) ** 2
            mask |= (d2 <= radius**2).any(0)
    return mask & fov


def _lesion_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    mask = np.zeros((size, size), bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        ry, rx = rng.uniform(0.06, 0.18, 2) * size
        theta = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dy * np.cos(theta) + dx * np.sin(theta), -dy * np.sin(theta) + dx * np.cos(theta)
        mask |= (u / ry) ** 2 + (v / rx) ** 2 <= 1
    return mask


def make_sample(seed: int, size: int = 96, kind: str = "vessels", name: str | None = None) -> Sample:
    """One synthetic image (1, size, size) with its mask and field of view, determined by `seed`."""
    if kind not in KINDS:
        raise ValueError(f"synthetic kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    yy, xx = _grid(size)
    c = (size - 1) / 2
    r2 = ((yy - c) ** 2 + (xx - c) ** 2) / (size / 2) ** 2
    if kind == "vessels":
        fov = r2 <= 0.92**2
        mask = _vessel_mask(rng, size, fov)
        background = 0.65 - 0.25 * r2 + rng.normal(0, 0.02, (size, size))
        image = np.where(mask, background - rng.uniform(0.18, 0.3), background)
        image = np.where(fov, image, 0.02)
    else:
        fov = np.ones((size, size), bool)
        mask = _lesion_mask(rng, size)
        texture = 0.6 + 0.05 * np.sin(xx / rng.uniform(3, 6)) * np.cos(yy / rng.uniform(3, 6))
        image = np.where(mask, texture - rng.uniform(0.2, 0.35), texture)
    image = image + rng.normal(0, 0.04, (size, size))
    return Sample(name or f"synthetic_{seed:04d}", np.clip(image, 0, 1).astype(np.float32)[None], mask.astype(np.uint8), fov)


def load(root=None, kind: str = "vessels", n_train: int = 16, n_test: int = 8, size: int = 96, data_seed: int = 0) -> dict[str, list[Sample]]:
    """`n_train` training and `n_test` test images of `size` x `size`; `root` is ignored (nothing is read)."""
    return {
        "train": [make_sample(data_seed * 100003 + i, size, kind, f"train_{i:03d}") for i in range(n_train)],
        "test": [make_sample(data_seed * 100003 + 50000 + i, size, kind, f"test_{i:03d}") for i in range(n_test)],
    }
