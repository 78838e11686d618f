"""Reading image and mask files with one-line errors that name the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from .types import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp")


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None


def read_image(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode an image file to (C, H, W) float32 in [0, 1]; mode "L" or "RGB" converts first."""
    img = _open(path)
    if mode:
        img = img.convert(mode)
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB" if img.mode in ("RGBA", "P", "CMYK", "YCbCr") else "L")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def read_label(path: Path) -> np.ndarray:
    """Decode a label image to (H, W) integers as stored (palette indices stay indices)."""
    img = _open(path)
    if img.mode in ("RGB", "RGBA"):
        raise DatasetError(f"{path}: expected a single-channel label image, got {img.mode}")
    if img.mode not in ("L", "P", "1", "I", "I;16"):
        img = img.convert("L")
    return np.asarray(img).astype(np.int64)


def read_rgb_label(path: Path) -> np.ndarray:
    """Decode an RGB-coded label image to (H, W, 3) uint8."""
    return np.asarray(_open(path).convert("RGB"), dtype=np.uint8)


def read_pages(path: Path) -> list[Image.Image]:
    """All pages of a multi-page image (e.g. a TIFF stack)."""
    img = _open(path)
    try:
        return [page.copy() for page in ImageSequence.Iterator(img)]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable page ({exc})") from None


def read_binary_mask(path: Path) -> np.ndarray:
    """Decode a binary mask (0/1, 0/255, or a two-colour grey palette as DRIVE's GIFs) to 0/1 uint8."""
    img = _open(path)
    if img.mode == "P":
        grey = np.asarray(img.convert("L"))
        if ((grey <= 15) | (grey >= 240)).all():  # palette entries near black and white
            return (grey > 127).astype(np.uint8)
        raise DatasetError(f"{path}: mask values {np.unique(grey)[:8].tolist()} are not binary (expected black/white)")
    return binarize(read_label(path), path)


def binarize(label: np.ndarray, path: Path) -> np.ndarray:
    """A 0/1 mask from a binary label stored as {0,1} or {0,255}; anything else is an error naming the file."""
    values = np.unique(label)
    if set(values.tolist()) <= {0, 1}:
        return label.astype(np.uint8)
    if set(values.tolist()) <= {0, 255}:
        return (label > 0).astype(np.uint8)
    raise DatasetError(f"{path}: mask values {values[:8].tolist()} are not binary (expected 0/1 or 0/255)")


def check_classes(mask: np.ndarray, num_classes: int, path: Path) -> np.ndarray:
    """Return mask as uint8 if all values are class indices < num_classes, else raise naming the file."""
    if mask.size and (mask.min() < 0 or mask.max() >= num_classes):
        bad = sorted(set(np.unique(mask).tolist()) - set(range(num_classes)))
        raise DatasetError(f"{path}: mask values {bad[:8]} outside the {num_classes} classes 0..{num_classes - 1}")
    return mask.astype(np.uint8)


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a directory, else raise a one-line error saying what was expected there."""
    if not path.is_dir():
        raise DatasetError(f"{path}: missing folder ({what})")
    return path


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (bilinear) and mask (nearest) to size x size."""
    chans = [np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in image]
    m = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((size, size), Image.NEAREST))
    return np.stack(chans).astype(np.float32), m.astype(np.uint8)


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted, skipping hidden files."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
