"""`--space full`: depth, conditional skip bits, patch size and stride, the saliency loop, the loss and training knobs."""
from __future__ import annotations

from typing import Any

from . import dims
from .limits import PATCH_STEP, SpaceLimits
from .registry import Space, register_space

FULL_LOSSES = ("dice", "bce", "dice_bce", "weighted_ce", "generalized_dice", "focal")
# patches an epoch of the full space when --patches-per-epoch is not given. Every grid patch (0, the other spaces' default)
# lets the sampled stride set an epoch's size: on DRIVE a stride of 16 px made a 64-px trial's epoch 16x the patches of a
# stride of 64 (236 s against 12 s an epoch), so ASHA compared trials at very unequal compute and one search took hours.
FULL_PATCHES_PER_EPOCH = 1024


def full_losses(limits: "SpaceLimits") -> list[str]:
    """The full space's losses: the border-weighted ones only where the dataset has separable objects."""
    from unet_core.losses import PIXEL_WEIGHTED  # deferred: imports torch; --help and bad flags answer without it

    return list(FULL_LOSSES) + (list(PIXEL_WEIGHTED) if limits.border_weights else [])


def describe_full(limits: SpaceLimits) -> list[dict[str, Any]]:
    """The full space and its constraints, one JSON-ready object per dimension."""
    from unet_core.layers import BLOCK_TYPES, PADDINGS, UPSAMPLE_MODES  # deferred: imports torch; --help answers without it

    return [
        {"name": "depth", "type": "int", "choices": list(limits.depths), "note": "--depths, capped by the dataset fingerprint"},
        {"name": "s1..s{depth}", "type": "int", "low": 0, "high": 1, "note": "one skip bit per level, conditional on depth"},
        {"name": "patch_size", "type": "int", "low": f"max(32, min_patch(depth)) = max(32, 16*ceil(4*2^depth/16))", "high": min(128, limits.max_patch),
         "step": PATCH_STEP, "constraint": "patch % 2^depth == 0 and patch / 2^depth >= 4"},
        {"name": "stride_ratio", "type": "categorical", "choices": [0.25, 0.5, 1.0], "note": "patch_stride = patch_size * ratio"},
        {"name": "saliency_percentile", "type": "categorical", "choices": [0, 50, 75, 90], "note": "0 = loop off"},
        {"name": "saliency_iterations", "type": "int", "low": 1, "high": 2, "note": "only when saliency_percentile > 0"},
        {"name": "loss", "type": "categorical", "choices": full_losses(limits),
         "note": "border_ce (the paper's border weight map) only on datasets with separable objects"},
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        {"name": "batch_size", "type": "categorical", "choices": [8, 16, 32]},
        {"name": "upsample", "type": "categorical", "choices": list(UPSAMPLE_MODES)},
        {"name": "block", "type": "categorical", "choices": list(BLOCK_TYPES)},
        {"name": "padding", "type": "categorical", "choices": list(PADDINGS), "note": "only when upsample != unpool (valid: output smaller, copy and crop)"},
        {"name": "base_channels", "type": "categorical", "choices": [4, 8, 16]},
        {"name": "augment", "type": "categorical", "choices": ["none", "light", "strong"]},
    ]


@register_space
class FullSpace(Space):
    """The whole space: architecture, patching, the saliency loop, the loss and the training knobs."""

    name = "full"
    default_samples = 16
    default_patches_per_epoch = FULL_PATCHES_PER_EPOCH
    # bench/search_replay.py (2026-12-05): the best 2 and the default U-Net on 2 folds, the default unless a finalist beats it
    # by more than the paired noise, returned a pick worse than the default in 12% (DRIVE) of searcher seeds against 40% for
    # the best 3 on the search's split
    default_rerank = 2
    default_final_folds = 2
    border_weights = True
    samples_width = True

    def fixed_params(self, cfg) -> dict[str, Any]:
        """The search's epochs and seed, and the epochs of each saliency retraining round."""
        return {**super().fixed_params(cfg), "saliency_epochs": max(1, cfg.max_epochs // 2)}

    def max_trial_epochs(self, cfg) -> int:
        """The first round's epochs plus up to two saliency retraining rounds."""
        return cfg.max_epochs + 2 * max(1, cfg.max_epochs // 2)

    def define(self, trial, limits: SpaceLimits) -> dict[str, Any]:
        """Depth, conditional skip bits, patch size and stride, saliency percentile/iterations, loss and training knobs."""
        from unet_core.layers import BLOCK_TYPES, PADDINGS, UPSAMPLE_MODES  # deferred: imports torch; --help answers without it

        depth = dims.depth(trial, limits)
        dims.skip_bits(trial, depth)
        patch = dims.patch(trial, depth, 32, min(128, limits.max_patch))
        stride_ratio = trial.suggest_categorical("stride_ratio", [0.25, 0.5, 1.0])
        percentile = trial.suggest_categorical("saliency_percentile", [0, 50, 75, 90])
        if percentile:
            trial.suggest_int("saliency_iterations", 1, 2)
        trial.suggest_categorical("loss", full_losses(limits))
        trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        trial.suggest_categorical("batch_size", [8, 16, 32])
        upsample = trial.suggest_categorical("upsample", list(UPSAMPLE_MODES))
        trial.suggest_categorical("base_channels", [4, 8, 16])
        trial.suggest_categorical("augment", ["none", "light", "strong"])
        trial.suggest_categorical("block", list(BLOCK_TYPES))
        fixed = {"patch_stride": max(1, int(patch * stride_ratio))}
        if upsample == "unpool":  # max-unpooling indices only fit unpadded sizes
            fixed["padding"] = "same"
        else:
            trial.suggest_categorical("padding", list(PADDINGS))
        return fixed

    def dry_run_lines(self, cfg, limits: SpaceLimits) -> list[dict[str, Any]]:
        """The space's dimensions and constraints, and the values every trial shares."""
        return describe_full(limits) + [{"constraints": "infeasible (patch, depth) pairs are never proposed; depths "
                                         f"{list(limits.depths)}; patch <= {limits.max_patch}", "fixed": self.fixed_params(cfg)}]
