"""The training loop: optimiser, LR schedule, early stopping, seeding, checkpoints, epoch callback."""
from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .inference import autocast_context
from .layers import center_crop
from .schedules import EPOCH_SCHEDULES, EpochSchedule, epochs_within
from .unet import UNet

OPTIMIZERS = ("adam", "sgd")

EpochCallback = Callable[[int, dict[str, float]], None]
Validator = Callable[[nn.Module], dict[str, float]]


@dataclass
class TrainConfig:
    """Training hyper-parameters, validated on creation.

    Args:
        optimizer: "adam" or "sgd" (with momentum).
        lr: initial learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: L2 penalty.
        batch_size: samples per step.
        epochs: maximum number of epochs.
        plateau_patience: epochs without improvement before ReduceLROnPlateau cuts the LR (0 = no schedule).
        plateau_factor: LR multiplier on a plateau.
        schedule: "plateau" (the two settings above) or "cosine" (decay to 1% of lr over `epochs`).
        schedule_epochs / schedule_start: a cosine over a training in phases: its whole length (None: `epochs`) and the
            epochs of it before this fit.
        early_stopping_patience: epochs without improvement before training stops (0 = never).
        monitor: validation metric that decides "improvement" and the best checkpoint (higher is better).
        seed: seeds Python, NumPy, torch and the data order.
        device: "auto" (CUDA when available), "cpu" or "cuda[:i]".
        channels_last: NHWC memory format for model and inputs.
        amp: bf16 autocast on CUDA (no effect on the CPU unless `cpu_amp`).
        cpu_amp: with `amp`, bf16 autocast on the CPU too (see unet_core.precision: fast only with native bf16).
        num_threads: torch intra-op threads (None leaves torch's default).
        time_limit_s: wall seconds this fit's epochs may take (None: no limit). After each epoch, the epochs that fit
            in all are counted afresh (epochs_within): where fewer than planned, the training ends there and a cosine
            decays over that length (a budget's final round, kept to its time when epochs run slower than
            measured). Every epoch reports `last_epoch`, the epoch the training now ends at.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 8
    epochs: int = 20
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    schedule: str = "plateau"
    schedule_epochs: int | None = None
    schedule_start: int = 0
    early_stopping_patience: int = 0
    monitor: str = "val_dice"
    seed: int = 0
    device: str = "auto"
    channels_last: bool = False
    amp: bool = True
    cpu_amp: bool = False
    num_threads: int | None = None
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("batch_size", "epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("plateau_patience", "early_stopping_patience"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.schedule not in EPOCH_SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(EPOCH_SCHEDULES)}, got {self.schedule!r}")
        if not 0 < self.plateau_factor < 1:
            raise ValueError(f"plateau_factor must be in (0, 1), got {self.plateau_factor!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads!r}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s!r}")
        if self.time_limit_s is not None and (self.schedule_epochs is not None or self.schedule_start):
            raise ValueError("time_limit_s applies to a training in one phase, not to one of a schedule's phases (schedule_epochs)")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values (for logging)."""
        return asdict(self)


@dataclass
class FitResult:
    """What `fit` returns: per-epoch history, the best epoch's metrics and weights."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False
    time_limited: bool = False  # the time limit ended the training before its planned epochs

    @property
    def epochs_run(self) -> int:
        """Number of epochs actually trained."""
        return len(self.history)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def resolve_device(name: str) -> torch.device:
    """Map "auto" to CUDA when available, else CPU; pass other names through."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD-with-momentum over the model's parameters."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _to_device(batch, device: torch.device, channels_last: bool):
    image, mask, valid = batch
    image = image.to(device, non_blocking=True)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return image, mask.to(device, non_blocking=True), valid.to(device, non_blocking=True)


def train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, image, mask, valid, amp: bool = False,
               cpu_amp: bool = False) -> float:
    """One optimisation step on a batch (forward in bf16 autocast on CUDA when `amp`, on the CPU too when `cpu_amp`); returns the loss.
    Raises FloatingPointError when the loss is NaN/inf."""
    optimizer.zero_grad(set_to_none=True)
    with autocast_context(image.device, amp, cpu=cpu_amp):
        logits = model(image)
    mask, valid = center_crop(mask, logits.shape[-2:]), center_crop(valid, logits.shape[-2:])  # valid padding: output < input
    loss = loss_fn(logits.float(), mask, valid)
    if not torch.isfinite(loss):
        lr = optimizer.param_groups[0]["lr"]
        raise FloatingPointError(f"training loss became {loss.item()} (lr={lr:g}); trial diverged")
    loss.backward()
    optimizer.step()
    return loss.item()


