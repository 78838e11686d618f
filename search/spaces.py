"""The search spaces as code: `quick`, `arch` and `full` (Optuna define-by-run) and `ablation` (exhaustive grid)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets.fingerprint import MIN_BOTTLENECK, Fingerprint
from unet_core.layers import BLOCK_TYPES, PADDINGS, UPSAMPLE_MODES
from unet_core.losses import PIXEL_WEIGHTED
from unet_core.skips import all_patterns

SPACES = ("quick", "ablation", "arch", "full")
FULL_LOSSES = ("dice", "bce", "dice_bce", "weighted_ce", "generalized_dice", "focal")
PATCH_STEP = 16


def full_losses(limits: "SpaceLimits") -> list[str]:
    """The full space's losses: the border-weighted ones only where the dataset has separable objects."""
    return list(FULL_LOSSES) + (list(PIXEL_WEIGHTED) if limits.border_weights else [])


@dataclass(frozen=True)
class SpaceLimits:
    """What the dataset (and the user's --depths) allows: the depths to search and the largest patch."""

    depths: tuple[int, ...]
    max_patch: int
    border_weights: bool = False  # the dataset has separable objects: border_ce joins the full space's losses

    @property
    def max_depth(self) -> int:
        """The deepest U-Net searched."""
        return max(self.depths)

    @classmethod
    def from_fingerprint(cls, fp: Fingerprint, cap_depth: int = 4, requested: tuple[int, ...] = ()) -> "SpaceLimits":
        """Depths capped at `cap_depth` (or the `requested` ones) and by the fingerprint; the largest patch a PATCH_STEP multiple."""
        max_patch = (min(fp.min_shape) // PATCH_STEP) * PATCH_STEP
        fits = [d for d in fp.feasible_depths if MIN_BOTTLENECK * 2**d <= max_patch]
        too_deep = [d for d in requested if d not in fits]
        if too_deep:
            raise ValueError(f"depth {too_deep[0]} needs patches of at least {MIN_BOTTLENECK * 2**too_deep[0]} pixels, "
                             f"but images of {fp.min_shape[0]}x{fp.min_shape[1]} allow depths {', '.join(map(str, fits)) or 'none'}")
        depths = list(requested) or [d for d in fits if d <= cap_depth]
        if not depths:
            raise ValueError(f"images of {fp.min_shape[0]}x{fp.min_shape[1]} are too small for any U-Net depth")
        return cls(depths=tuple(sorted(depths)), max_patch=max_patch)


def min_patch(depth: int) -> int:
    """The smallest PATCH_STEP-multiple patch that keeps >= 4 pixels after `depth` halvings."""
    need = max(MIN_BOTTLENECK * 2**depth, 2**depth, PATCH_STEP)
    return -(-need // PATCH_STEP) * PATCH_STEP


def _patch(trial, depth: int, low: int, high: int) -> int:
    low = max(low, min_patch(depth))
    high = max(low, low + ((high - low) // PATCH_STEP) * PATCH_STEP)
    # the lower bound depends on depth, so an infeasible (patch, depth) pair is never proposed
    return trial.suggest_int("patch_size", low, high, step=PATCH_STEP)


def _depth(trial, limits: SpaceLimits, cap: int = 99) -> int:
    allowed = [d for d in limits.depths if d <= cap] or [min(limits.depths)]
    if allowed == list(range(allowed[0], allowed[-1] + 1)):
        return trial.suggest_int("depth", allowed[0], allowed[-1])
    return trial.suggest_categorical("depth", allowed)


def _skip_bits(trial, depth: int) -> str:
    return "".join(str(trial.suggest_int(f"s{i}", 0, 1)) for i in range(1, depth + 1))


def quick_space(trial, limits: SpaceLimits) -> dict[str, Any]:
    """A tiny space for smoke runs and CI: depth 1..2, its skip bits, patch 32..48, loss dice or dice_bce."""
    depth = _depth(trial, limits, cap=2)
    _skip_bits(trial, depth)
    _patch(trial, depth, 32, min(48, limits.max_patch))
    trial.suggest_categorical("loss", ["dice", "dice_bce"])
    trial.suggest_float("lr", 3e-3, 1e-2, log=True)
    return {"patch_stride": PATCH_STEP, "base_channels": 8, "batch_size": 16, "augment": "none"}


def arch_space(trial, limits: SpaceLimits) -> dict[str, Any]:
    """The ablation's depth/skip space sampled by Optuna (ASHA stops the weak): depth, then its skip bits."""
    _skip_bits(trial, _depth(trial, limits))
    return {}


def full_space(trial, limits: SpaceLimits) -> dict[str, Any]:
    """Depth, conditional skip bits, patch size and stride, saliency percentile/iterations, loss and training knobs."""
    depth = _depth(trial, limits)
    _skip_bits(trial, depth)
    patch = _patch(trial, depth, 32, min(128, limits.max_patch))
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


@dataclass(frozen=True)
class DefineByRun:
    """The Optuna define-by-run function of a space, with the values every trial shares.

    A module-level callable (not a closure) so Tune can pickle the searcher's state for --resume.
    """

    space: str
    limits: SpaceLimits
    constants: tuple[tuple[str, Any], ...] = ()

    def __call__(self, trial) -> dict[str, Any]:
        define = {"full": full_space, "arch": arch_space}.get(self.space, quick_space)
        return {**dict(self.constants), **define(trial, self.limits)}


def ablation_patterns(depths: tuple[int, ...] = (1, 2, 3, 4), patterns: tuple[str, ...] = ()) -> list[str]:
    """The given skip patterns, or every pattern of every depth (30 for depths 1..4), shallow first."""
    chosen = set(patterns) if patterns else {p for d in depths for p in all_patterns(d)}
    return sorted(chosen, key=lambda p: (len(p), p))


def ablation_configs(repeats: int, depths: tuple[int, ...] = (1, 2, 3, 4), patterns: tuple[str, ...] = (), folds: int = 1,
                     first_seed: int = 0) -> list[dict[str, Any]]:
    """Every ablation pattern (see ablation_patterns), each with `repeats` seeds from `first_seed` (and every fold when folds > 1)."""
    seeds = range(first_seed, first_seed + repeats)
    if folds > 1:
        return [{"skips": p, "seed": s, "fold": f} for p in ablation_patterns(depths, patterns) for s in seeds for f in range(folds)]
    return [{"skips": p, "seed": s} for p in ablation_patterns(depths, patterns) for s in seeds]


def describe_full(limits: SpaceLimits) -> list[dict[str, Any]]:
    """The full space and its constraints, one JSON-ready object per dimension."""
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
