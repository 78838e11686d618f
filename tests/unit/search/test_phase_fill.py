"""A budgeted search's Tune phase fills its planned time: after the plan's trials, more start one at a time as a slot
frees, while that time leaves a new trial its first rung; then the searcher says it is finished."""
from __future__ import annotations

from types import SimpleNamespace

from ray import tune
from ray.tune.search import Searcher

from search.driver import live
from search.driver.filling import FillPhase, filled
from search.driver.rerank import FixedConfigs
from search.plan import Budget
from search.plan.asha import MAX_TRIALS

from .test_final_round_budget import _plan


def _live(name: str, used_s: float) -> list[float]:
    """A live budget of 3600 s for search `name` at `used_s` seconds used; returns its clock to move."""
    now = [0.0]
    live.register(SimpleNamespace(search_name=name, budget=Budget(3600, used_before_s=used_s, clock=lambda: now[0])))
    return now


def _configs(n: int = 20) -> FixedConfigs:
    return FixedConfigs([{"depth": 2, "lr": i} for i in range(n)])


def test_after_the_planned_trials_one_more_starts_each_time_a_slot_frees_while_the_planned_time_has_room():
    now = _live("fill-room", used_s=100.0)
    fill = FillPhase(_configs(), "fill-room", planned=3, parallel=2, end_s=1000.0, rung_s=200.0)
    assert [fill.suggest(f"t{i}")["lr"] for i in range(3)] == [0, 1, 2]  # the planned trials, whatever is open
    assert fill.suggest("t3") is None  # three open, two at a time: ask again once one ends
    fill.on_trial_complete("t0", {"val_dice": 0.5})
    assert fill.suggest("t3") is None  # still two open
    fill.on_trial_complete("t1", {"val_dice": 0.4})
    assert fill.suggest("t3")["lr"] == 3  # a slot is free and 100 + 200 <= 1000
    fill.on_trial_complete("t2", error=True)  # an errored trial frees its slot too
    now[0] = 700.0  # 800 s used: a new trial's first rung would end at 1000, the phase's planned end
    assert fill.suggest("t4")["lr"] == 4
    fill.on_trial_complete("t3")
    now[0] = 701.0  # one second later it would not: the phase is over
    assert fill.suggest("t5") == Searcher.FINISHED


def test_a_phase_over_its_planned_time_starts_no_trial_beyond_the_plan():
    _live("fill-late", used_s=950.0)
    fill = FillPhase(_configs(), "fill-late", planned=2, parallel=2, end_s=1000.0, rung_s=200.0)
    assert fill.suggest("a")["lr"] == 0 and fill.suggest("b")["lr"] == 1  # the planned ones start all the same
    fill.on_trial_complete("a")
    assert fill.suggest("c") == Searcher.FINISHED
    # no live budget (another process, or none given): the planned count only
    alone = FillPhase(_configs(), "no-such-search", planned=1, parallel=2, end_s=1e9, rung_s=1.0)
    assert alone.suggest("a")["lr"] == 0 and alone.suggest("b") == Searcher.FINISHED


def test_a_resumed_phase_keeps_its_count_and_frees_the_slots_of_the_dead_session():
    _live("fill-resume", used_s=0.0)
    fill = FillPhase(_configs(), "fill-resume", planned=2, parallel=1, end_s=1000.0, rung_s=10.0)
    fill.suggest("a"), fill.suggest("b")
    assert fill.suggest("c") is None  # two open, one at a time
    again = FillPhase(_configs(), "fill-resume", planned=2, parallel=1, end_s=1000.0, rung_s=10.0)
    again.set_state(fill.get_state())
    assert again.suggested == 2 and again.suggest("c") is not None  # past the plan, and nothing open in this session


def test_only_a_budgeted_phase_with_a_searcher_fills_and_its_end_is_the_plans_search_time_from_now():
    now = [0.0]
    plan = _plan(40.0)
    plan.search_epoch_s = 30.0
    lines: list[str] = []
    session = SimpleNamespace(plan=plan, budget=Budget(3600, used_before_s=45.0, clock=lambda: now[0]), search_name="s", echo=lines.append)
    config = tune.TuneConfig(search_alg=_configs(), num_samples=8)
    out = filled(config, session, parallel=2)
    assert out.num_samples == MAX_TRIALS and isinstance(out.search_alg, FillPhase)
    fill = out.search_alg
    assert (fill.planned, fill.parallel, fill.end_s) == (8, 2, 45.0 + 1600.0)
    assert fill.rung_s == plan.grace_period * 30.0 + 8.0  # the first rung's epochs at the search's epoch time, and the trial's start
    assert "after its 8 trials, more start while it leaves one its first rung" in lines[0]
    assert filled(config, SimpleNamespace(plan=None, budget=None), parallel=2) is config  # no budget: as planned
    grid = tune.TuneConfig(num_samples=1)
    assert filled(grid, session, parallel=2) is grid  # a grid (no searcher): every configuration once
