"""Run a search end to end: data, session, the strategy's Tune phase, its final round, the test score and the record."""
from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from search.config import SearchConfig
from search.errors import SearchInterrupted, SearchStopped, TrackingUnavailable, find_cause
from search.tracking import client as tracking

from .cluster import parallel_trials
from .data import prepared, space_limits
from .interrupt import fit_watching_ctrl_c
from .models import keep_models
from .tools import TOOLS
from .results import SearchOutcome, ended_count, evaluate_best, final_attempts, record_outcome, trials_table
from .session import SearchSession, open_session
from .state import resumed_config, resumed_plan
from .budgeting import keep_the_budget, planned, record_phase_times, search_deadline_s, start_budget
from .tuner import restored_tuner, trainable, tuner


def say(line: str) -> None:
    """Print a line at once (progress reaches a log file or pipe as it happens, not at exit)."""
    print(line, flush=True)


def _fit(session: SearchSession, total: int, callbacks: tuple):
    """The strategy's Tune phase, fitted (restored when resumed); a Ray failure under it is SearchStopped, resumable."""
    from search.tracking.callbacks import CloseTrialRuns  # deferred: imports Ray's Callback

    from ray.tune.stopper import CombinedStopper  # deferred: Ray loads after quiet_libraries

    from .progress import ProgressLines  # deferred: imports Ray's Callback
    from .stopping import Deadline, StopAtDice  # deferred: imports Ray's Stopper
    from .filling import filled  # deferred: imports Ray's Searcher

    cfg, ctx, space, strategy = session.cfg, session.ctx, session.space, session.strategy
    if not cfg.resume:
        session.echo(strategy.start_line(cfg, space, session.search_name, total, parallel_trials(cfg)))
    deadline = search_deadline_s(session.plan, session.budget, cfg.resume) if session.budget is not None else None
    progress = ProgressLines(total, space.max_trial_epochs(cfg), early_stopping=strategy.early_stopping(space), echo=session.echo,
                             search=session.search_name, deadline_s=deadline)
    closer = CloseTrialRuns(ctx.tracking_uri, ctx.experiment_id, ctx.parent_run_id, session.outbox_dir)
    param_space, config = strategy.phase(cfg, space, session.limits, TOOLS)
    if not cfg.resume and space.sampled:  # a budget's trials fill the phase's planned time (a resumed phase keeps its own)
        config = filled(config, session, parallel_trials(cfg), deadline)
    stoppers = [StopAtDice(cfg.stop_at)] if cfg.stop_at is not None else []
    if deadline is not None:  # the Tune phase ends near its planned time, and always where the final round and the test still fit
        stoppers.append(Deadline(session.search_name, deadline))
    stop = CombinedStopper(*stoppers) if len(stoppers) > 1 else (stoppers[0] if stoppers else None)
    phase_trainable = trainable(cfg, session.data, ctx, strategy.function())
    phase = tuner(cfg, session.search_name, phase_trainable, param_space, config, [closer, progress, *callbacks], stop)
    if cfg.resume:  # what the last session's trials could not send
        session.send_kept_writes()
    results = _fitted(session, phase)
    lost = _lost_to_retrain(session, results, total)
    if lost:  # once, not in a loop: Ray's memory monitor killing one trial's process again and again must end the search
        session.echo(f"{len(lost)} trial(s) lost their process or node where Ray does not retry (e.g. a reused process on a node "
                     "that died): training them again")
        results = _fitted(session, restored_tuner(cfg.storage_path / session.search_name, phase_trainable, errored="resume"))
    session.send_kept_writes()
    return results, closer


def lost_trials(results) -> list:
    """The results of trials that errored because their Ray actor died (a process or node lost), not by their own error
    (which ends a trial normally, with a FAILED run) nor because the tracking store took no writes."""
    from ray.exceptions import RayActorError  # deferred: Ray loads after quiet_libraries

    return [r for r in results if r.error is not None and find_cause(r.error, TrackingUnavailable) is None
            and find_cause(r.error, RayActorError) is not None]


def _lost_to_retrain(session: SearchSession, results, total: int) -> list:
    """The lost trials (lost_trials) to train again: none unless every errored trial is one, Tune created and ended every
    trial, every other trial's last run FINISHED or FAILED (Ctrl-C leaves runs RUNNING, or none opened, while Tune marks
    the trials TERMINATED all the same), and neither --stop-at nor the deadline ended the phase."""
    lost = lost_trials(results)
    if not lost or not session.cfg.max_failures or len(lost) != results.num_errors or len(results) < total:
        return []
    if session.deadline_reached or results.num_terminated + results.num_errors != len(results):  # a trial left PENDING
        return []
    table = trials_table(session.client, session.ctx.experiment_id, session.ctx.parent_run_id, role=session.strategy.role)
    if _stop_at_reached(session.cfg, table):
        return []
    last = final_attempts(table)
    ended = set(last.trial_id[last.status.isin(["FINISHED", "FAILED"])]) if not table.empty else set()
    if any((r.metrics or {}).get("trial_id") not in ended for r in results if r.error is None):  # a run cut short, or none opened
        return []
    return lost


