"""datasets: loaders of official layouts, splits, patches, augmentation, fingerprints."""
from .augment import PRESETS, build_augmentation
from .fingerprint import Fingerprint, compute_fingerprint
from .patching import PatchDataset, RandomPatchDataset, extract_patches, grid_positions, stitch_patches
from .registry import DATASETS, get_spec, load_dataset
from .types import DatasetError, FloatImages, Sample, SegmentationData, as_float, full_images

__all__ = [
    "PRESETS", "build_augmentation", "Fingerprint", "compute_fingerprint", "PatchDataset",
    "RandomPatchDataset", "extract_patches", "grid_positions", "stitch_patches", "DATASETS", "get_spec",
    "load_dataset", "DatasetError", "FloatImages", "Sample", "SegmentationData", "as_float", "full_images",
]
