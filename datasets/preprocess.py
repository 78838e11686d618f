"""Optional intensity preprocessing: green channel, CLAHE, gamma."""
from __future__ import annotations

import numpy as np


def green_channel(image: np.ndarray) -> np.ndarray:
    """Keep the green channel of an RGB image (where fundus vessels contrast best) as (1, H, W)."""
    return image[1:2] if image.shape[0] == 3 else image


def clahe(image: np.ndarray, clip_limit: float = 2.0, tile_grid: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation per channel (OpenCV's)."""
    import cv2  # deferred: OpenCV; only CLAHE needs it

    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile_grid, tile_grid))
    out = [op.apply((np.clip(c, 0, 1) * 255).astype(np.uint8)) for c in image]
    return np.stack(out).astype(np.float32) / 255.0


def gamma(image: np.ndarray, value: float = 1.2) -> np.ndarray:
    """Gamma correction x ** (1 / value)."""
    return np.power(np.clip(image, 0, 1), 1.0 / value).astype(np.float32)


def apply(image: np.ndarray, green: bool = False, use_clahe: bool = False, gamma_value: float | None = None) -> np.ndarray:
    """Apply the chosen steps in the usual order: green channel, CLAHE, gamma."""
    if green:
        image = green_channel(image)
    if use_clahe:
        image = clahe(image)
    if gamma_value:
        image = gamma(image, gamma_value)
    return image
