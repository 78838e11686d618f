"""A Tune stopper that ends the whole search once a trial is good enough."""
from __future__ import annotations

from ray.tune.stopper import Stopper

from . import live


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


class Deadline(Stopper):
    """Stop starting and running trials once search `search` has used `until_s` seconds of its budget (its live
    search.plan.Budget, search.driver.live), so the final round and the test score still fit; `reached` tells the driver
    the phase ended on time, not on Ctrl-C. A restored Deadline reads the resumed session's clock."""

    def __init__(self, search: str, until_s: float):
        self.search, self.until_s, self.reached = search, until_s, False

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        budget = live.budget_of(self.search)
        if budget is not None and budget.used_s >= self.until_s:
            self.reached = True
            live.mark_deadline(self.search)
        return self.reached
