"""A budgeted search keeps its budget: the plan made (or kept on resume) before the session opens, the time used
recorded as the search goes, the Tune phase's deadline, and a final round fitted to the time left at the epoch time the
search measured."""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, replace
from typing import Any, Callable

from datasets import SegmentationData
from search.config import SearchConfig
from search.plan import Budget, Plan, duration
from search.plan.planner import PHASE_S, SETUP_S, TRIAL_S
from search.spaces import SpaceLimits
from search.tracking import client as tracking

from . import live
from . import state as search_state
from .final import DEFAULT_DEPTH
from .planning import make_plan, plan_path, write_plan


def planned(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits, kept: dict[str, Any] | None,
            echo: Callable[[str], None], started: float | None = None) -> tuple[SearchConfig, Plan | None]:
    """(cfg as planned, its plan): a resumed search keeps the plan it started with; --budget plans now (what is left of
    it since `started`, time.monotonic()) and --plan reads a plans file (each written beside the store and printed);
    without either, nothing is planned."""
    if kept is not None:
        return cfg, Plan(**kept)
    if cfg.budget is None and not cfg.plan:
        return cfg, None
    cfg, plan = make_plan(cfg, data, limits, started, echo)
    for line in plan.lines():
        echo(line)
    echo(f"plan written to {write_plan(plan, plan_path(cfg, data))} (edit it and run it with --plan FILE)")
    return cfg, plan


def start_budget(session, plan: Plan | None, used_before_s: float, started: float) -> None:
    """Give the session its plan and, with a budget, the clock that started at `started` (monotonic) after
    `used_before_s` seconds of earlier sessions; the plan goes on the parent run (plan.json) and in the state file."""
    session.plan = plan
    live.register(session)
    if plan is None:
        return
    if not session.cfg.resume:
        tracking.log_text(session.client, session.ctx.parent_run_id, plan.to_json(), "plan.json")
    session.state["plan"] = asdict(plan)
    if plan.budget_s:
        session.budget = Budget(plan.budget_s, used_before_s)
        session.budget.started = started
    session.note_time()
    search_state.write_state(session.state_path, session.state)  # a resume keeps this plan, even one with no budget


def after_final_s(plan: Plan) -> float:
    """The plan's seconds after the final round: the test score and the take-home models (its fixed part less the setup
    already spent)."""
    return max(0.0, plan.predicted_s.get("setup", 0.0) - SETUP_S)


def reserve_seconds(plan: Plan) -> float:
    """What the budget keeps back from the Tune phase: the final round, the test score and the take-home models."""
    return plan.predicted_s.get("final", 0.0) + after_final_s(plan)


SEARCH_SLACK = 0.05  # the Tune phase may run this share over its planned time: past it the final round gets the rest (Kvasir
# at 60 minutes: ASHA stopped 3 of 8 trials, the phase ran on into the plan's margin to 1266 s against 950 planned, and the
# refit cut the final round 113 -> 93 epochs, where the plan's own evidence says the final training buys more than search).
# The phase ends a few seconds past the deadline (the cut trials' close): at 0.1 Kvasir's 10 minutes ran +16.3% and its
# 60 minutes +11.1% over the plan


def search_deadline_s(plan: Plan, budget: Budget, resumed: bool = False) -> float:
    """The second of the budget at which the Tune phase ends: its planned time and SEARCH_SLACK from now, or earlier
    where the final round and the test score would no longer fit (reserve_seconds); a resumed search, whose phase began
    in an earlier session, keeps only the latter."""
    fits = budget.total_s - reserve_seconds(plan)
    if resumed or "search" not in plan.predicted_s:
        return fits
    return min(fits, budget.used_s + (1 + SEARCH_SLACK) * plan.predicted_s["search"])


FINAL_SAFETY = 0.95  # the final round fills this share of the time left: the rest absorbs its epochs' spread
MAX_STRETCH = 3  # the final round trains at most this many times its planned epochs where the search measured faster epochs


def _every_skip(config: dict, depth: int) -> bool:
    """Whether a trial's config is the net of `depth` with every skip connection (the default U-Net's): its skip bits
    s1..sn all on, or its `skips` all ones; a config that names no skips (a supernet's) is not."""
    if config.get("skips") is not None:
        return str(config["skips"]) == "1" * depth
    bits = [config.get(f"s{i}") for i in range(1, depth + 1)]
    return all(b is not None and bool(b) for b in bits)


