"""Before its final round, a budgeted search fits that round to the time left at the epoch time its trials measured:
longer where epochs ran faster than planned, shorter where the search ran long, none where not one epoch fits."""
from __future__ import annotations

from types import SimpleNamespace

from search.config import SearchConfig
from search.driver.budgeting import keep_the_budget, measured_epoch_s, search_deadline_s
from search.plan import Budget, Plan
from search.plan.planner import SETUP_S


def _plan(epoch_s: float) -> Plan:
    return Plan("synthetic", "k", 10, 3600, 2, 1.0, 0.0, 0, False, 64, 32, 8, 0, 800, 20, 5, 8, 1, 40, 1, 4, 8, 0.1, epoch_s, False,
                {"setup": 60.0, "search": 1600.0, "final": 1600.0, "total": 3260.0}, [])


def _session(left_s: float, plan_epoch_s: float):
    now = [0.0]
    budget = Budget(3600, used_before_s=3600 - left_s, clock=lambda: now[0])
    lines: list[str] = []
    cfg = SearchConfig(space="arch", budget=3600, rerank_top=1, final_budget=40, final_folds=1)
    return SimpleNamespace(cfg=cfg, plan=_plan(plan_epoch_s), budget=budget, echo=lines.append, lines=lines, space=SimpleNamespace(fixed_recipe=True))


def _trials(depth: int, epoch_s: float, n: int = 3, skips: str | None = None) -> list:
    bits = {f"s{i + 1}": int(b) for i, b in enumerate(skips or "1" * depth)}
    return [SimpleNamespace(config={"depth": depth, **bits}, metrics={"training_iteration": 10, "time_total_s": 10 * epoch_s,
                                                                      "epoch_time_s": epoch_s})] * n


def test_the_epoch_time_is_the_default_unets_of_the_planned_depth():
    assert measured_epoch_s(_trials(4, 20.0) + _trials(2, 5.0, n=5), depth=4) == 20.0
    assert measured_epoch_s(_trials(2, 5.0), depth=4) is None
    # the default U-Net (every skip) is the final round's slowest training: its trials time it, not the median of its depth
    assert measured_epoch_s(_trials(4, 25.0, n=1) + _trials(4, 21.0, n=4, skips="0101"), depth=4) == 25.0
    assert measured_epoch_s([SimpleNamespace(config={"depth": 4, "skips": "1111"}, metrics={"training_iteration": 4, "time_total_s": 100.0})],
                            depth=4) == 25.0
    # none of it sampled: the slowest of the depth, never faster than any net the round may train
    assert measured_epoch_s(_trials(4, 21.0, n=2, skips="0101") + _trials(4, 23.0, n=1, skips="1101"), depth=4) == 23.0
    # a config that names no skips (a supernet's) is not the default U-Net
    supernet = [SimpleNamespace(config={"depth": 4}, metrics={"training_iteration": 4, "time_total_s": 40.0})]
    assert measured_epoch_s(supernet + _trials(4, 21.0, n=1, skips="0101"), depth=4) == 21.0


def test_epochs_faster_than_planned_lengthen_the_final_round_within_the_time_left():
    session = _session(left_s=1700, plan_epoch_s=40.0)
    fitted_s = keep_the_budget(session, _trials(4, 30.0))
    epochs = session.cfg.final_epochs
    assert fitted_s <= 1700 - 30  # the round as fitted, predicted within the time left beside the test score's share
    assert 40 < epochs <= 1700 / 30  # the planned 40 epochs, stretched to what 30-s epochs fit
    assert "30.0-s epochs measured in the search, 40.0 s planned" in session.lines[0]
    shrunk = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(shrunk, _trials(4, 30.0), parallel=1)  # a node lost: the finalist and the default U-Net one after the other
    assert shrunk.cfg.final_epochs <= epochs // 2
    edited = _session(left_s=1700, plan_epoch_s=40.0)
    edited.cfg = SearchConfig(space="arch", plan="plan.json", rerank_top=1, final_budget=40, final_folds=1)
    keep_the_budget(edited, _trials(4, 30.0))
    assert edited.cfg.final_epochs == 40  # a plans file's final round is never made longer


def test_a_search_that_ran_long_shortens_the_final_round_and_one_with_no_time_left_skips_it():
    session = _session(left_s=800, plan_epoch_s=40.0)
    keep_the_budget(session, [])
    assert 1 <= session.cfg.final_epochs < 20 and "40.0-s epochs as planned" in session.lines[0]
    spent = _session(left_s=20, plan_epoch_s=40.0)
    keep_the_budget(spent, _trials(4, 40.0))
    assert spent.cfg.rerank_top == 0 and "no final-round epoch fits" in spent.lines[0]


