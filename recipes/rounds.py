"""The training rounds of one configuration (the first on every pixel, then each saliency retraining) and their share of
a training's time limit, so a time-limited saliency finalist keeps to its limit as a plain one does (each round trains
at least one epoch, and the saliency maps between rounds come off the later rounds' time)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .params import TrialParams


@dataclass
class Rounds:
    """The rounds of `params`'s training under `limit_s` wall seconds for all of them (None: no limit). Each round's
    limit is the time not yet spent, shared among the rounds left by their planned epochs; `clock`: seconds (tests
    inject one)."""

    params: TrialParams
    limit_s: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float | None = field(default=None, init=False)
    trained: list[int] = field(default_factory=list, init=False)  # epochs each finished round trained

    @property
    def epochs(self) -> list[int]:
        """Each round's planned epochs (TrialParams.round_epochs)."""
        return self.params.round_epochs

    def offset(self, iteration: int) -> int:
        """The epochs trained before round `iteration` (its epochs are numbered on from there)."""
        return sum(self.trained[:iteration])

    def limit(self, iteration: int) -> float | None:
        """Wall seconds round `iteration` may take, counted from now (None: no limit); where the time is spent, a
        millisecond (the round trains one epoch)."""
        now = self.clock()
        self.started = now if self.started is None else self.started
        if self.limit_s is None:
            return None
        left = self.epochs[iteration:]
        return max(1e-3, (self.limit_s - (now - self.started)) * left[0] / max(1, sum(left)))

    def reported(self, iteration: int, metrics: dict[str, float]) -> dict[str, float]:
        """An epoch's metrics as the training reports them: in a round before the last, the training ends (`last_epoch`)
        where this round does and the later rounds' planned epochs after it."""
        if "last_epoch" in metrics and iteration < len(self.epochs) - 1:
            return {**metrics, "last_epoch": metrics["last_epoch"] + sum(self.epochs[iteration + 1:])}
        return metrics

    def done(self, epochs: int) -> None:
        """The round under way (rounds run in turn) trained `epochs` epochs."""
        self.trained.append(epochs)
