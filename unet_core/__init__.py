"""unet_core: the U-Net, losses, metrics, trainer and saliency loop, in plain PyTorch."""
from .budget import BudgetConfig, train_for
from .evaluate import evaluate_images
from .init import prior_bias_init, seeded_init
from .inference import TTA_MODES, cpu_has_native_bf16, dihedral_predict, predict_image, sliding_window_predict, to_probabilities
from .losses import LOSSES, build_loss, class_weights_from_counts
from .metrics import SegmentationMetrics
from .precision import PRECISIONS, Precision, resolve_precision
from .saliency import keep_mask, saliency_loop, salient_images, salient_keeps
from .sizes import MAX_DEPTH, MIN_BOTTLENECK, feasible, infeasible, smallest_patch, tile_starts
from .skips import all_patterns, format_skips, parse_skips
from .trainer import FitResult, TrainConfig, Trainer, load_checkpoint, load_model, model_from_meta, save_checkpoint, seed_everything
from .unet import UNet

__all__ = [
    "UNet", "BudgetConfig", "train_for", "cpu_has_native_bf16", "dihedral_predict", "LOSSES", "build_loss", "class_weights_from_counts", "SegmentationMetrics", "evaluate_images",
    "sliding_window_predict", "predict_image", "TTA_MODES", "tile_starts", "feasible", "infeasible", "smallest_patch", "MAX_DEPTH", "MIN_BOTTLENECK", "to_probabilities", "keep_mask", "saliency_loop", "salient_images", "salient_keeps",
    "all_patterns", "format_skips", "parse_skips", "FitResult", "TrainConfig", "Trainer", "load_checkpoint", "load_model", "model_from_meta",
    "save_checkpoint", "seed_everything", "seeded_init", "prior_bias_init", "PRECISIONS", "Precision", "resolve_precision",
]
