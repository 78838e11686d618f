"""One trial's parameters: validated, with the run name users see in MLflow."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from datasets.augment import PRESETS
from unet_core.sizes import infeasible
from unet_core.layers import BLOCK_TYPES, PADDINGS, UPSAMPLE_MODES
from unet_core.losses import LOSSES
from unet_core.precision import PRECISIONS
from unet_core.schedules import EPOCH_SCHEDULES
from unet_core.skips import format_skips, parse_skips, run_key


HEAD_BIASES = ("prior", "default")
FOLD_SEED_KEY = 3301  # mixes the fold into TrialParams.train_seed


@dataclass
class TrialParams:
    """Everything a trial needs to build, train and evaluate one U-Net.

    Args:
        depth: encoder/decoder levels.
        skips: skip pattern string, s1 first (e.g. "1001").
        patch_size: training patch side (same padding: a multiple of 2**depth, >= 4 * 2**depth); with valid
            padding the scored output window, the network then seeing a larger input around it.
        patch_stride: step between training patches.
        loss: loss name (see unet_core.LOSSES).
        lr: learning rate.
        batch_size: patches per step.
        upsample: transpose, bilinear, nearest or unpool (SegNet max-unpooling; same padding only).
        base_channels: first-level width.
        batch_norm: batch norm after each convolution.
        augment: augmentation preset.
        optimizer: adam or sgd.
        epochs: epochs of the first training round.
        saliency_percentile: 0 = off, else keep pixels above this percentile of relevance.
        saliency_iterations: retraining rounds of the saliency loop.
        saliency_epochs: epochs of each retraining round.
        patches_per_epoch: cap on patches drawn per epoch (0 = every grid patch).
        seed: seed of the model, data order and augmentation.
        block: plain, residual (Res-UNet) or attention (gated skips).
        padding: same, or valid (the paper's unpadded convolutions, copy and crop).
        precision: auto, fp32 or bf16 (unet_core.precision: auto is bf16 + channels_last where bf16 is native, else fp32).
        fold / folds: k-fold cross-validation: with folds >= 2 the training and validation images are re-split into
            `folds` groups and group `fold` is validated on; folds 1 keeps the dataset's validation split.
        split_seed: the shuffle of the k-fold groups (the search's --seed, shared by every trial of a search).
        val_seed: -1 keeps the split above; >= 0: the trial validates on its own random split of the training and
            validation images, shuffled by this seed, as many validation images as the dataset's split has
            (reshuffled validation: search.noise.Reshuffled); folds must then be 1.
        head_bias: "prior" (the output layer starts at the training masks' class frequencies: unet_core.prior_bias_init)
            or "default" (PyTorch's own small random bias, as before 2026-11-25).
        image_side: the working resolution: training images are resized so their longer side is this many pixels (the
            store keeps the resized copy), validation and test predict at it and score at the original resolution; 0
            keeps the original resolution. The patch size is in working-resolution pixels.
        channels_last: the memory format a budget's plan measured faster on this machine (None: the precision's own,
            unet_core.resolve_precision).
        schedule: the learning rate over a training round: "plateau" (halved when validation Dice stalls for a quarter of
            the round) or "cosine" (decayed to 1% over the round's epochs; what a budget's plan trains with).
    """

    depth: int = 2
    skips: str = "11"
    patch_size: int = 48
    patch_stride: int = 24
    loss: str = "dice_bce"
    lr: float = 3e-3
    batch_size: int = 16
    upsample: str = "transpose"
    base_channels: int = 8
    batch_norm: bool = True
    augment: str = "light"
    optimizer: str = "adam"
    epochs: int = 6
    saliency_percentile: float = 0.0
    saliency_iterations: int = 0
    saliency_epochs: int = 2
    patches_per_epoch: int = 0
    seed: int = 0
    block: str = "plain"
    padding: str = "same"
    precision: str = "auto"
    fold: int = 0
    folds: int = 1
    split_seed: int = 0
    val_seed: int = -1
    head_bias: str = "prior"
    image_side: int = 0
    channels_last: bool | None = None
    schedule: str = "plateau"

    def __post_init__(self) -> None:
        self.skips = format_skips(parse_skips(str(self.skips), self.depth))
        if self.padding == "same" and (why := infeasible(self.patch_size, self.depth)) is not None:
            raise ValueError(f"patch size {self.patch_size} {why}")
        if not 1 <= self.patch_stride <= self.patch_size:
            raise ValueError(f"patch stride must be in [1, patch size {self.patch_size}], got {self.patch_stride}")
        for name, value, allowed in (("loss", self.loss, LOSSES), ("upsample", self.upsample, UPSAMPLE_MODES), ("augment", self.augment, PRESETS),
                                     ("block", self.block, BLOCK_TYPES), ("padding", self.padding, PADDINGS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: choose one of {', '.join(allowed)}")
        if self.upsample == "unpool" and self.padding == "valid":
            raise ValueError("unpool up-sampling needs same padding (max-unpooling indices do not fit cropped features)")
        if self.schedule not in EPOCH_SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(EPOCH_SCHEDULES)}")
        if self.head_bias not in HEAD_BIASES:
            raise ValueError(f"unknown head_bias {self.head_bias!r}: choose one of {', '.join(HEAD_BIASES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.folds < 1 or not 0 <= self.fold < self.folds:
            raise ValueError(f"fold must be in 0..{self.folds - 1} of {self.folds} folds, got {self.fold}")
        if self.val_seed >= 0 and self.folds > 1:
            raise ValueError("a reshuffled validation split (val_seed) and k-fold folds exclude each other")
        if self.image_side < 0 or 0 < self.image_side < 16:
            raise ValueError(f"image_side must be 0 (original resolution) or at least 16 pixels, got {self.image_side}")
        if not 0 <= self.saliency_percentile < 100:
            raise ValueError(f"saliency percentile must be in [0, 100), got {self.saliency_percentile}")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialParams":
        """Build from a Tune config: known keys are taken, s1..sn bits become `skips`, `skips` alone sets depth."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "skips" in values and "depth" not in values:
            values["depth"] = len(str(values["skips"]))
        if "skips" not in values and "depth" in values:
            bits = [config.get(f"s{i}") for i in range(1, int(values["depth"]) + 1)]
            if all(b is not None for b in bits):
                values["skips"] = format_skips([bool(b) for b in bits])
            else:
                values["skips"] = "1" * int(values["depth"])
        return cls(**values)

    @property
    def train_seed(self) -> int:
        """The seed of the initial weights, the patch order and the augmentation: `seed`, and on a k-fold fold one of its
        own drawn from (seed, fold). Configurations on the same fold still share it (paired), while a configuration's
        folds differ in their draw as two reruns of a study do, so a study's split-half over folds, and a race's mean over
        folds, average out the draw's luck instead of repeating it on every fold (DRIVE's study: two runs agreed at
        Spearman 0.56 while the halves of one run's folds, sharing each configuration's draw, said 0.79)."""
        if self.folds <= 1:
            return self.seed
        return int(np.random.SeedSequence([self.seed, self.fold, FOLD_SEED_KEY]).generate_state(1)[0] % (2**31 - 1))

    @property
    def saliency_on(self) -> bool:
        """Whether the saliency loop retrains at all."""
        return self.saliency_percentile > 0 and self.saliency_iterations > 0

    @property
    def round_epochs(self) -> list[int]:
        """Each training round's planned epochs: the first on every pixel, then each saliency retraining."""
        return [self.epochs] + [self.saliency_epochs] * (self.saliency_iterations if self.saliency_on else 0)

    @property
    def total_epochs(self) -> int:
        """Epochs including every saliency retraining round."""
        return sum(self.round_epochs)

    @property
    def run_name(self) -> str:
        """The MLflow run name, e.g. d4-s1001-dice_bce-p64 (plus -sal90, -r192, -f2 and -seed1 where they apply)."""
        name = f"{run_key(self.depth, self.skips)}-{self.loss}-p{self.patch_size}"
        if self.saliency_on:
            name += f"-sal{self.saliency_percentile:g}"
        name += "".join(f"-{v}" for v, default in ((self.block, "plain"), (self.padding, "same")) if v != default)
        name += f"-r{self.image_side}" if self.image_side else ""
        name += f"-f{self.fold}" if self.folds > 1 else ""
        return name + (f"-seed{self.seed}" if self.seed else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for MLflow params and JSON); `schedule` only where it is not the default plateau, so a search
        without a plan logs, and keys its configurations (search.noise.configuration_key), as it did before the field."""
        values = asdict(self)
        if values["schedule"] == "plateau":
            del values["schedule"]
        return values


def supernet_run_name(params: TrialParams) -> str:
    """A supernet trial's run name, e.g. supernet-d3-dice_bce-p64 (plus -f1 with folds)."""
    return f"supernet-d{params.depth}-{params.loss}-p{params.patch_size}" + (f"-f{params.fold}" if params.folds > 1 else "")


DEFAULT_UNET_KEY = "default_unet"  # marks the default U-Net a re-ranking trains beside the search's best (search.driver.rerank)


def config_run_name(config: dict[str, Any]) -> str:
    """A Tune config's run name: its TrialParams name, with -default for the default U-Net of a re-ranking."""
    return TrialParams.from_config(config).run_name + ("-default" if config.get(DEFAULT_UNET_KEY) else "")


def planned_epochs(config: dict[str, Any], default: int) -> int:
    """The epochs a Tune config trains unstopped (saliency rounds included); `default` where it is no trial's config."""
    try:
        return TrialParams.from_config(config).total_epochs
    except (TypeError, ValueError):
        return default


def ends_at(config: dict[str, Any], result: dict[str, Any] | None, default: int) -> int:
    """The epoch a trial ends at unstopped: its time limit's (`last_epoch`, reported by a budget's final round) where
    `result` has one, else its config's planned epochs (`default` where it is no trial's config)."""
    return int((result or {}).get("last_epoch") or planned_epochs(config, default))
