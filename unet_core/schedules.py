"""Learning-rate schedules of a training: plateau (halve when validation stalls) or cosine (decay over the epochs)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SCHEDULES = ("plateau", "cosine")
COSINE_FLOOR = 0.01  # cosine ends at this share of the first learning rate


class EpochSchedule:
    """Steps an optimiser's learning rate once an epoch: ReduceLROnPlateau on the monitored score ("plateau", none where
    `patience` is 0), or a cosine decay from the optimiser's rate to COSINE_FLOOR of it over `epochs` ("cosine")."""

    def __init__(self, optimizer: "torch.optim.Optimizer", schedule: str, epochs: int, patience: int, factor: float):
        import torch  # deferred: the schedule names are checked (search.plan) without loading torch

        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.plateau = schedule == "plateau"
        self.scheduler = None
        if self.plateau and patience > 0:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=factor, patience=patience)
        elif not self.plateau:
            lr = optimizer.param_groups[0]["lr"]
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs), eta_min=lr * COSINE_FLOOR)

    def step(self, score: float) -> None:
        """After an epoch scored `score` (the monitored validation metric)."""
        if self.scheduler is None:
            return
        if self.plateau:
            self.scheduler.step(score)
        else:
            self.scheduler.step()
