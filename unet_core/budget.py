"""Training for a wall-clock budget: the learning rate follows the fraction of the budget spent."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from .schedules import COSINE_FLOOR, cosine_factor
from .trainer import train_step

SCHEDULES = ("cosine", "constant")


@dataclass
class BudgetConfig:
    """How to spend a fixed wall time on training.

    Args:
        seconds: wall-clock training budget (evaluation not included).
        lr: peak learning rate.
        schedule: "cosine" (linear warm-up, then cosine decay to `min_lr_fraction` x lr as the budget runs out)
            or "constant".
        warmup_fraction: share of the budget spent warming up (cosine only).
        min_lr_fraction: the last learning rate as a fraction of `lr` (cosine only).
        weight_decay: AdamW's decoupled weight decay (0: plain Adam).
        channels_last: NHWC memory format for model and inputs.
        bf16: the forward pass in bf16 autocast, on the CPU too (weights and optimiser stay float32). About twice
            as fast on CPUs with native bf16 (`cpu_has_native_bf16()`); slower on those without.
    """

    seconds: float
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup_fraction: float = 0.03
    min_lr_fraction: float = COSINE_FLOOR
    weight_decay: float = 0.0
    channels_last: bool = False
    bf16: bool = False

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.warmup_fraction < 1 or not 0 <= self.min_lr_fraction <= 1:
            raise ValueError("warmup_fraction must be in [0, 1) and min_lr_fraction in [0, 1]")

    def lr_at(self, spent: float) -> float:
        """The learning rate once the fraction `spent` of the budget is used."""
        if self.schedule == "constant":
            return self.lr
        if spent < self.warmup_fraction:
            return self.lr * max(spent / self.warmup_fraction, 0.01)
        return self.lr * cosine_factor((spent - self.warmup_fraction) / (1 - self.warmup_fraction), self.min_lr_fraction)


def train_for(model: nn.Module, loss_fn: nn.Module, batches: Iterable, config: BudgetConfig,
              clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Train on (image, mask, valid) batches until `config.seconds` have passed on `clock`; returns steps, samples, seconds and
    the last loss.

    `batches` is re-iterated when exhausted (e.g. a DataLoader over random patches).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay) if config.weight_decay
           else torch.optim.Adam(params, lr=config.lr))
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    steps = samples = 0
    loss_value = float("nan")
    start = clock()
    while True:
        for image, mask, valid in batches:
            now = clock() - start
            spent = now / config.seconds
            if spent >= 1:
                return {"steps": steps, "samples": samples, "seconds": now, "last_loss": loss_value}
            for group in opt.param_groups:
                group["lr"] = config.lr_at(spent)
            if config.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            loss_value = train_step(model, loss_fn, opt, image, mask, valid, amp=config.bf16, cpu_amp=config.bf16)
            steps += 1
            samples += image.shape[0]