class Trainer:
    """Trains a model on a patch dataset of (image, mask, valid) and validates it after every epoch.

    Args:
        model: the network (moved to the config's device).
        loss_fn: called as loss_fn(logits, mask, valid).
        config: the TrainConfig.
        validate: returns validation metrics for the model, with keys that include `config.monitor`
            without its "val_" prefix (e.g. "dice"); they are reported prefixed with "val_".
        on_epoch: called after every epoch with (epoch, metrics); may raise to stop training.
        clock: seconds, for each epoch's time and `config.time_limit_s` (tests inject one).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: nn.Module,
        config: TrainConfig,
        validate: Validator,
        on_epoch: EpochCallback | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.config = config
        self.clock = clock
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = loss_fn.to(self.device)
        self.validate = validate
        self.on_epoch = on_epoch
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = EpochSchedule(self.optimizer, config.schedule, config.schedule_epochs or config.epochs, config.plateau_patience,
                                       config.plateau_factor, config.schedule_start)

    def train_epoch(self, loader: DataLoader) -> float:
        """One pass over the loader; returns the mean training loss. Raises FloatingPointError on NaN/inf."""
        self.model.train()
        total, count = 0.0, 0
        for batch in loader:
            image, mask, valid = _to_device(batch, self.device, self.config.channels_last)
            loss = train_step(self.model, self.loss_fn, self.optimizer, image, mask, valid, self.config.amp, self.config.cpu_amp)
            total += loss * image.shape[0]
            count += image.shape[0]
        return total / max(count, 1)

    def fit(self, train_set: Dataset, epoch_offset: int = 0, loader: DataLoader | None = None) -> FitResult:
        """Train up to `config.epochs` epochs; keep the best weights by `config.monitor`.

        `epoch_offset` numbers the epochs after earlier training (the saliency loop's iterations);
        `loader` replaces the default shuffled loader over `train_set` (e.g. a fixed number of samples per epoch).
        """
        cfg = self.config
        if loader is None:
            generator = torch.Generator().manual_seed(cfg.seed + epoch_offset)
            loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=generator, drop_last=False)
        result = FitResult()
        best, since_best = -math.inf, 0
        epochs, durations, ended = cfg.epochs, [], self.clock()
        for epoch in range(cfg.epochs):
            start = self.clock()
            train_loss = self.train_epoch(loader)
            train_time = self.clock() - start
            val = {f"val_{k}": v for k, v in self.validate(self.model).items()}
            metrics = {
                "epoch": epoch_offset + epoch + 1,
                "train_loss": train_loss,
                "lr": self.optimizer.param_groups[0]["lr"],
                "epoch_time_s": self.clock() - start,
                "train_time_s": train_time,
                **val,
            }
            if cfg.time_limit_s is not None:  # counted afresh each epoch: one slow epoch does not cut the rest for good
                now = self.clock()
                durations.append(now - ended)
                ended = now
                epochs = min(cfg.epochs, epochs_within(cfg.time_limit_s, durations))
                self.scheduler.set_length(epochs)
                metrics["last_epoch"] = epoch_offset + epochs
            if cfg.monitor not in metrics:
                raise KeyError(f"monitor {cfg.monitor!r} not among the validation metrics {sorted(val)}")
            score = metrics[cfg.monitor]
            if score > best:
                best, since_best = score, 0
                result.best_epoch = metrics["epoch"]
                result.best_metrics = dict(metrics)
                result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
            else:
                since_best += 1
            self.scheduler.step(score)
            result.history.append(metrics)
            if self.on_epoch is not None:
                self.on_epoch(metrics["epoch"], metrics)
            if cfg.early_stopping_patience and since_best >= cfg.early_stopping_patience:
                result.stopped_early = True
                break
            if epoch + 1 >= epochs:
                result.time_limited = epochs < cfg.epochs
                break
        return result


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: dict[str, Any] | None = None) -> None:
    """Save weights plus plain-value metadata (model arguments, metrics) to one file."""
    torch.save({"state_dict": state_dict, "meta": meta or {}}, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load (state_dict, meta) saved by `save_checkpoint`, with torch.load(weights_only=True)."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    return blob["state_dict"], blob.get("meta", {})


def model_from_meta(meta: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None):
    """The UNet a checkpoint's metadata describes (its "model" arguments), with `state_dict` loaded when given."""
    model = UNet(**meta["model"])
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """(model, meta): the trained UNet saved at `path` by `save_checkpoint`, rebuilt from its own metadata."""
    state, meta = load_checkpoint(path, map_location)
    return model_from_meta(meta, state), meta
