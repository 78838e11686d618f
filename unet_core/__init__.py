"""unet_core: the U-Net, losses, metrics, trainer and saliency loop, in plain PyTorch.

Its names load on first use (PEP 562), so `from unet_core.x import y` does not import the whole package."""
from __future__ import annotations

from .lazy import lazy_exports

_EXPORTS = {  # name -> the module that defines it
    "BudgetConfig": ".budget",
    "train_for": ".budget",
    "evaluate_images": ".evaluate",
    "prior_bias_init": ".init",
    "seeded_init": ".init",
    "TTA_MODES": ".inference",
    "TTA_DEFAULT": ".inference",
    "cpu_has_native_bf16": ".inference",
    "dihedral_predict": ".inference",
    "predict_image": ".inference",
    "sliding_window_predict": ".inference",
    "to_probabilities": ".inference",
    "LOSSES": ".losses",
    "build_loss": ".losses",
    "class_weights_from_counts": ".losses",
    "SegmentationMetrics": ".metrics",
    "PRECISIONS": ".precision",
    "Precision": ".precision",
    "resolve_precision": ".precision",
    "keep_mask": ".saliency",
    "saliency_loop": ".saliency",
    "salient_images": ".saliency",
    "salient_keeps": ".saliency",
    "MAX_DEPTH": ".sizes",
    "MIN_BOTTLENECK": ".sizes",
    "feasible": ".sizes",
    "infeasible": ".sizes",
    "smallest_patch": ".sizes",
    "tile_starts": ".sizes",
    "all_patterns": ".skips",
    "format_skips": ".skips",
    "parse_skips": ".skips",
    "FitResult": ".trainer",
    "TrainConfig": ".trainer",
    "Trainer": ".trainer",
    "load_checkpoint": ".trainer",
    "load_model": ".trainer",
    "model_from_meta": ".trainer",
    "save_checkpoint": ".trainer",
    "seed_everything": ".trainer",
    "UNet": ".unet",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
