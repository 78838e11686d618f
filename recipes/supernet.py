"""Train one depth's skip supernet on a dataset and estimate every skip pattern of that depth from it: the search
strategy `--strategy supernet` runs this once per depth (and fold) instead of one training per pattern."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from datasets import SegmentationData, build_augmentation
from unet_core import Trainer, build_loss, seed_everything
from unet_core.supernet import SAMPLING_RULES, PatternSampler, SkipSupernet, recalibrate_batch_norm

from .model import initialised, model_kwargs
from .params import TrialParams
from .patches import patch_dataset, patch_loader
from .settings import RecipeSettings
from .train import fold_of, train_config, trial_precision
from .validation import Validator, eval_tile_for


@dataclass
class SupernetSettings:
    """How a supernet is trained and its patterns scored.

    Args:
        sampling: "fair" (every pattern once per cycle of batches) or "uniform" (an independent draw per batch).
        warmup_epochs: epochs at the start that train the all-skips pattern alone, before patterns are sampled.
        recalibrate_batches: training batches over which each pattern's batch-norm statistics are re-estimated before
            it is scored (0: score with the statistics shared by every pattern, which ranked the patterns better on real
            DRIVE and ISBI 2012 than 8 or 32 batches of recalibration: bench/supernet_rank.py).
    """

    sampling: str = "fair"
    warmup_epochs: int = 0
    recalibrate_batches: int = 0

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLING_RULES:
            raise ValueError(f"unknown supernet sampling {self.sampling!r}: choose one of {', '.join(SAMPLING_RULES)}")
        if self.warmup_epochs < 0 or self.recalibrate_batches < 0:
            raise ValueError(f"warm-up epochs and recalibration batches must be >= 0, got {self.warmup_epochs} and {self.recalibrate_batches}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for MLflow params and JSON)."""
        return asdict(self)


@dataclass
class SupernetResult:
    """What training one supernet gave: an estimate per pattern and what it cost.

    Attributes:
        depth: the supernet's depth.
        estimates: pattern -> its validation metrics with the shared weights ("dice", "iou", ...), best first.
        train_seconds: seconds spent training (validation of the all-skips pattern after each epoch included).
        score_seconds: seconds spent recalibrating and scoring every pattern.
        cpu_seconds: CPU seconds of this process over both (all its threads: core-seconds, unlike wall seconds not
            lengthened by other work on the machine).
        history: the per-epoch metrics of the training.
        batches_per_pattern: how many training batches each pattern was drawn for.
        state: the supernet's final weights.
    """

    depth: int
    estimates: dict[str, dict[str, float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    score_seconds: float = 0.0
    cpu_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    batches_per_pattern: dict[str, int] = field(default_factory=dict)
    state: dict[str, torch.Tensor] | None = None



def calibration_batches(loader: DataLoader, count: int) -> list[torch.Tensor]:
    """The first `count` image batches of a (seeded) training loader, the same for every pattern."""
    out = []
    for image, _, _ in loader:
        if len(out) >= count:
            break
        out.append(image)
    return out


def fit_supernet(params: TrialParams, data: SegmentationData, settings: SupernetSettings, recipe: RecipeSettings = RecipeSettings(),
                 on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                 on_estimate: Callable[[str, dict[str, float]], None] | None = None) -> SupernetResult:
    """Train the supernet of `params.depth` on `data` (the fold of `params`) with the trial recipe of `params` (its
    skip pattern is ignored), then score every pattern on the full validation images.

    The recipe is the stand-alone trial's (recipes.train.train_and_report): seeded initial weights, prior head bias,
    loss, augmentation, patches per epoch and learning-rate schedule, so an estimate differs from the stand-alone
    score only by the weight sharing. `on_epoch(epoch, metrics)` follows the training (its val_dice: the all-skips
    pattern with shared statistics); `on_estimate(pattern, metrics)` gets each pattern's estimate as it is scored."""
    seed_everything(params.train_seed)
    data = fold_of(params, data)
    if params.saliency_on:
        raise ValueError("a skip supernet trains without the saliency loop: set saliency_percentile 0")
    precision = trial_precision(params)
    kwargs = {k: v for k, v in model_kwargs(params, data).items() if k != "skips"}
    model = initialised(SkipSupernet(**kwargs), params, data)
    loss = build_loss(params.loss, data.class_weights() if params.loss == "weighted_ce" else None)
    tile = eval_tile_for(params, recipe.eval_tile, data)
    validator = Validator(data, tile, recipe.eval_overlap, keep=0)
    full = "1" * params.depth

    def validate(net) -> dict[str, float]:
        return validator(net.set_pattern(full))

    sampler = PatternSampler(model.patterns, settings.sampling, seed=params.train_seed)
    dataset = patch_dataset(params, [replace(s, weight=None) for s in data.train], build_augmentation(params.augment, seed=params.train_seed))
    result = SupernetResult(depth=params.depth)
    cpu_start = time.process_time()
    start = time.perf_counter()
    phases = [(settings.warmup_epochs, None), (params.epochs - settings.warmup_epochs, sampler)] if settings.warmup_epochs else [(params.epochs, sampler)]
    offset = 0
    for epochs, draw in phases:
        if epochs <= 0:
            continue
        cfg = train_config(params, epochs, params.train_seed + offset, recipe.threads, precision, patience_epochs=params.epochs, start_epoch=offset)
        model.sampler = draw
        model.set_pattern(full)
        trainer = Trainer(model, loss, cfg, validate, on_epoch)
        fit = trainer.fit(dataset, epoch_offset=offset, loader=patch_loader(params, dataset, params.train_seed + offset))
        result.history.extend(fit.history)
        offset += epochs
    model.sampler = None
    result.train_seconds = time.perf_counter() - start
    result.batches_per_pattern = {p: sampler.counts.get(p, 0) for p in model.patterns}

    start = time.perf_counter()
    loader = patch_loader(replace(params, patches_per_epoch=params.patches_per_epoch or 16 * params.batch_size), dataset, params.train_seed + 10_000)
    shared = score_patterns(model, validator, calibration_batches(loader, settings.recalibrate_batches), result, on_estimate)
    result.score_seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.estimates = {p: result.estimates[p] for p in sorted(result.estimates, key=lambda p: -result.estimates[p]["dice"])}
    result.state = {k: v.detach().cpu() for k, v in shared.items()}
    return result


def score_patterns(model: SkipSupernet, validator: Validator, batches: list, result: SupernetResult,
                   on_estimate: Callable[[str, dict[str, float]], None] | None = None) -> dict[str, torch.Tensor]:
    """Score every skip pattern of the trained supernet on the validation images into `result.estimates` (with `batches`,
    each from its own re-estimated batch-norm statistics); the shared weights, loaded back into `model`."""
    device = next(model.parameters()).device
    shared = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [b.to(device) for b in batches]
    with torch.no_grad():
        for pattern in model.patterns:
            model.set_pattern(pattern)
            if batches:  # each pattern's own statistics, from the shared ones
                model.load_state_dict(shared)
                recalibrate_batch_norm(model, batches)
            model.eval()
            metrics = validator(model)
            result.estimates[pattern] = metrics
            if on_estimate is not None:
                on_estimate(pattern, metrics)
    model.load_state_dict(shared)
    return shared
