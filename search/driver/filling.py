"""A budgeted search's Tune phase fills its planned time: after the plan's trials, more start while that time holds one
more trial's expected seconds under ASHA. The plan counts trials at ASHA's expected stops, and with 8 trials how many
ASHA stops varies a lot: Kvasir at 60 minutes stopped 4 of 8 and its phase ended 33% short of the plan, DRIVE at 30
minutes 7 of 8 (39% short)."""
from __future__ import annotations

import dataclasses
from typing import Any

from ray.tune.search import Searcher

from search.noise.wrap import SearcherWrapper
from search.plan import duration
from search.plan.asha import MAX_TRIALS
from search.plan.planner import PHASE_S, asha_trial_seconds

from . import live


class FillPhase(SearcherWrapper):
    """`searcher`'s first `planned` suggestions, then one more each time fewer than `parallel` trials are open, while
    search `search`'s live budget (search.driver.live) leaves `trial_s` seconds before `end_s` (the budget second at
    which the plan ends the phase); past it, or after `most` suggestions, Searcher.FINISHED. Without a live budget (none
    given, or Tune run on a cluster through Ray Client) it stops at the planned count. A resumed search counts its open
    trials anew: those it continues may be joined by up to `parallel` more, never held back by trials of the dead
    session."""

    def __init__(self, searcher: Searcher, search: str, planned: int, parallel: int, end_s: float, trial_s: float, most: int = MAX_TRIALS):
        super().__init__(searcher)
        self.search, self.planned, self.parallel, self.end_s, self.trial_s = search, int(planned), max(1, int(parallel)), end_s, trial_s
        self.most, self.suggested = max(int(most), self.planned), 0
        self.open: set[str] = set()

    def room(self) -> bool:
        """Whether the phase's planned time still holds a new trial's expected seconds."""
        budget = live.budget_of(self.search)
        return budget is not None and budget.used_s + self.trial_s <= self.end_s

    def suggest(self, trial_id: str):
        """The wrapped searcher's suggestion while planned trials are left or the planned time has room (None: ask again
        once a trial ends); Searcher.FINISHED after."""
        if self.suggested >= self.planned:
            if self.suggested >= self.most or not self.room():
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
        """Take back the count; no trial is open in a new session until it is suggested or its end told."""
        self.suggested, self.open = int(state["suggested"]), set()


def filled(config, session, parallel: int, deadline_s: float | None = None):
    """Tune settings `config` of a new budgeted search's sampled phase with its searcher filling the phase's planned
    time, at most to `deadline_s` (FillPhase; at most MAX_TRIALS trials, or the planned count where larger). `config`
    as is without a budget, a searcher or a planned search time, and for a plans file (--plan: its trial count is the
    user's)."""
    plan, budget, cfg = session.plan, session.budget, session.cfg
    if budget is None or cfg.plan or config.search_alg is None or "search" not in plan.predicted_s:
        return config
    planned = config.num_samples
    trial_s = asha_trial_seconds(plan.max_epochs, plan.grace_period, cfg.reduction_factor, planned + 1, plan.search_epoch_s or plan.epoch_s,
                                 plan.epoch_s)
    end_s = budget.used_s + plan.predicted_s["search"] - PHASE_S  # the trials' share: the phase's own start and stop are not theirs
    searcher = FillPhase(config.search_alg, session.search_name, planned, parallel, min(end_s, deadline_s or end_s), trial_s,
                         most=max(MAX_TRIALS, planned))
    session.echo(f"budget: the search phase has {duration(plan.predicted_s['search'])} planned: after its {planned} trials, more start "
                 f"while it holds one more ({duration(trial_s)} expected under ASHA), as ASHA's early stops free the time")
    return dataclasses.replace(config, search_alg=searcher, num_samples=searcher.most)
