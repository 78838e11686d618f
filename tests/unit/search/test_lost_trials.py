"""Trials Ray gave up on because their process or node died (not their own error, not a store that took no writes)
are trained again once, and only when nothing else cut the phase short (Ctrl-C, --stop-at, the budget's deadline)."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from ray.exceptions import ActorDiedError, RayTaskError

import search.driver.search as driver
from search.config import SearchConfig
from search.driver.search import _lost_to_retrain, lost_trials
from search.errors import TrackingUnavailable


class Grid(list):
    """A ResultGrid's parts the decision reads."""

    def __init__(self, results, errors: int, pending: int = 0):
        super().__init__(results)
        self.num_errors, self.num_terminated = errors, len(results) - errors - pending


def _result(error=None, trial_id: str = "t0"):
    return SimpleNamespace(error=error, metrics={"trial_id": trial_id}, config={})


def _grid(pending: int = 0) -> Grid:
    return Grid([_result(trial_id=f"t{i}") for i in range(7)] + [_result(ActorDiedError(), "t7")], errors=1, pending=pending)


def test_a_trial_whose_process_died_is_lost_and_one_that_raised_or_found_no_store_is_not():
    died = _result(ActorDiedError())
    wrapped = _result(RuntimeError("trial failed"))
    wrapped.error.__cause__ = ActorDiedError()
    own = _result(RayTaskError("train", "Traceback ...", ValueError("bad config")))
    no_store = _result(RuntimeError("could not open its run"))
    no_store.error.__cause__ = TrackingUnavailable("the store took no writes")
    no_store.error.__cause__.__cause__ = ActorDiedError()
    assert lost_trials([_result(), died, wrapped, own, no_store]) == [died, wrapped]


def _table(*statuses: str, dice: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame({"trial_id": [f"t{i}" for i in range(len(statuses))], "attempt": 1, "start_time": range(len(statuses)),
                         "status": list(statuses), "best_val_dice": dice})


@pytest.fixture
def session(monkeypatch):
    table = {"now": _table(*["FINISHED"] * 7, "FAILED")}
    monkeypatch.setattr(driver, "trials_table", lambda *a, **k: table["now"])
    s = SimpleNamespace(cfg=SearchConfig(), deadline_reached=False, client=None, ctx=SimpleNamespace(experiment_id="1", parent_run_id="p"),
                        strategy=SimpleNamespace(role="trial"), table=table)
    return s


def test_a_lost_trial_is_trained_again_when_every_other_trial_ended(session):
    assert len(_lost_to_retrain(session, _grid(), total=8)) == 1


def test_nothing_is_trained_again_after_ctrl_c_a_deadline_stop_at_or_beside_another_error(session):
    results = _grid()
    session.table["now"] = _table(*["FINISHED"] * 5, "RUNNING", "RUNNING", "FAILED")  # Ctrl-C left two runs cut short
    assert _lost_to_retrain(session, results, total=8) == []
    no_run = _table(*["FINISHED"] * 7, "FAILED")
    session.table["now"] = no_run[no_run.trial_id != "t6"]  # Ctrl-C ended a trial before it opened its run
    assert _lost_to_retrain(session, results, total=8) == []
    session.table["now"] = _table(*["FINISHED"] * 7, "FAILED")
    assert _lost_to_retrain(session, _grid(pending=1), total=8) == []  # Ctrl-C left a trial waiting for resources
    session.deadline_reached = True
    assert _lost_to_retrain(session, results, total=8) == []
    session.deadline_reached = False
    session.cfg = SearchConfig(stop_at=0.4)  # a trial reached 0.5: --stop-at ended the phase
    assert _lost_to_retrain(session, results, total=8) == []
    session.cfg = SearchConfig()
    assert _lost_to_retrain(session, Grid(list(results), errors=2), total=8) == []  # another trial errored otherwise
    assert _lost_to_retrain(session, Grid(list(results)[:6], errors=1), total=8) == []  # Tune created only 6 of 8
    session.cfg = SearchConfig(max_failures=0)
    assert _lost_to_retrain(session, results, total=8) == []
