"""The stand-alone training recipe of one configuration: seeded model, loss, patches, saliency rounds and the best
epoch's metrics."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Protocol

import torch

from datasets import FloatImages, SegmentationData, build_augmentation
from datasets.resize import at_side
from datasets.splits import reshuffled, with_fold
from unet_core import Precision, TrainConfig, Trainer, UNet, build_loss, resolve_precision, saliency_loop, seed_everything
from unet_core.losses import PIXEL_WEIGHTED

from .model import initialised, model_kwargs
from .params import TrialParams
from .patches import patch_dataset, patch_loader
from .rounds import Rounds
from .settings import RecipeSettings
from .validation import Validator, closing_choice, eval_tile_for

BEST_KEYS = ("val_dice", "val_iou", "val_accuracy", "val_dice_with_background", "val_auc", "val_recall", "val_specificity", "epoch")


class Recorder(Protocol):
    """Where a training's best checkpoint and per-epoch metrics go (the search's MLflow run; a bench's keeper)."""

    def log_best(self, state: dict[str, torch.Tensor], meta: dict[str, Any], validator: Validator, title: str) -> None:
        """The best checkpoint so far and its validation predictions."""

    def log_epoch(self, metrics: dict[str, float], step: int) -> None:
        """One epoch's metrics."""


def trial_precision(params: TrialParams) -> Precision:
    """The precision the trial trains in on this worker's device (unet_core.resolve_precision)."""
    return resolve_precision(params.precision, "cuda" if torch.cuda.is_available() else "cpu")


