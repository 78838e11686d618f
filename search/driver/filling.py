"""A budgeted search's Tune phase fills its planned time: after the plan's trials, more start while that time leaves one
its first ASHA rung. The plan counts trials at ASHA's expected stops, and with 8 trials how many ASHA stops varies a lot:
Kvasir at 60 minutes stopped 4 of 8 and its phase ended 33% short of the plan, DRIVE at 30 minutes 7 of 8 (39% short)."""
from __future__ import annotations

import dataclasses
from typing import Any

from ray.tune.search import Searcher

from search.noise.wrap import SearcherWrapper
from search.plan import duration
from search.plan.asha import MAX_TRIALS
from search.plan.planner import TRIAL_S

from . import live


class FillPhase(SearcherWrapper):
    """`searcher`'s first `planned` suggestions, then one more each time fewer than `parallel` trials are open, while
    search `search`'s live budget (search.driver.live) leaves `rung_s` seconds before `end_s` (the budget second at which
    the plan ends the phase); past it, Searcher.FINISHED. Without a live budget it stops at the planned count.
    The open trials are this session's: a resumed search counts anew (trials it restarts get new ids)."""

    def __init__(self, searcher: Searcher, search: str, planned: int, parallel: int, end_s: float, rung_s: float):
        super().__init__(searcher)
        self.search, self.planned, self.parallel, self.end_s, self.rung_s = search, int(planned), max(1, int(parallel)), end_s, rung_s
        self.suggested = 0
        self.open: set[str] = set()

    def room(self) -> bool:
        """Whether the phase's planned time still leaves a new trial its first rung."""
        budget = live.budget_of(self.search)
        return budget is not None and budget.used_s + self.rung_s <= self.end_s

    def suggest(self, trial_id: str):
        """The wrapped searcher's suggestion while planned trials are left or the planned time has room (None: ask again
        once a trial ends); Searcher.FINISHED after."""
        if self.suggested >= self.planned:
            if not self.room():
                return Searcher.FINISHED
            if len(self.open) >= self.parallel:
                return None
        config = self.searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        self.suggested += 1
        self.open.add(trial_id)
        return config

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        """The trial's slot frees; passed to the wrapped searcher."""
        self.open.discard(trial_id)
        super().on_trial_complete(trial_id, result=result, error=error)

    def state(self) -> dict[str, Any]:
        """The trials suggested so far."""
        return {"suggested": self.suggested}

    def load(self, state: dict[str, Any]) -> None:
        """Take back the count; no trial is open in a new session until it is suggested (or its end is told)."""
        self.suggested, self.open = int(state["suggested"]), set()


def filled(config, session, parallel: int):
    """Tune settings `config` of a new budgeted search's sampled phase with its searcher filling the phase's planned time
    (FillPhase; at most MAX_TRIALS trials, or the planned count where larger); `config` as is without a budget, a
    searcher or a planned search time."""
    plan, budget = session.plan, session.budget
    if budget is None or config.search_alg is None or "search" not in plan.predicted_s:
        return config
    rung_s = plan.grace_period * (plan.search_epoch_s or plan.epoch_s) + TRIAL_S
    searcher = FillPhase(config.search_alg, session.search_name, config.num_samples, parallel,
                         budget.used_s + plan.predicted_s["search"], rung_s)
    session.echo(f"budget: the search phase has {duration(plan.predicted_s['search'])} planned: after its {config.num_samples} trials, "
                 f"more start while it leaves one its first rung ({plan.grace_period} epochs), as ASHA's early stops free the time")
    return dataclasses.replace(config, search_alg=searcher, num_samples=max(MAX_TRIALS, config.num_samples))
