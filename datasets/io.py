"""Reading image and mask files with one-line errors that name the file."""
from __future__ import annotations

import os
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
        return grey_from_colour(np.asarray(img), path)
    if img.mode not in ("L", "P", "1", "I", "I;16"):
        img = img.convert("L")
    return np.asarray(img).astype(np.int64)


MAX_COLOURS_NAMED = 6


def grey_from_colour(pixels: np.ndarray, path: Path) -> np.ndarray:
    """The (H, W) labels of an RGB(A) mask saved with three equal colour channels (a grey mask saved as colour, as
    Kvasir-SEG's JPEGs); a mask whose channels differ is a colour-coded label map: a one-line error naming its colours."""
    rgb = pixels[..., :3]
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all():
        return rgb[..., 0].astype(np.int64)
    colours, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_counts=True)
    top = [tuple(int(v) for v in c) for c in colours[np.argsort(-counts)][:MAX_COLOURS_NAMED]]
    more = f" and {len(colours) - len(top)} more" if len(colours) > len(top) else ""
    raise DatasetError(f"{path}: a colour-coded label map ({len(colours)} colours: {', '.join(map(str, top))}{more}), not a grey mask: "
                       "save one class index per pixel (an 8-bit grey or palette PNG), or use --dataset vaihingen for ISPRS colour maps")


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


def read_binary_mask(path: Path, threshold: bool = False) -> np.ndarray:
    """Decode a binary mask (0/1, 0/255, or a two-colour grey palette as DRIVE's GIFs) to 0/1 uint8; `threshold`
    (the user's --num-classes 2) cuts a grey-valued mask at half range instead of refusing it."""
    img = _open(path)
    if img.mode == "P":
        grey = np.asarray(img.convert("L"))
        if threshold or ((grey <= 15) | (grey >= 240)).all():  # palette entries near black and white
            return (grey > 127).astype(np.uint8)
        raise DatasetError(f"{path}: mask values {np.unique(grey)[:8].tolist()} are not binary (expected black/white)")
    return binarize(read_label(path), path, threshold)


# a binary mask resized with interpolation or saved as JPEG: more distinct values than a label image has classes,
# almost every pixel near the two ends of the range, every value in between rare
GREY_MIN_VALUES = 8
GREY_BAND = 0.1  # "near an end": within this share of the value range of the lowest or highest value
GREY_ENDS_SHARE = 0.9
GREY_RARE_SHARE = 0.01


def grey_mask(label: np.ndarray) -> str | None:
    """What makes `label` look like a grey-valued binary mask rather than class labels (None: it does not)."""
    values, counts = np.unique(label, return_counts=True)
    if len(values) < GREY_MIN_VALUES:
        return None
    share = counts / counts.sum()
    band = GREY_BAND * (values[-1] - values[0])
    near = (values <= values[0] + band) | (values >= values[-1] - band)
    ends = float(share[near].sum())
    if ends < GREY_ENDS_SHARE or share[~near].max(initial=0) > GREY_RARE_SHARE:
        return None
    return (f"{len(values)} distinct values, {ends:.1%} of pixels near {values[0]} or {values[-1]}, every value between rarer than "
            f"{GREY_RARE_SHARE:.0%}: a binary mask resized with interpolation or saved as JPEG, not class labels")


def half_range(label: np.ndarray) -> int:
    """The threshold of a grey-valued binary mask: half its value range (127 for 8-bit masks, 0 for 0/1 masks)."""
    return 127 if int(label.max()) > 1 else 0


def binarize(label: np.ndarray, path: Path, threshold: bool = False) -> np.ndarray:
    """A 0/1 mask from a binary label stored as {0,1} or {0,255}; with `threshold` any grey values are cut at half range;
    anything else is an error naming the file (and, for a grey-valued mask, what to do)."""
    values = np.unique(label)
    if set(values.tolist()) <= {0, 1}:
        return label.astype(np.uint8)
    if set(values.tolist()) <= {0, 255} or threshold:
        return (label > half_range(label)).astype(np.uint8)
    grey = grey_mask(label)
    if grey:
        raise DatasetError(f"{path}: {grey}; re-save the masks losslessly (PNG, nearest-neighbour resizing) or pass --num-classes 2 "
                           "to threshold them at half range")
    raise DatasetError(f"{path}: mask values {values[:8].tolist()} are not binary (expected 0/1 or 0/255)")


def check_image_file(path: Path) -> Path:
    """`path` if it is a readable file; else a one-line error saying the image itself cannot be read (a dangling link, a folder)."""
    if path.is_file():
        return path
    if path.is_symlink():
        raise DatasetError(f"{path}: the image itself cannot be read: a symbolic link to {os.readlink(path)}, which does not exist")
    raise DatasetError(f"{path}: the image itself cannot be read (not a file)")


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
    """Resize image (bilinear) and mask (nearest) to size x size; an image decoded from an 8-bit file (values k / 255) is
    resized in uint8 and stays uint8 (a quarter of float32's bytes in the store)."""
    u8 = image if image.dtype == np.uint8 else np.rint(np.asarray(image, np.float32) * 255).clip(0, 255).astype(np.uint8)
    eight_bit = image.dtype == np.uint8 or np.array_equal(u8.astype(np.float32) / 255.0, image)
    source = u8 if eight_bit else np.asarray(image, np.float32)
    chans = [np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in source]
    m = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((size, size), Image.NEAREST))
    return np.stack(chans).astype(np.uint8 if eight_bit else np.float32), m.astype(np.uint8)


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted, skipping hidden files."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
