"""Working resolution: an image resized so its longer side is `side` pixels (aspect kept), and probabilities brought
back to the original size, so a model trained at a reduced scale is scored at the original resolution."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def scaled_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) of an image of `height` x `width` whose longer side becomes `side` (0: unchanged)."""
    if not side:
        return height, width
    factor = side / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def resize_image(image: np.ndarray, side: int) -> np.ndarray:
    """A (C, H, W) image at working resolution `side`, in its own dtype (uint8 stays uint8: rounded); area averaging when
    shrinking, bilinear when growing."""
    c, h, w = image.shape
    size = scaled_shape(h, w, side)
    if size == (h, w):
        return image
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    mode = "area" if size[0] <= h else "bilinear"
    out = F.interpolate(x, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))[0].numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if image.dtype == np.uint8 else out.astype(image.dtype)


def resize_labels(labels: np.ndarray, side: int) -> np.ndarray:
    """An (H, W) mask, valid map or weight map at working resolution `side`, nearest neighbour, in its own dtype (labels
    stay labels, weights keep their fractions)."""
    h, w = labels.shape
    size = scaled_shape(h, w, side)
    if size == (h, w):
        return labels
    x = torch.from_numpy(np.ascontiguousarray(labels).astype(np.float32))[None, None]
    out = F.interpolate(x, size=size, mode="nearest-exact")[0, 0].numpy()
    return out.astype(labels.dtype)


def to_working(image: Tensor, side: int) -> Tensor:
    """A (C, H, W) float image tensor at working resolution `side` (the same resizing as resize_image)."""
    size = scaled_shape(image.shape[-2], image.shape[-1], side)
    if size == tuple(image.shape[-2:]):
        return image
    mode = "area" if size[0] <= image.shape[-2] else "bilinear"
    return F.interpolate(image[None].float(), size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))[0]


def to_original(probs: Tensor, height: int, width: int) -> Tensor:
    """(K, h, w) class probabilities upsampled to the original `height` x `width` (bilinear, still summing to one)."""
    if tuple(probs.shape[-2:]) == (height, width):
        return probs
    return F.interpolate(probs[None].float(), size=(height, width), mode="bilinear", align_corners=False)[0]


def checkpoint_side(meta: dict) -> int:
    """The working resolution a checkpoint's model was trained at (its params' image_side; 0: the original)."""
    return int((meta.get("params") or {}).get("image_side", 0) or 0)
