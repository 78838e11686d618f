"""DRIVE retinal vessels in the official layout.

    ROOT/training/images/21_training.tif   ROOT/training/1st_manual/21_manual1.gif   ROOT/training/mask/21_training_mask.gif
    ROOT/test/images/01_test.tif           ROOT/test/1st_manual/01_manual1.gif       ROOT/test/mask/01_test_mask.gif
"""
from __future__ import annotations

from pathlib import Path


from . import preprocess
from .io import check_image_file, image_files, read_binary_mask, read_image, require_dir
from .types import DatasetError, Sample, Streamed

CLASS_NAMES = ["background", "vessel"]


def _load_split(root: Path, split: str, green: bool, clahe: bool, gamma: float | None, threshold: bool = False) -> Streamed:
    base = require_dir(root / split, f"DRIVE expects {split}/images, {split}/1st_manual, {split}/mask")
    images = image_files(require_dir(base / "images", "the fundus .tif images"))
    if not images:
        raise DatasetError(f"{base / 'images'}: no images found")
    files = {}
    for path in images:  # every file checked before anything is decoded
        check_image_file(path)
        number = path.stem.split("_")[0]
        manual = base / "1st_manual" / f"{number}_manual1.gif"
        fov = base / "mask" / f"{path.stem}_mask.gif"
        for needed, what in ((manual, "vessel annotation"), (fov, "field-of-view mask")):
            if not needed.is_file():
                raise DatasetError(f"{path}: no {what} (expected {needed})")
        files[path] = (manual, fov)

    def decode(path: Path) -> Sample:
        manual, fov = files[path]
        image = preprocess.apply(read_image(path, "RGB"), green, clahe, gamma)
        return Sample(path.stem, image, read_binary_mask(manual, threshold), read_binary_mask(fov, threshold).astype(bool))

    return Streamed(images, decode)


def load(root: Path, green: bool = False, clahe: bool = False, gamma: float | None = None, num_classes: int | None = None) -> dict[str, Streamed]:
    """Read DRIVE's training and test splits (20 + 20 images, 565x584) with field-of-view masks.

    Args:
        root: folder holding `training/` and `test/`.
        green: keep only the green channel.
        clahe: apply CLAHE.
        gamma: gamma correction value (None: off).
        num_classes: 2 thresholds grey-valued masks (resized with interpolation, saved as JPEG) at half range instead of refusing them.
    """
    return {split: _load_split(Path(root), name, green, clahe, gamma, num_classes == 2) for split, name in (("train", "training"), ("test", "test"))}


def vessel_fraction(samples: list[Sample]) -> float:
    """Fraction of field-of-view pixels that are vessel."""
    fg = sum(int(s.mask[s.valid].sum()) for s in samples)
    return fg / max(1, sum(int(s.valid.sum()) for s in samples))


__all__ = ["CLASS_NAMES", "load", "vessel_fraction"]
