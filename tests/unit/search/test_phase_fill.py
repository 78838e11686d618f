"""A budgeted search's Tune phase fills its planned time: after the plan's trials, more start one at a time as a slot
frees, while that time holds one more trial's expected seconds; then the searcher says it is finished. A phase Ctrl-C
stopped is an interruption however many trials ended."""
from __future__ import annotations

from types import SimpleNamespace

import signal

import pandas as pd
import pytest
from ray import tune
from ray.tune.search import Searcher

from search.config import SearchConfig
from search.driver import live
from search.driver.filling import FillPhase, filled
from search.driver.interrupt import fit_watching_ctrl_c
from search.driver.rerank import FixedConfigs
from search.driver.search import _check_all_ended
from search.driver.session import SearchSession
from search.errors import SearchInterrupted
from search.plan import Budget
from search.plan.asha import MAX_TRIALS
from search.plan.planner import PHASE_S, asha_trial_seconds

from .test_final_round_budget import _plan


@pytest.fixture(autouse=True)
def _no_live_sessions_left():
    yield
    live.LIVE.clear()


def _live(name: str, used_s: float) -> list[float]:
    """A live budget of 3600 s for search `name` at `used_s` seconds used; returns its clock to move."""
    now = [0.0]
    live.register(SimpleNamespace(search_name=name, budget=Budget(3600, used_before_s=used_s, clock=lambda: now[0])))
    return now


def _configs(n: int = 60) -> FixedConfigs:
    return FixedConfigs([{"depth": 2, "lr": i} for i in range(n)])


def test_after_the_planned_trials_one_more_starts_each_time_a_slot_frees_while_the_planned_time_has_room():
    now = _live("fill-room", used_s=100.0)
    fill = FillPhase(_configs(), "fill-room", planned=3, parallel=2, end_s=1000.0, trial_s=200.0)
    assert [fill.suggest(f"t{i}")["lr"] for i in range(3)] == [0, 1, 2]  # the planned trials, whatever is open
    assert fill.suggest("t3") is None  # three open, two at a time: ask again once one ends
    fill.on_trial_complete("t0", {"val_dice": 0.5})
    assert fill.suggest("t3") is None  # still two open
    fill.on_trial_complete("t1", {"val_dice": 0.4})
    assert fill.suggest("t3")["lr"] == 3  # a slot is free and 100 + 200 <= 1000
    fill.on_trial_complete("t2", error=True)  # an errored trial frees its slot too
    now[0] = 700.0  # 800 s used: a new trial's expected seconds would end at 1000, the phase's planned end
    assert fill.suggest("t4")["lr"] == 4
    fill.on_trial_complete("t3")
    now[0] = 701.0  # one second later they would not: the phase has had its last trial
    assert fill.suggest("t5") == Searcher.FINISHED


def test_a_phase_over_its_planned_time_starts_no_trial_beyond_the_plan_and_none_beyond_the_most():
    _live("fill-late", used_s=950.0)
    fill = FillPhase(_configs(), "fill-late", planned=2, parallel=2, end_s=1000.0, trial_s=200.0)
    assert fill.suggest("a")["lr"] == 0 and fill.suggest("b")["lr"] == 1  # the planned ones start all the same
    fill.on_trial_complete("a")
    assert fill.suggest("c") == Searcher.FINISHED
    # no live budget (another process, or none given): the planned count only
    alone = FillPhase(_configs(), "no-such-search", planned=1, parallel=2, end_s=1e9, trial_s=1.0)
    assert alone.suggest("a")["lr"] == 0 and alone.suggest("b") == Searcher.FINISHED
    _live("fill-most", used_s=0.0)
    most = FillPhase(_configs(), "fill-most", planned=1, parallel=4, end_s=1e9, trial_s=1.0, most=3)
    assert [most.suggest(t)["lr"] for t in "abc"] == [0, 1, 2] and most.suggest("d") == Searcher.FINISHED  # Tune's num_samples


def test_a_resumed_phase_keeps_its_count_and_frees_the_slots_of_the_dead_session():
    _live("fill-resume", used_s=0.0)
    fill = FillPhase(_configs(), "fill-resume", planned=2, parallel=1, end_s=1000.0, trial_s=10.0)
    fill.suggest("a"), fill.suggest("b")
    assert fill.suggest("c") is None  # two open, one at a time
    again = FillPhase(_configs(), "fill-resume", planned=2, parallel=1, end_s=1000.0, trial_s=10.0)
    again.set_state(fill.get_state())
    assert again.suggested == 2 and again.suggest("c") is not None  # past the plan, and nothing open in this session


