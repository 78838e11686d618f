"""datasets: loaders of official layouts, splits, patches, augmentation, fingerprints.

Its names load on first use (PEP 562), so `from datasets.x import y` does not import the whole package."""
from __future__ import annotations

from importlib import import_module

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


def __getattr__(name: str):
    """A package-level name, imported from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