def _with_start(result) -> float | None:
    """A trial's wall seconds an epoch, its start counted in (Tune's time_total_s over its reports); None under two reports."""
    m = getattr(result, "metrics", None) or {}
    iterations, total = m.get("training_iteration"), m.get("time_total_s")
    return total / iterations if iterations and iterations >= 2 and total else None


def measured_epoch_s(results, depth: int, measure: Callable[[Any], float | None] = _with_start) -> float | None:
    """The wall seconds an epoch of the final round's slowest training, the default U-Net (`depth`, every skip), took in
    the search: the median of its trials, else the slowest trial of that depth (a skip dropped only saves time: Kvasir's
    60-min search timed its median depth-4 trial at 22.8 s an epoch and the every-skip default at 25.4 s); by `measure`
    (default: their start counted in); None where none of that depth reported two epochs or more (a resumed trial's one
    report is no measure)."""
    times, every = [], []
    for r in results or ():
        config, seconds = getattr(r, "config", None) or {}, measure(r)
        if seconds and config.get("depth") == depth:
            times.append(seconds)
            if _every_skip(config, depth):
                every.append(seconds)
    if every:
        return statistics.median(every)
    return max(times) if times else None


def _waves(session, parallel: int) -> int:
    """Rounds of the final round's trainings at `parallel` at a time."""
    return math.ceil(session.cfg.final_trials / max(1, parallel))


