"""datasets: loaders of official layouts, splits, patches, augmentation, fingerprints.

Its names load on first use (PEP 562), so `from datasets.x import y` does not import the whole package."""
from __future__ import annotations

from unet_core.lazy import lazy_exports

_EXPORTS = {  # name -> the module that defines it
    "PRESETS": ".augment",
    "build_augmentation": ".augment",
    "Fingerprint": ".fingerprint",
    "compute_fingerprint": ".fingerprint",
    "PatchDataset": ".patching",
    "RandomPatchDataset": ".patching",
    "extract_patches": ".patching",
    "grid_positions": ".patching",
    "stitch_patches": ".patching",
    "DATASETS": ".registry",
    "get_spec": ".registry",
    "load_dataset": ".registry",
    "DatasetError": ".types",
    "FloatImages": ".types",
    "Sample": ".types",
    "SegmentationData": ".types",
    "as_float": ".types",
    "full_images": ".types",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
