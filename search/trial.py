"""The Tune trainable: one trial builds a U-Net, trains it (with the saliency loop), reports to Tune,
and records itself as a nested MLflow run."""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from datasets import FloatImages, PatchDataset, SegmentationData, as_float, build_augmentation, full_images
from datasets.store import release_pages
from unet_core import (SegmentationMetrics, TrainConfig, Trainer, UNet, build_loss, prior_bias_init, resolve_precision, saliency_loop,
                       seed_everything, seeded_init)
from unet_core.inference import image_tensor, sliding_window_predict
from unet_core.losses import PIXEL_WEIGHTED
from unet_core.unet import input_size_for, output_size

from . import outbox, tracking
from .config import EPOCH_PATCH_CAP
from .params import TrialParams, config_run_name
from .pictures import prediction_panel

PICTURES = 3
# a trial that starts while the tracking store is unreachable waits this long for it; one that ends waits this long for
# its kept writes to go out before it hands them to the driver (search.outbox)
START_WAIT_S = float(os.environ.get("UNET_SEARCH_START_WAIT_S", 600))
FINISH_WAIT_S = float(os.environ.get("UNET_SEARCH_FINISH_WAIT_S", 60))
BEST_KEYS = ("val_dice", "val_iou", "val_accuracy", "val_dice_with_background", "val_auc", "val_recall", "val_specificity", "epoch")


@dataclass
class SearchContext:
    """What every trial of a search shares (not hyper-parameters).

    Attributes:
        tracking_uri: the MLflow tracking URI.
        experiment_id: the MLflow experiment.
        parent_run_id: the search's parent run.
        cpus_per_trial: CPU share of a trial; torch uses that many threads.
        data_digest: a hash of the dataset, logged as the runs' input.
        eval_tile: largest tile side of full-image validation and test inference (rounded to the trial's 2**depth):
            images up to this size are predicted in one tile, larger ones in overlapping tiles. Small tiles
            recompute the overlaps (128-pixel tiles did 2.4x the work of one tile on DRIVE's 584x565 images).
        eval_overlap: tile overlap during validation.
        outbox_dir: where a trial keeps the MLflow writes the store did not take (search.outbox); the driver sends
            what is left there after Tune ends.
        val_images: validation images scored every epoch, the first of the split (0: all).
        role: the trial runs' unet.role tag: "trial" for the search's trials, "final" for its re-ranking at the final budget,
            "supernet" for a supernet search's supernets (search.supernet_search).
    """

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    cpus_per_trial: float = 1.0
    data_digest: str = ""
    eval_tile: int = 640
    eval_overlap: float = 0.25
    outbox_dir: str = ""
    role: str = "trial"
    val_images: int = 0


def data_digest(data: SegmentationData) -> str:
    """A short hash of a dataset's training images and masks (of a stored dataset: its store, which names its files'
    sizes and times and the options, and the training images' names, without reading every pixel again)."""
    h = hashlib.sha256(data.name.encode())
    if data.store is not None:
        h.update(data.store.encode())
        h.update("\n".join(s.name for s in data.train + data.val).encode())
        return h.hexdigest()[:32]
    for s in data.train + data.val:
        h.update(s.name.encode())
        h.update(np.ascontiguousarray(s.image).tobytes())
        h.update(np.ascontiguousarray(s.mask).tobytes())
    return h.hexdigest()[:32]


