"""A trial's network: the arguments that rebuild it, and its seeded initial weights."""
from __future__ import annotations

from typing import Any

from datasets import SegmentationData
from unet_core import prior_bias_init, seeded_init

from .params import TrialParams


def model_kwargs(params: TrialParams, data: SegmentationData) -> dict[str, Any]:
    """Arguments that rebuild the trial's UNet (stored with its checkpoint as meta["model"]: unet_core.model_from_meta)."""
    return dict(
        in_channels=data.in_channels, num_classes=data.num_classes, depth=params.depth, skips=params.skips,
        base_channels=params.base_channels, upsample=params.upsample, batch_norm=params.batch_norm,
        block=params.block, padding=params.padding,
    )


def initialised(model, params: TrialParams, data: SegmentationData):
    """`model` with the trial's seeded initial weights (common random numbers) and, with head_bias "prior", an output
    layer that starts at the training masks' class frequencies."""
    model = seeded_init(model, params.train_seed)
    if params.head_bias == "prior":
        counts = data.class_counts()
        prior_bias_init(model.head, counts / max(1, counts.sum()))
    return model
