"""Learning-rate schedules of a training: plateau (halve when validation stalls) or cosine (decay over the epochs), and
the epochs a time-limited training still has (epochs_within)."""
from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

EPOCH_SCHEDULES = ("plateau", "cosine")
COSINE_FLOOR = 0.01  # a cosine ends at this share of the first learning rate


def cosine_factor(done: float, floor: float = COSINE_FLOOR) -> float:
    """The share of the first learning rate a cosine decay gives once the fraction `done` of the training is over."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(max(done, 0.0), 1.0)))


class EpochSchedule:
    """Steps an optimiser's learning rate once an epoch: ReduceLROnPlateau on the monitored score ("plateau", none where
    `patience` is 0), or a cosine decay from the optimiser's rate to COSINE_FLOOR of it over `epochs` ("cosine"), of
    which `start` are already over (a training in phases, as the supernet's warm-up and sampled phases)."""

    def __init__(self, optimizer: "torch.optim.Optimizer", schedule: str, epochs: int, patience: int, factor: float, start: int = 0):
        import torch  # deferred: the schedule names are checked (search.plan) without loading torch

        if schedule not in EPOCH_SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(EPOCH_SCHEDULES)}, got {schedule!r}")
        self.plateau = schedule == "plateau"
        self.scheduler = None
        if self.plateau and patience > 0:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=factor, patience=patience)
        elif not self.plateau:
            self.planned = self.total = max(1, epochs)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: cosine_factor((start + e) / self.total))

    def set_length(self, epochs: int) -> None:
        """The cosine ends after `epochs` (at most the planned length) from now on: every later epoch's rate follows that
        decay (a time-limited training's). A plateau schedule has no length."""
        if not self.plateau and self.scheduler is not None and epochs > 0:
            self.total = min(epochs, self.planned)

    def step(self, score: float) -> None:
        """After an epoch scored `score` (the monitored validation metric)."""
        if self.scheduler is None:
            return
        if self.plateau:
            self.scheduler.step(score)
        else:
            self.scheduler.step()


def epochs_within(limit_s: float, durations: list[float]) -> int:
    """The epochs a training can have in all within `limit_s` seconds, those done having taken `durations`: the ones
    done, and as many more as fit at the median of the last three (a lasting slowdown counts, one slow epoch does not);
    none more where the next would not fit at the last one's pace."""
    done, spent = len(durations), sum(durations)
    if not durations or spent + durations[-1] > limit_s:
        return done
    pace = statistics.median(durations[-3:])
    return done + max(0, int((limit_s - spent) // max(pace, 1e-9)))