def eval_tile_for(params: TrialParams, requested: int, data: SegmentationData) -> int:
    """A validation tile (the network's input): its output at least the patch, no larger than needed for the images."""
    factor = 2**params.depth
    largest = max(max(s.mask.shape) for s in data.val + data.test)
    tile = max(params.patch_size, min(requested, -(-largest // factor) * factor))
    return input_size_for(-(-tile // factor) * factor, params.depth, params.padding)


def train_input_size(params: TrialParams) -> tuple[int, int]:
    """(network input side, margin lost per side) for the trial's training patches."""
    size = input_size_for(params.patch_size, params.depth, params.padding)
    return size, (size - output_size(size, params.depth, params.padding)) // 2


def patch_dataset(params: TrialParams, samples, augment) -> PatchDataset:
    """The training patches of `samples` at the trial's patch size and stride (the network's input around each)."""
    size, margin = train_input_size(params)
    return PatchDataset(samples, size, params.patch_stride, augment, margin)


def patch_loader(params: TrialParams, dataset: PatchDataset, seed: int) -> DataLoader | None:
    """The epoch's patches: `patches_per_epoch` drawn with replacement from a stream seeded by `seed` (shared by trials
    of one seed: common random numbers), or None for the trainer's shuffled pass over every patch; a grid of more than
    EPOCH_PATCH_CAP patches gives EPOCH_PATCH_CAP of them an epoch, different ones each epoch."""
    generator = torch.Generator().manual_seed(seed)
    if not params.patches_per_epoch:
        if len(dataset) <= EPOCH_PATCH_CAP:
            return None
        sampler = RandomSampler(dataset, replacement=False, num_samples=EPOCH_PATCH_CAP, generator=generator)
        return DataLoader(dataset, batch_size=params.batch_size, sampler=sampler)
    sampler = RandomSampler(dataset, replacement=True, num_samples=params.patches_per_epoch, generator=generator)
    return DataLoader(dataset, batch_size=params.batch_size, sampler=sampler)


class Validator:
    """Full-image validation with split-level metrics; keeps a few predictions for the pictures."""

    def __init__(self, data: SegmentationData, tile: int, overlap: float, keep: int = PICTURES, limit: int = 0):
        self.data, self.tile, self.overlap, self.keep = data, tile, overlap, keep
        self.images = data.val[:limit] if limit else data.val  # a fixed subset, the same for every trial
        self.last_probs: list[np.ndarray] = []

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        metrics = SegmentationMetrics(self.data.num_classes, self.data.background)
        self.last_probs = []
        for i, (image, mask, valid) in enumerate(full_images(self.images)):  # one image in memory at a time
            probs = sliding_window_predict(model, image_tensor(image), self.tile, self.overlap)
            metrics.update(probs, image_tensor(mask), image_tensor(valid))
            if i < self.keep:
                self.last_probs.append(probs.numpy())
        release_pages()
        return metrics.compute()

    def picture_items(self):
        """(name, image, mask, valid, probs) of the kept validation images."""
        return [(s.name, as_float(s.image), s.mask, s.valid, p) for s, p in zip(self.images, self.last_probs)]


def model_kwargs(params: TrialParams, data: SegmentationData) -> dict[str, Any]:
    """Arguments that rebuild the trial's UNet (stored with its checkpoint)."""
    return dict(
        in_channels=data.in_channels, num_classes=data.num_classes, depth=params.depth, skips=params.skips,
        base_channels=params.base_channels, upsample=params.upsample, batch_norm=params.batch_norm,
        block=params.block, padding=params.padding,
    )


def initialised(model, params: TrialParams, data: SegmentationData):
    """`model` with the trial's seeded initial weights (common random numbers) and, with head_bias "prior", an output
    layer that starts at the training masks' class frequencies."""
    model = seeded_init(model, params.seed)
    if params.head_bias == "prior":
        counts = data.class_counts()
        prior_bias_init(model.head, counts / max(1, counts.sum()))
    return model


class TrialRun:
    """The trial's nested MLflow run: opened (or taken over after a crash) at start, closed at the end.

    Its writes go through an Outbox: while the tracking store is unreachable (a server restarting, a full disk) they wait
    on disk and the trial goes on training; they are sent, in order, once the store answers again."""

    def __init__(self, ctx: SearchContext, trial_id: str, config: dict[str, Any], run_name: str):
        self.ctx = ctx
        outbox.fail_fast_client_env()
        # without a run id nothing can be kept for later: a trial that starts during an outage waits for the store
        self.client = until_reachable(lambda: tracking.check_tracking(ctx.tracking_uri), ctx.tracking_uri)
        previous = until_reachable(lambda: tracking.find_trial_run(self.client, ctx.experiment_id, ctx.parent_run_id, trial_id), ctx.tracking_uri)
        self.finished_before = previous is not None and previous.info.status == "FINISHED"
        if self.finished_before:
            self.run_id = previous.info.run_id
            self.previous_metrics = dict(previous.data.metrics)
            return
        attempt = 1
        if previous is not None:
            attempt = int(previous.data.tags.get("unet.attempt", "1")) + 1
            if tracking.is_running(previous):  # a dead attempt (crashed driver or node): it did not finish
                self._box(previous.info.run_id).end("FAILED", {"unet.error": "attempt lost (process or node died); retried"})
        run = until_reachable(lambda: self.client.create_run(
            ctx.experiment_id, run_name=run_name,
            tags={tracking.PARENT_TAG: ctx.parent_run_id, tracking.TRIAL_TAG: trial_id, tracking.ROLE_TAG: ctx.role, "unet.attempt": str(attempt)},
        ), ctx.tracking_uri)
        self.run_id = run.info.run_id
        self.outbox = self._box(self.run_id)
        self.outbox.params(config)

    def _box(self, run_id: str) -> outbox.Outbox:
        return outbox.Outbox(self.client, run_id, self.ctx.outbox_dir or Path(tempfile.gettempdir()) / "unet-search-outbox")

    def log_epoch(self, metrics: dict[str, float], step: int) -> None:
        """Per-epoch metrics."""
        self.outbox.metrics(metrics, step)

    def log_best(self, state: dict[str, torch.Tensor], meta: dict[str, Any], validator: Validator, title: str) -> None:
        """The best checkpoint so far and its prediction picture."""
        from unet_core import save_checkpoint

        with tracking.temp_dir() as tmp:
            path = Path(tmp) / "best.pt"
            save_checkpoint(path, state, meta)
            self.outbox.file(path, "checkpoints")
        items = validator.picture_items()
        if items:
            with tracking.temp_dir() as tmp:
                path = Path(tmp) / "validation.png"
                prediction_panel(items, title).save(path)
                self.outbox.file(path, "predictions")

    def finish(self, tags: dict[str, str]) -> None:
        """Mark the run FINISHED, waiting a while for a store that is down (the driver sends what is still left)."""
        self.outbox.end("FINISHED", tags)
        self.outbox.drain(FINISH_WAIT_S)

    def fail(self, exc: BaseException) -> None:
        """Mark the run FAILED with the error."""
        message = f"{type(exc).__name__}: {exc}"
        self.outbox.end("FAILED", {"unet.error": message, "unet.traceback": traceback.format_exc()[-4000:]})
        self.outbox.drain(FINISH_WAIT_S)


def until_reachable(call, uri: str, wait_s: float | None = None, every_s: float = 5.0):
    """`call()`, retried while the tracking store is unreachable, for up to `wait_s` seconds (START_WAIT_S); then
    TrackingUnavailable (the trial errors, and --resume trains it again)."""
    wait_s = START_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest raised
            if not outbox.is_transient(exc):
                raise
            if time.monotonic() >= deadline:
                cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # SQLAlchemy's last line is a link, not the cause
                raise outbox.TrackingUnavailable(f"the tracking store {uri} did not take writes for {wait_s:.0f} s (down, full or read-only): "
                                                 f"{cause[:200]}") from None
        time.sleep(every_s)


def trial_precision(params: TrialParams):
    """The precision the trial trains in on this worker's device (unet_core.resolve_precision)."""
    return resolve_precision(params.precision, "cuda" if torch.cuda.is_available() else "cpu")


def train_and_report(params: TrialParams, data: SegmentationData, ctx: SearchContext, report, run: TrialRun | None = None) -> dict[str, float]:
    """Train one configuration; `report(metrics)` is called after every epoch. Returns the best epoch's metrics.

    Trials that share a seed share their random numbers (common random numbers): each layer's initial weights
    (unet_core.seeded_init), the order of the patches and their augmentation, so paired differences between
    configurations measure the architecture more than the draw."""
    seed_everything(params.seed)
    if params.folds > 1:
        data = data.with_fold(params.fold, params.folds, params.split_seed)
    precision = trial_precision(params)
    weighted = params.loss in PIXEL_WEIGHTED
    if weighted and any(s.weight is None for s in data.train):
        raise ValueError(f"loss {params.loss} needs a dataset with separable objects and their border weight maps "
                         f"({data.name} has {'none' if data.objects is None else 'no maps computed'})")
    model = initialised(UNet(**model_kwargs(params, data)), params, data)
    loss = build_loss(params.loss, data.class_weights() if params.loss == "weighted_ce" else None)
    tile = eval_tile_for(params, ctx.eval_tile, data)
    validator = Validator(data, tile, ctx.eval_overlap, limit=ctx.val_images)
    augment = build_augmentation(params.augment, seed=params.seed)
    threads = max(1, int(round(ctx.cpus_per_trial)))
    best = {"val_dice": -1.0}
    meta = {"model": model_kwargs(params, data), "params": params.to_dict(), "dataset": data.name, "class_names": data.class_names,
            "background": data.background, "eval_tile": tile, "dataset_options": dict(data.options)}

    clock = {"train_time_s": 0.0}
    num_params = float(sum(p.numel() for p in model.parameters()))

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        clock["train_time_s"] += metrics["epoch_time_s"]
        if metrics["val_dice"] > best["val_dice"]:
            best.update(metrics)
            if run is not None:
                run.log_best({k: v.detach().cpu() for k, v in model.state_dict().items()}, {**meta, "metrics": dict(metrics)},
                             validator, f"{params.run_name} epoch {epoch}: val Dice {metrics['val_dice']:.3f}")
        # the best epoch's figures travel with every report, so a stopped trial's run still holds them
        metrics = {**metrics, **{f"best_{k}": best[k] for k in BEST_KEYS if k in best},
                   "total_train_time_s": clock["train_time_s"], "num_params": num_params}
        if run is not None:
            run.log_epoch(metrics, epoch)
        report(metrics)

    def train_once(keeps, iteration: int) -> dict[str, float]:
        samples = [replace(s, keep=k, weight=s.weight if weighted else None) for s, k in zip(data.train, keeps or [None] * len(data.train))]
        dataset = patch_dataset(params, samples, augment)
        epochs = params.epochs if iteration == 0 else params.saliency_epochs
        cfg = TrainConfig(optimizer=params.optimizer, lr=params.lr, batch_size=params.batch_size, epochs=epochs, seed=params.seed + iteration,
                          num_threads=threads, plateau_patience=max(2, epochs // 4), channels_last=precision.channels_last,
                          amp=precision.bf16, cpu_amp=precision.bf16)
        trainer = Trainer(model, loss, cfg, validator, on_epoch)
        offset = 0 if iteration == 0 else params.epochs + (iteration - 1) * params.saliency_epochs
        return trainer.fit(dataset, epoch_offset=offset, loader=patch_loader(params, dataset, params.seed + iteration)).best_metrics

    saliency_loop(FloatImages(data.train), train_once, model, params.saliency_percentile, params.saliency_iterations, tile)
    return dict(best)


def where_am_i() -> dict[str, str]:
    """Tags naming the Ray node and device a trial runs on."""
    import ray

    tags = {"unet.device": f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"}
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        tags.update({"unet.node_id": ctx.get_node_id(), "unet.node_ip": ray.util.get_node_ip_address()})
    return tags


def run_trial(config: dict[str, Any], data: SegmentationData, ctx: SearchContext) -> None:
    """The Tune function trainable (use with tune.with_parameters(run_trial, data=..., ctx=...)).

    A trial's own error (bad configuration, diverged loss) is recorded as a FAILED run and ends the trial
    without raising: retrying it would fail the same way. Only a lost process or node reaches Tune, whose
    FailureConfig retries the trial elsewhere.
    """
    from ray import tune

    release_memory()  # what the previous trial of this reused process left (here, not at its end: a stopped trial must exit fast)
    sys.unraisablehook = quiet_exit_hook
    trial_id = tune.get_context().get_trial_id() or "local"
    try:
        name = config_run_name(config) + ("" if ctx.role == "trial" else f"-{ctx.role}")
    except (TypeError, ValueError):
        name = f"invalid-{trial_id}"
    run = TrialRun(ctx, trial_id, config, name)
    if run.finished_before:  # finished before a driver crash was recorded: report it, do not retrain
        tune.report({**run.previous_metrics, "mlflow_run_id": run.run_id, "restored": 1})
        return
    try:
        run.outbox.tags(where_am_i())
        params = TrialParams.from_config(config)
        precision = trial_precision(params)
        run.outbox.params({k: v for k, v in params.to_dict().items() if k not in config} | {"run_name": params.run_name, "precision_used": precision.name})
        if precision.note:
            run.outbox.tags({"unet.precision_note": precision.note})
        run.outbox.dataset(data.name, data.source, ctx.data_digest)
        best = train_and_report(params, data, ctx, lambda m: tune.report({**m, "mlflow_run_id": run.run_id}), run)
    except Exception as exc:  # the trial's own failure; Tune stopping the trial (SystemExit) is closed by the driver's callback
        run.fail(exc)
        return
    run.finish({"unet.stopped_early": "false", "unet.best_epoch": str(int(best.get("epoch", 0)))})


def quiet_exit_hook(unraisable) -> None:
    """Drop the SystemExit that Ray's SIGTERM handler raises inside a garbage-collector callback when Tune ends a reused
    trial process (Python prints it as "Exception ignored in ..." and Ray forwards it to the search's log); report the rest."""
    if isinstance(unraisable.exc_value, SystemExit):
        return
    sys.__unraisablehook__(unraisable)


def release_memory() -> None:
    """Hand the previous trial's memory back to the system: Tune reuses this process for the next trial, and glibc keeps
    freed blocks otherwise (an ISIC study's trial processes grew by about 0.4 GB a trial, 7 GB by the 20th)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass

