"""Trials Ray gave up on because their process or node died (not their own error) are trained again once, and only when
Tune ran every trial to an end (never after Ctrl-C)."""
from __future__ import annotations

from types import SimpleNamespace

from ray.exceptions import ActorDiedError, RayTaskError

from search.driver.search import _all_ended, lost_trials


class Grid(list):
    """A ResultGrid's parts the decision reads."""

    def __init__(self, results, terminated: int, errors: int):
        super().__init__(results)
        self.num_terminated, self.num_errors = terminated, errors


def _result(error=None):
    return SimpleNamespace(error=error, metrics={}, config={})


def test_a_trial_whose_process_died_is_lost_and_one_that_raised_is_not():
    died = _result(ActorDiedError())
    wrapped = _result(RuntimeError("trial failed"))
    wrapped.error.__cause__ = ActorDiedError()
    own = _result(RayTaskError("train", "Traceback ...", ValueError("bad config")))
    assert lost_trials([_result(), died, wrapped, own]) == [died, wrapped]


def test_lost_trials_are_trained_again_only_when_every_trial_reached_an_end():
    assert _all_ended(Grid([_result()] * 8, terminated=7, errors=1), total=8)
    assert not _all_ended(Grid([_result()] * 8, terminated=5, errors=1), total=8)  # Ctrl-C left two unfinished
    assert not _all_ended(Grid([_result()] * 6, terminated=5, errors=1), total=8)  # a deadline started no more