def final_epochs_left(session, epoch_s: float, stretch: bool, parallel: int) -> int:
    """The final round's epochs that fit the time left at `epoch_s` seconds an epoch, `parallel` trainings at a time:
    at most MAX_STRETCH times its plan's where `stretch`, else at most its plan's."""
    cfg, plan, budget = session.cfg, session.plan, session.budget
    waves = _waves(session, parallel)
    left = FINAL_SAFETY * (budget.left_s - after_final_s(plan) - PHASE_S)
    return min((MAX_STRETCH if stretch else 1) * cfg.final_epochs, int((left / waves - TRIAL_S - plan.closing_s) // max(epoch_s, 1e-9)))


def final_time_limit_s(session, parallel: int) -> float:
    """Seconds each final-round training's epochs may take (the trainer's backstop, unet_core.TrainConfig.time_limit_s):
    its wave's share of what is left before the test score and the take-home models (and the round's own start and
    stop, PHASE_S), less its start and its closing validation. Kvasir at 60 minutes: the final round's epochs ran 26%
    slower than the search measured them for 20 minutes (both trainings at once) and the search would have ended at
    1.13 B."""
    plan, budget = session.plan, session.budget
    left = budget.left_s - after_final_s(plan) - PHASE_S
    return max(1.0, left / _waves(session, parallel) - TRIAL_S - plan.closing_s)


def trial_epoch_s(result) -> float | None:
    """The wall seconds of a search trial's last epoch, its training and validation (the trainer's epoch_time_s), without
    its start: a 4-epoch trial's start is a fifth of its time, and would bring every trial's epoch near the others'; None
    under two reports or with saliency rounds (whose epochs are not one length)."""
    m, config = getattr(result, "metrics", None) or {}, getattr(result, "config", None) or {}
    if _with_start(result) is None or config.get("saliency_iterations"):
        return None
    return m.get("epoch_time_s")


def own_final_epochs(session, results, parallel: int) -> dict[str, int]:
    """{search trial id: epochs} for the trials whose own configuration, trained at the final round, takes more epochs
    than the round's (cfg.final_epochs, the default U-Net's) in the same time: the round's epochs scaled by the default
    U-Net's measured epoch over the trial's own (each by trial_epoch_s: without their start), within the time left.
    Where the final round runs in one wave, a finalist faster than the default U-Net then trains until the round's end
    instead of leaving its core idle (Kvasir at 60 minutes: a depth-3 finalist ended 9 of the round's 42 minutes before
    the default; DRIVE at 30: 7.5 of 22). At most MAX_STRETCH times the round's; none without a measure of the default
    (its epochs are then not comparable) or for a plans file (the user's epochs stand)."""
    cfg = session.cfg
    one_recipe = getattr(session.space, "fixed_recipe", False)
    default_s = measured_epoch_s(results, min(session.plan.depth, DEFAULT_DEPTH), trial_epoch_s) if one_recipe else None
    if session.budget is None or cfg.plan or not default_s or cfg.final_trials > parallel:
        return {}
    own = {}
    for r in results or ():
        trial, epoch_s = (getattr(r, "metrics", None) or {}).get("trial_id"), trial_epoch_s(r)
        if trial and epoch_s:
            epochs = min(int(cfg.final_epochs * default_s / epoch_s), final_epochs_left(session, epoch_s, stretch=True, parallel=parallel))
            if epochs > cfg.final_epochs:
                own[trial] = epochs
    return own


def keep_the_budget(session, results=None, parallel: int | None = None) -> float | None:
    """Before the final round of a budgeted search: fit it to the time left at the epoch time the search measured where
    faster than planned (else the plan's): longer where epochs ran faster than planned, shorter where the search ran long,
    skipped where not one epoch fits; each training's epochs then end within its share of the time left, however they
    run (final_time_limit_s). The measure (the default U-Net's epoch: measured_epoch_s) counts only where every
    trial trains the fixed recipe (arch), and a plans file's final round is never made longer (the user's edit stands).
    `parallel`: trainings the cluster runs at once now (at most the plan's; fewer where a node was lost).
    Returns the final round's predicted seconds as fitted (None: no budget or no final round)."""
    if session.budget is None or not session.cfg.rerank_k:
        return None
    one_recipe = getattr(session.space, "fixed_recipe", False)
    measured = measured_epoch_s(results, min(session.plan.depth, DEFAULT_DEPTH)) if one_recipe else None
    # a slower measure fits no fewer epochs: the trainings' time limit ends them where their time does, and a machine
    # loaded for a while in the search (Kvasir at 60 minutes: 34.7-s epochs measured, 24.1 planned, ~26 in the final
    # round) no longer cuts a round for good (64 epochs where 88 fitted; the search ended 11 minutes early)
    epoch_s = session.plan.epoch_s if measured is None else min(measured, session.plan.epoch_s)
    parallel = min(session.plan.parallel, parallel or session.plan.parallel)
    session.final_time_limit_s = final_time_limit_s(session, parallel)
    epochs = final_epochs_left(session, epoch_s, stretch=measured is not None and not session.cfg.plan, parallel=parallel)
    planned_epochs = session.cfg.final_epochs
    if epochs < 1 or final_epochs_left(session, max(measured or 0.0, epoch_s), stretch=False, parallel=parallel) < 1:
        session.echo(f"budget: {session.budget.line()} used; no final-round epoch fits what is left: the search's best is the choice")
        session.cfg = replace(session.cfg, rerank_top=0)
        return 0.0
    fitted_s = _waves(session, parallel) * (epochs * epoch_s + TRIAL_S + session.plan.closing_s) + PHASE_S
    if measured is not None and measured > epoch_s:
        session.echo(f"budget: the search measured {measured:.1f}-s epochs ({epoch_s:.1f} s planned): each final training ends where "
                     f"its share of the time left ({duration(session.final_time_limit_s)}) does")
    if epochs != planned_epochs:
        why = (f"{epoch_s:.1f}-s epochs measured in the search, {session.plan.epoch_s:.1f} s planned" if measured is not None and measured <= epoch_s
               else f"{session.plan.epoch_s:.1f}-s epochs as planned")
        session.echo(f"budget: {session.budget.line()} used; the final round trains {epochs} epochs instead of {planned_epochs} "
                     f"({why}) to end within {duration(session.budget.total_s)}")
        session.cfg = replace(session.cfg, final_budget=epochs)
    session.final_epochs_by_trial = own_final_epochs(session, results, parallel)
    return fitted_s


def record_phase_times(session, marks: list[float]) -> None:
    """Each phase's measured wall seconds on the parent run (time_setup_s, time_search_s, time_final_s, time_test_s and
    time_total_s, this session's), beside the plan's predictions, so a plan's accuracy can be read back."""
    started = session.budget.started if session.budget is not None else marks[0]
    setup, search, final, test = marks[0] - started, marks[1] - marks[0], marks[2] - marks[1], marks[3] - marks[2]
    times = {"time_setup_s": setup, "time_search_s": search, "time_final_s": final, "time_test_s": test, "time_total_s": marks[3] - started}
    tracking.log_metrics(session.client, session.ctx.parent_run_id, times, 0)
    if session.budget is not None:
        session.note_time()
        session.echo(f"budget: {session.budget.line()} used (predicted {session.plan.predicted_s.get('total', 0) / 60:.1f} min)")
