"""A Tune Searcher around another one: calls pass through, and its state is saved with the wrapped searcher's (Tune's
convention for wrappers such as ConcurrencyLimiter: a `searcher` attribute and get_state/set_state), so a resumed
search (--resume) goes on where it stopped."""
from __future__ import annotations

from typing import Any

from ray.tune.search import Searcher


class SearcherWrapper(Searcher):
    """Passes every call to `searcher`; subclasses change suggestions and keep their own state in `state()`/`load()`."""

    def __init__(self, searcher: Searcher):
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        """Passed to the wrapped searcher."""
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def suggest(self, trial_id: str):
        """The wrapped searcher's suggestion."""
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Passed to the wrapped searcher."""
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        """Passed to the wrapped searcher."""
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def state(self) -> dict[str, Any]:
        """This wrapper's own state (Tune saves it beside the wrapped searcher's)."""
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Take back what state() returned."""

    def get_state(self) -> dict[str, Any]:
        """Tune's hook for a wrapper's state: Tune's SearchGenerator saves each wrapper's get_state() and the innermost
        searcher's own file, and restores them in that order."""
        return self.state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what get_state() returned."""
        self.load(state)