def test_the_tune_phase_ends_near_its_planned_time_and_leaves_the_rest_to_the_final_round():
    plan = _plan(40.0)  # predicted: setup 60, search 1600, final 1600 of a 3600-s budget
    now = [0.0]
    budget = Budget(3600, clock=lambda: now[0])
    now[0] = 45.0  # the phase starts after 45 s of setup
    assert search_deadline_s(plan, budget) == 45.0 + 1.05 * 1600  # a search that runs long stops at 105% of its plan
    after = 60.0 - SETUP_S  # the plan's fixed part after the final round: the test score and the take-home models
    assert search_deadline_s(plan, budget, resumed=True) == 3600 - 1600 - after  # resumed: where the final round still fits
    late = Budget(3600, clock=lambda: now[0])
    now[0] = 900.0  # a slow setup: the final round's reserve still bounds the phase
    assert search_deadline_s(plan, late) == 3600 - 1600 - after


def test_each_final_training_is_limited_to_its_share_of_the_time_left_beyond_what_its_fitted_epochs_need():
    from search.plan.planner import PHASE_S, TRIAL_S

    session = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(session, _trials(4, 30.0))
    limit = session.final_time_limit_s  # the finalist and the default U-Net side by side: one wave
    after = 60.0 - SETUP_S + PHASE_S  # the plan's test score and take-home models, and the round's own start and stop
    assert limit == 1700 - after - TRIAL_S  # the time left before the test score's share, less the training's start
    assert session.cfg.final_epochs * 30.0 < limit  # a round that runs as measured never meets it: a backstop only
    one_at_a_time = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(one_at_a_time, _trials(4, 30.0), parallel=1)
    assert one_at_a_time.final_time_limit_s == (1700 - after) / 2 - TRIAL_S  # two waves: half each


def test_the_summary_names_each_final_training_the_time_left_ended_sooner():
    import pandas as pd

    from search.run import final_epochs

    final = pd.DataFrame({"run_name": ["d4-s1111-default-final", "d3-s101-final", "d3-s111-final", "d3-s111-sal50-final"],
                          "status": ["FINISHED", "FINISHED", "FAILED", "FINISHED"], "epochs_trained": [77.0, 83.0, 2.0, 85.0],
                          "epoch_budget": [83, 83, 83, 87]})  # the saliency finalist: 83 epochs and a retraining round of 4
    outcome = SimpleNamespace(final=final, final_epochs=83)
    assert final_epochs(outcome) == ("83 epochs; the time left ended d4-s1111-default-final at 77, d3-s111-sal50-final at 85")  # a failed
    # training is not "ended by time"
    assert final_epochs(SimpleNamespace(final=final.iloc[1:2], final_epochs=83)) == "83 epochs"
    own = final.assign(epochs=[83, 120, 83, 83], default=[True, False, False, False], epoch_budget=[83, 120, 83, 87])
    assert final_epochs(SimpleNamespace(final=own, final_epochs=70)) == (  # resumed: the round re-fitted to 70, its runs kept 83
        "83 epochs; d3-s101-final 120 in the same time; the time left ended d4-s1111-default-final at 77, d3-s101-final at 83, "
        "d3-s111-sal50-final at 85")


def test_epochs_measured_slower_than_planned_leave_the_final_round_to_its_time_limit_instead_of_cutting_it():
    planned = _session(left_s=1700, plan_epoch_s=30.0)
    keep_the_budget(planned, _trials(4, 30.0))
    loaded = _session(left_s=1700, plan_epoch_s=30.0)
    keep_the_budget(loaded, _trials(4, 45.0))  # the machine was busy for a while in the search: its epochs read 50% slower
    assert loaded.cfg.final_epochs == planned.cfg.final_epochs  # fitted as planned, not cut for good by a passing load
    assert loaded.final_time_limit_s == planned.final_time_limit_s  # each training still ends within its share of the time
    assert "the search measured 45.0-s epochs (30.0 s planned): each final training ends where its share" in loaded.lines[0]
    spent = _session(left_s=75, plan_epoch_s=30.0)
    keep_the_budget(spent, _trials(4, 45.0))  # one planned epoch would fit, not one measured one
    assert spent.cfg.rerank_top == 0 and "no final-round epoch fits" in spent.lines[0]


def _trial(trial_id: str, depth: int, epoch_s: float, iterations: int = 10, start_s: float = 0.0, **config) -> SimpleNamespace:
    return SimpleNamespace(config={"depth": depth, **config}, metrics={"trial_id": trial_id, "training_iteration": iterations,
                                                                       "time_total_s": start_s + iterations * epoch_s, "epoch_time_s": epoch_s})