def _stop_at_reached(cfg: SearchConfig, table: pd.DataFrame) -> bool:
    """--stop-at ended the phase: a trial reached its validation Dice."""
    return cfg.stop_at is not None and not table.empty and bool((table.best_val_dice >= cfg.stop_at).any())


def _fitted(session: SearchSession, phase):
    """`phase` fitted; a Ray failure under it is SearchStopped, resumable; Ctrl-C or SIGTERM under it marks the session
    (session.ctrl_c)."""
    ctx = session.ctx
    try:
        results, stopped = fit_watching_ctrl_c(phase.fit)
    except Exception as exc:  # noqa: BLE001 - Ray failing under the search (e.g. its memory monitor killed a trial's process)
        done = ended_count(trials_table(session.client, ctx.experiment_id, ctx.parent_run_id))
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300].rstrip(".")
        raise SearchStopped(f"the search stopped: {cause}. Its {done} finished trials are kept; continue with: {session.resume}") from None
    session.ctrl_c = session.ctrl_c or stopped
    return results


def _check_opened(session: SearchSession, results) -> None:
    """SearchStopped when trials could not open their runs (the tracking store took no writes): they never trained."""
    unopened = [cause for r in results if (cause := find_cause(r.error, TrackingUnavailable)) is not None]
    if unopened:
        raise SearchStopped(f"{len(unopened)} trials could not start: {str(unopened[0]).strip().rstrip('.')}. Finished trials are kept; once the "
                            f"store takes writes again (a server back, space freed, write access), continue with: {session.resume}")


def _check_all_ended(session: SearchSession, table: pd.DataFrame, total: int) -> None:
    """SearchInterrupted when Ctrl-C or SIGTERM stopped the phase, or trials are left unended where neither --stop-at
    nor the budget's deadline ended it."""
    reached = _stop_at_reached(session.cfg, table)  # --stop-at ended it early
    reached = reached or session.deadline_reached  # the budget's deadline ended it (marked by the stopper Tune used, restored or not)
    ended = ended_count(table)
    if session.ctrl_c or (ended < total and not reached):  # Tune returns normally after Ctrl-C, with trials cut short or never started
        done = f"{ended} of {total}" if ended < total else f"{ended} (the plan's {total} and more its time had room for)"
        raise SearchInterrupted(f"interrupted: {done} trials done, the rest marked KILLED or not started. Continue with: {session.resume}")


def _search(session: SearchSession, callbacks: tuple) -> SearchOutcome:
    """The search's phases on an open session: the outcome, recorded on its parent run."""
    cfg, ctx = session.cfg, session.ctx
    total = session.strategy.trial_count(cfg, session.space, session.limits)
    marks = [time.monotonic()]
    results, closer = _fit(session, total, callbacks)
    _check_opened(session, results)
    if not session.ctrl_c:  # trials that ended while the store was unreachable (not those Ctrl-C cut: KILLED, trained again on --resume)
        closer.settle(results)
    table = trials_table(session.client, ctx.experiment_id, ctx.parent_run_id, role=session.strategy.role)
    _check_all_ended(session, table, total)
    fitted_final_s = keep_the_budget(session, results, parallel_trials(cfg))  # the cluster as it is now (a node may be gone)
    if fitted_final_s is not None:  # the final round's prediction as fitted to the time left, beside the plan's (plan.json)
        tracking.log_metrics(session.client, ctx.parent_run_id, {"plan_final_fitted_s": fitted_final_s}, 0)
    marks.append(time.monotonic())
    final, estimates = session.strategy.finish(session, results, table, TOOLS)
    marks.append(time.monotonic())
    folds = final is not None and not final.empty and "chosen" in final and bool(final.chosen.any())  # the choice's fold runs
    pool = table if final is None or final.empty else final[final.chosen] if folds else final
    best, test_metrics = evaluate_best(session.client, pool, session.data, folds=folds)
    outcome = SearchOutcome(ctx.experiment_id, ctx.parent_run_id, ctx.tracking_uri, str(cfg.storage_path / session.search_name), table, final=final,
                            final_epochs=session.cfg.final_epochs if final is not None else None, estimates=estimates)  # as fitted
    record_outcome(session.client, outcome, best, test_metrics)
    keep_models(session, outcome, best, test_metrics)
    marks.append(time.monotonic())
    record_phase_times(session, marks)
    return outcome


def run_search(cfg: SearchConfig, echo: Callable[[str], None] = say, callbacks: tuple = ()) -> SearchOutcome:
    """Run (or resume) a search end to end and return where its results are; `callbacks`: extra Tune callbacks (e.g. to record every result)."""
    started, kept, used = time.monotonic(), None, 0.0
    if cfg.resume:
        cfg = resumed_config(cfg)
        kept, used = resumed_plan(cfg)
    cfg, data, limits = prepared(cfg)
    cfg, plan = planned(cfg, data, limits, kept, echo, started)
    limits = space_limits(cfg, data) if cfg.image_side else limits  # what the working resolution allows
    session = open_session(cfg, data, limits, echo)
    start_budget(session, plan, used, started)
    try:
        outcome = _search(session, callbacks)
    except BaseException:
        session.kill_unfinished()
        raise
    session.finish()
    return outcome