def train_config(params: TrialParams, epochs: int, seed: int, threads: int, precision: Precision, patience_epochs: int | None = None,
                 start_epoch: int = 0, time_limit_s: float | None = None) -> TrainConfig:
    """The trainer settings of one training round of `params` (a stand-alone round, a supernet phase). A round in phases
    (the supernet's) gives `patience_epochs`, the whole round's epochs, and `start_epoch`, the phase's first: its plateau
    patience and its cosine span the whole round. `time_limit_s`: the round's epochs end within it (RecipeSettings)."""
    return TrainConfig(optimizer=params.optimizer, lr=params.lr, batch_size=params.batch_size, epochs=epochs, seed=seed, num_threads=threads,
                       plateau_patience=max(2, (epochs if patience_epochs is None else patience_epochs) // 4),
                       channels_last=precision.channels_last if params.channels_last is None or precision.bf16 else params.channels_last,
                       amp=precision.bf16, cpu_amp=precision.bf16, schedule=params.schedule, schedule_epochs=patience_epochs,
                       schedule_start=start_epoch, time_limit_s=time_limit_s)


def fold_of(params: TrialParams, data: SegmentationData) -> SegmentationData:
    """The data a trial trains on: its k-fold split when params.folds > 1, its own reshuffled split when params.val_seed
    >= 0, else the dataset's own split."""
    if params.folds > 1:
        return with_fold(data, params.fold, params.folds, params.split_seed)
    return reshuffled(data, params.val_seed) if params.val_seed >= 0 else data


def close(model: torch.nn.Module, best: dict[str, Any], best_state: dict[str, torch.Tensor], validator: Validator, epoch: int,
          run: Recorder | None, meta: dict[str, Any], name: str) -> dict[str, float]:
    """A finished training's close on the whole split (`validator`; recipes.validation.closing_choice): its last weights or
    its best epoch's become its best (`best` updated in place, `model` loaded with them, `run` given the checkpoint of
    `name`);
    returns the closing figures."""
    kept, state, scores, pair = closing_choice(model, None if best.get("epoch") == epoch else best_state, validator)
    at = epoch if kept == "last" else int(best["epoch"])
    best.clear()
    best.update({f"val_{k}": v for k, v in scores.items()}, epoch=at)
    model.load_state_dict(state)
    if run is not None:
        run.log_best(state, {**meta, "metrics": dict(best), "closing": kept}, validator,
                     f"{name} epoch {at} ({'last' if kept == 'last' else 'best epoch'}): val Dice {best['val_dice']:.3f} on all {len(validator.images)}")
    return {**pair, "closing_kept_last": float(kept == "last")}


def train_and_report(params: TrialParams, data: SegmentationData, settings: RecipeSettings = RecipeSettings(),
                     report: Callable[[dict[str, float]], None] = lambda metrics: None, run: Recorder | None = None) -> dict[str, float]:
    """Train one configuration; `report(metrics)` is called after every epoch. Returns the best epoch's metrics.

    Trials that share a seed (and fold: TrialParams.train_seed) share their random numbers (common random numbers):
    each layer's initial weights (unet_core.seeded_init), the order of the patches and their augmentation, so paired
    differences between configurations measure the architecture more than the draw."""
    seed_everything(params.train_seed)
    data = fold_of(params, data)
    precision = trial_precision(params)
    weighted = params.loss in PIXEL_WEIGHTED
    if weighted and any(s.weight is None for s in data.train):
        raise ValueError(f"loss {params.loss} needs a dataset with separable objects and their border weight maps "
                         f"({data.name} has {'none' if data.objects is None else 'no maps computed'})")
    model = initialised(UNet(**model_kwargs(params, data)), params, data)
    loss = build_loss(params.loss, data.class_weights() if params.loss == "weighted_ce" else None)
    tile = eval_tile_for(params, settings.eval_tile, data)
    validator = Validator(data, tile, settings.eval_overlap, limit=settings.val_images, side=params.image_side)
    closing = (Validator(data, tile, settings.eval_overlap, side=params.image_side)
               if settings.closing_val and 0 < settings.val_images < len(data.val) else None)
    train = at_side(data.train, params.image_side)  # the working resolution's copy (validation stays at the original)
    augment = build_augmentation(params.augment, seed=params.train_seed)
    best: dict[str, Any] = {"val_dice": -1.0}
    best_state: dict[str, torch.Tensor] = {}
    meta = {"model": model_kwargs(params, data), "params": params.to_dict(), "dataset": data.name, "class_names": data.class_names,
            "background": data.background, "eval_tile": tile, "dataset_options": dict(data.options)}
    clock, rounds = {"train_time_s": 0.0}, Rounds(params, settings.time_limit_s)  # a time limit shared by the saliency rounds
    num_params = float(sum(p.numel() for p in model.parameters()))

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        clock["train_time_s"] += metrics["epoch_time_s"]
        if metrics["val_dice"] > best["val_dice"]:
            best.update(metrics)
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()} if run is not None or closing is not None else {}
            best_state.update(state if closing is not None else {})
            if run is not None:
                run.log_best(state, {**meta, "metrics": dict(metrics)}, validator, f"{params.run_name} epoch {epoch}: val Dice {metrics['val_dice']:.3f}")
        last = int(metrics.get("last_epoch", params.total_epochs))  # fewer where the time limit ends the training
        if closing is not None and epoch == last and best_state:  # no epoch scored (NaN throughout): nothing to close
            metrics = {**metrics, **close(model, best, best_state, closing, epoch, run, meta, params.run_name)}
        # the best epoch's figures travel with every report, so a stopped trial's run still holds them
        metrics = {**metrics, **{f"best_{k}": best[k] for k in BEST_KEYS if k in best},
                   "total_train_time_s": clock["train_time_s"], "num_params": num_params}
        if run is not None:
            run.log_epoch(metrics, epoch)
        report(metrics)

    def train_once(keeps, iteration: int) -> dict[str, float]:
        samples = [replace(s, keep=k, weight=s.weight if weighted else None) for s, k in zip(train, keeps or [None] * len(train))]
        dataset = patch_dataset(params, samples, augment)
        config = train_config(params, rounds.epochs[iteration], params.train_seed + iteration, settings.threads, precision,
                              time_limit_s=rounds.limit(iteration))
        trainer = Trainer(model, loss, config, validator, lambda epoch, metrics: on_epoch(epoch, rounds.reported(iteration, metrics)))
        fit = trainer.fit(dataset, epoch_offset=rounds.offset(iteration), loader=patch_loader(params, dataset, params.train_seed + iteration))
        rounds.done(len(fit.history))
        return fit.best_metrics

    saliency_loop(FloatImages(train), train_once, model, params.saliency_percentile, params.saliency_iterations, tile)
    return dict(best)