def test_a_finalist_faster_than_the_default_unet_trains_more_epochs_in_the_same_time_of_a_one_wave_round():
    from search.driver.budgeting import MAX_STRETCH
    from search.driver.final import final_points, with_own_epochs

    results = _trials(4, 30.0) + [_trial("fast", 3, 20.0), _trial("slow", 4, 40.0), _trial("once", 2, 5.0, iterations=1),
                                   _trial("saliency", 2, 10.0, saliency_iterations=1),
                                   _trial("short", 2, 20.0, iterations=4, start_s=60.0)]  # a start as long as 3 epochs
    session = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(session, results)
    rounds = session.cfg.final_epochs  # the default U-Net's: fitted at its 30-s epochs
    own = session.final_epochs_by_trial
    assert set(own) == {"fast", "short"}  # slower than the default: the round's epochs (the time limit ends it); one epoch or
    assert own["short"] == own["fast"]  # its epochs are timed without its start (35 s an epoch with it: slower than the default)
    assert rounds < own["fast"] <= MAX_STRETCH * rounds  # saliency rounds timed: no measure of its epoch
    assert 0.9 * session.final_time_limit_s <= own["fast"] * 20.0 <= session.final_time_limit_s  # it trains until near the round's end
    finalist = {"trial_id": "fast", "run_name": "d3", "config": {"depth": 3}}
    default = {"trial_id": "", "run_name": "d4-default", "config": {"depth": 4}, "baseline": True}
    ranked = with_own_epochs([finalist, default, {**finalist, "is_default": True}], own)
    assert [c.get("final_epochs") for c in ranked] == [own["fast"], None, None]  # the default U-Net keeps the round's epochs
    assert [p["epochs"] for p in final_points(session.cfg, ranked[0])] == [own["fast"]]
    assert [p["epochs"] for p in final_points(session.cfg, ranked[1])] == [rounds]


def test_a_finalist_keeps_the_rounds_epochs_in_a_round_of_several_waves_or_from_a_plans_file():
    results = _trials(4, 30.0) + [_trial("fast", 3, 20.0)]
    waves = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(waves, results, parallel=1)  # the finalist and the default U-Net one after the other: no idle core to fill
    assert waves.final_epochs_by_trial == {}
    edited = _session(left_s=1700, plan_epoch_s=40.0)
    edited.cfg = SearchConfig(space="arch", plan="plan.json", rerank_top=1, final_budget=40, final_folds=1)
    keep_the_budget(edited, results)
    assert edited.final_epochs_by_trial == {}  # the user's epochs stand
    sampled = _session(left_s=1700, plan_epoch_s=40.0)
    sampled.space = SimpleNamespace(fixed_recipe=False)  # trials sample the recipe: the default U-Net's epoch is not measured
    keep_the_budget(sampled, results)
    assert sampled.final_epochs_by_trial == {}  # no like-for-like reference to scale a finalist's epochs by


def test_the_final_round_trains_a_faster_finalist_for_its_own_epochs_and_says_so(monkeypatch):
    import pandas as pd

    from search.driver import final

    base = {"patch_size": 64, "patch_stride": 32, "loss": "dice", "lr": 1e-3}
    results = [_trial("fast", 3, 20.0, **base, skips="101"), _trial("d4", 4, 30.0, **base, skips="1111")]
    session = _session(left_s=1700, plan_epoch_s=40.0)
    keep_the_budget(session, results)
    table = pd.DataFrame([{**dict.fromkeys(final.TRIAL_COLUMNS), "run_name": name, "status": "FINISHED", "trial_id": trial, "attempt": 1,
                           "best_val_dice": dice, "start_time": i} for i, (name, trial, dice) in enumerate([("d3", "fast", 0.8), ("d4", "d4", 0.7)])])
    trained = []
    monkeypatch.setattr(final, "default_unet_config", lambda cfg, limits: {**base, "depth": 4, "skips": "1111"})
    monkeypatch.setattr(final, "train_at_final_budget", lambda session, candidates, tag: trained.extend(candidates))
    session.limits = None
    final.rerank_at_final_budget(session, results, table)
    assert [(c["run_name"].split("-")[0], c.get("final_epochs")) for c in trained] == [("d3", session.final_epochs_by_trial["fast"]), ("d4", None)]
    assert f"({session.cfg.final_epochs} epochs; d3 {session.final_epochs_by_trial['fast']} in the same time)" in session.lines[-1]
