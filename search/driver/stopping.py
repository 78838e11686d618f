"""A Tune stopper that ends the whole search once a trial is good enough."""
from __future__ import annotations

from ray.tune.stopper import Stopper


class StopAtDice(Stopper):
    """Stop every trial once any trial reports a validation Dice of at least `target` (the search's `--stop-at`)."""

    def __init__(self, target: float, metric: str = "val_dice"):
        self.target, self.metric, self.reached = target, metric, False

    def __call__(self, trial_id: str, result: dict) -> bool:
        value = result.get(self.metric)
        if value is not None and value >= self.target:
            self.reached = True
        return self.reached

    def stop_all(self) -> bool:
        return self.reached
