"""One plain line per finished, stopped or failed trial: counts, best so far, elapsed time and time left."""
from __future__ import annotations

import time
from typing import Callable

from ray.tune import Callback

from recipes.params import ends_at, planned_epochs

from . import live
from .tuner import trial_name

EPOCH_LINE_S = 60.0  # a line for a running trial's epoch at most this often (trial ends always print)


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    s = int(round(max(seconds, 0)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLines(Callback):
    """On the driver: after each trial ends, one line (no terminal control codes) such as

        [3:12] 7/30 trials done (2 stopped early, 0 failed), 2 running | best val Dice 0.7120 d3-s111-dice_bce-p64 | ~9:40 left

    The time left is the epochs still to run times the wall time per epoch so far; where ASHA may stop trials
    early it is an upper bound ("at most"). `total`: the trials the search will run; `epochs_per_trial`: the most
    epochs a trial reports; `early_stopping`: whether a scheduler may stop trials before that; `deadline_s`: the budget
    seconds at which the phase ends (search.driver.stopping.Deadline), which caps the time left.
    """

    def __init__(self, total: int, epochs_per_trial: int, early_stopping: bool, echo: Callable[[str], None] = print, metric: str = "val_dice",
                 search: str | None = None, every_s: float = EPOCH_LINE_S, clock: Callable[[], float] = time.monotonic,
                 deadline_s: float | None = None):
        self.total, self.epochs_per_trial, self.early_stopping, self.deadline_s = total, epochs_per_trial, early_stopping, deadline_s
        self.echo, self.metric, self.search, self.every_s, self.clock = echo, metric, search, every_s, clock
        self.start = clock()
        self.last_line = self.start
        self.best: tuple[float, str] | None = None
        self.epochs_done: dict[str, int] = {}  # trial id -> epochs reported in this session
        self.ended: dict[str, str] = {}  # trial id -> "done" | "stopped" | "failed"

    def __setstate__(self, state):  # Tuner.restore brings back the callbacks pickled with the search: time this session anew
        state.setdefault("search", None)
        state.setdefault("every_s", EPOCH_LINE_S)
        state.setdefault("clock", time.monotonic)
        state.setdefault("deadline_s", None)
        self.__dict__.update(state)
        self.start, self.epochs_done = self.clock(), {}
        self.last_line = self.start

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("restored"):  # a resumed trial replaying its finished state trained nothing now
            return
        self.epochs_done[trial.trial_id] = self.epochs_done.get(trial.trial_id, 0) + 1
        value = result.get(self.metric)
        if value is not None and (self.best is None or value > self.best[0]):
            self.best = (float(value), trial_name(trial))
        if self.clock() - self.last_line >= self.every_s:  # a running trial reports its epochs: no search is minutes of silence
            epoch = int(result.get("training_iteration", 0))
            score = f"val Dice {value:.4f}" if value is not None else "no validation Dice"
            self.say(f"{self.line(trials)} | {trial_name(trial)} epoch {epoch}/{ends_at(trial.config, result, self.epochs_per_trial)}: {score}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = trial.last_result or {}
        reported = int(last.get("training_iteration", 0))
        self.ended[trial.trial_id] = "stopped" if reported < ends_at(trial.config, last, self.epochs_per_trial) else "done"
        self.say(self.line(trials))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = "failed"
        self.say(self.line(trials))

    def say(self, line: str) -> None:
        """Print a line; with a budget, keep the time used in the search's state file."""
        self.last_line = self.clock()
        self.echo(line)
        live.note_time(self.search)

    def line(self, trials) -> str:
        """The progress line for the trials Tune knows now."""
        elapsed = self.clock() - self.start
        ended = [t for t in trials if self._ended(t)]  # Tune calls back before it sets the ending trial's status
        running = sum(t.status == "RUNNING" and not self._ended(t) for t in trials)
        stopped = sum(self.ended.get(t.trial_id) == "stopped" for t in ended)
        failed = sum(self.ended.get(t.trial_id) == "failed" or t.status == "ERROR" for t in ended)
        total = max(self.total, len(trials))
        best = f"best val Dice {self.best[0]:.4f} {self.best[1]}" if self.best else "no validation Dice yet"
        budget = live.budget_of(self.search)
        budget = f" | budget {budget.line()} used" if budget is not None else ""
        return (f"[{clock(elapsed)}] {len(ended)}/{total} trials done ({stopped} stopped early, {failed} failed), {running} running | {best} | "
                f"{self.eta(trials, total, elapsed)}{budget}")

    def _ended(self, trial) -> bool:
        return trial.trial_id in self.ended or trial.status in ("TERMINATED", "ERROR")

    def eta(self, trials, total: int, elapsed: float) -> str:
        """The estimated time left, from the wall time per epoch trained so far in this session."""
        trained = sum(self.epochs_done.values())
        if not trained:
            return "time left: after the first epochs"
        left = 0
        for t in trials:
            if not self._ended(t):
                left += max(planned_epochs(t.config, self.epochs_per_trial) - int((t.last_result or {}).get("training_iteration", 0)), 0)
        left += max(total - len(trials), 0) * self.epochs_per_trial
        seconds = left * elapsed / trained
        budget = live.budget_of(self.search)
        if self.deadline_s is not None and budget is not None and seconds > self.deadline_s - budget.used_s:
            return f"~{clock(self.deadline_s - budget.used_s)} left (the budget's deadline for this phase)"
        return f"at most ~{clock(seconds)} left" if self.early_stopping else f"~{clock(seconds)} left"