def _session(tmp_path, cfg: SearchConfig | None = None, used_s: float = 45.0):
    now = [0.0]
    plan = _plan(40.0)
    plan.search_epoch_s = 30.0
    lines: list[str] = []
    return SimpleNamespace(plan=plan, budget=Budget(3600, used_before_s=used_s, clock=lambda: now[0]), search_name="s", echo=lines.append,
                           lines=lines, cfg=cfg or SearchConfig(space="arch", budget=3600), state={}, state_path=tmp_path / "s.search.json")


def test_only_a_budgeted_phase_with_a_searcher_fills_and_its_end_is_the_plans_search_time_from_now(tmp_path):
    session = _session(tmp_path)
    plan = session.plan
    config = tune.TuneConfig(search_alg=_configs(), num_samples=8)
    out = filled(config, session, parallel=2)
    assert out.num_samples == MAX_TRIALS and isinstance(out.search_alg, FillPhase)
    fill = out.search_alg
    assert (fill.planned, fill.parallel, fill.end_s) == (8, 2, 45.0 + 1600.0 - PHASE_S)  # the phase's own start and stop are no trial's
    # a ninth trial's expected seconds under ASHA: its first rung at the search's epoch time, the rest at the deepest's
    assert fill.trial_s == asha_trial_seconds(plan.max_epochs, plan.grace_period, 2, 9, 30.0, 40.0)
    assert "after its 8 trials, more start while it holds one more" in session.lines[0]
    assert filled(config, session, parallel=2, deadline_s=1000.0).search_alg.end_s == 1000.0  # never past the phase's deadline
    assert filled(config, SimpleNamespace(plan=None, budget=None, cfg=session.cfg), parallel=2) is config  # no budget: as planned
    grid = tune.TuneConfig(num_samples=1)
    assert filled(grid, session, parallel=2) is grid  # a grid (no searcher): every configuration once
    edited = _session(tmp_path, SearchConfig(space="arch", plan="plan.json"))
    assert filled(config, edited, parallel=2) is config  # a plans file's trial count is the user's


def _tune_like(signalled: bool):
    """A fit that installs a SIGINT handler as Tune does for its run and, where `signalled`, puts back the one it found,
    as Tune's handler does when Ctrl-C arrives."""
    def fit():
        found = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda sig, frame: None)
        if signalled:
            signal.signal(signal.SIGINT, found)
        return "results"
    return fit


def test_a_phase_tells_whether_ctrl_c_stopped_it_and_leaves_the_handler_it_found():
    before = signal.getsignal(signal.SIGINT)
    assert fit_watching_ctrl_c(_tune_like(signalled=False)) == ("results", False)
    assert signal.getsignal(signal.SIGINT) is before  # Tune's handler went with its run: a later Ctrl-C stops the process
    assert fit_watching_ctrl_c(_tune_like(signalled=True)) == ("results", True)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_phase_ctrl_c_stopped_is_an_interruption_however_many_trials_ended(tmp_path):
    session = SearchSession(cfg=SearchConfig(space="arch"), space=None, strategy=None, data=None, limits=None, client=None, ctx=None,
                            search_name="s", state_path=tmp_path / "s.search.json")
    table = pd.DataFrame({"trial_id": [f"t{i}" for i in range(9)], "status": ["FINISHED"] * 9, "best_val_dice": [0.5] * 9, "attempt": [1] * 9,
                          "start_time": range(9)})
    _check_all_ended(session, table, total=8)  # every trial ended, more than planned: the phase ended as planned
    session.ctrl_c = True
    with pytest.raises(SearchInterrupted, match=r"interrupted: 9 \(the plan's 8 and more its time had room for\) trials done"):
        _check_all_ended(session, table, total=8)  # Ctrl-C while the last trials ran: their runs end KILLED, not stopped early
    session.deadline_reached = True
    with pytest.raises(SearchInterrupted):
        _check_all_ended(session, table, total=8)  # the user's Ctrl-C stops the search whatever else ended the phase
    session.ctrl_c = False
    _check_all_ended(session, table.head(5), total=8)  # the deadline ended it with 5 done
