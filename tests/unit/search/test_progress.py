"""The search's progress lines: counts, best so far and time left, as a user reads them in a log."""
from __future__ import annotations

import re
from types import SimpleNamespace

from search.driver.progress import ProgressLines, clock


def trial(tid: str, skips: str, status: str = "RUNNING", epochs: int = 0):
    return SimpleNamespace(trial_id=tid, status=status, config={"skips": skips, "patch_size": 64, "epochs": 4},
                           last_result={"training_iteration": epochs} if epochs else {})


def test_clock_reads_minutes_and_hours():
    assert clock(59.6) == "1:00"
    assert clock(3725) == "1:02:05"


def test_a_line_per_ended_trial_counts_best_and_time_left():
    lines: list[str] = []
    progress = ProgressLines(total=4, epochs_per_trial=4, early_stopping=True, echo=lines.append)
    a, b = trial("a", "11"), trial("b", "01")
    for epoch in range(1, 5):
        a.last_result = {"training_iteration": epoch}
        progress.on_trial_result(0, [a, b], a, {"val_dice": 0.5 + epoch / 100})
    b.last_result = {"training_iteration": 2}
    progress.on_trial_result(0, [a, b], b, {"val_dice": 0.7})
    progress.on_trial_result(0, [a, b], b, {"val_dice": 0.6})
    progress.on_trial_complete(0, [a, b], a)  # Tune calls back while a's status still reads RUNNING
    b.status = "TERMINATED"
    progress.on_trial_complete(0, [a, b], b)  # stopped by ASHA after 2 of 4 epochs
    first, second = lines
    assert "1/4 trials done (0 stopped early, 0 failed), 1 running" in first
    assert "2/4 trials done (1 stopped early, 0 failed), 0 running" in second
    assert "best val Dice 0.7000 d2-s01-dice_bce-p64" in second
    assert re.search(r"at most ~\d+:\d\d left", second)  # two trials of 4 epochs never started: an upper bound
    assert "\x1b" not in "".join(lines)  # plain text in a log file


def test_restored_results_do_not_count_as_training_and_failures_are_counted():
    lines: list[str] = []
    progress = ProgressLines(total=2, epochs_per_trial=4, early_stopping=False, echo=lines.append)
    a, b = trial("a", "11", epochs=4), trial("b", "10")
    progress.on_trial_result(0, [a, b], a, {"val_dice": 0.9, "restored": 1})
    progress.on_trial_error(0, [a, b], b)
    assert "1/2 trials done (0 stopped early, 1 failed)" in lines[0]
    assert "no validation Dice yet" in lines[0] and "time left: after the first epochs" in lines[0]


def test_a_budgeted_phase_never_promises_more_time_than_its_deadline_leaves(monkeypatch):
    from search.driver import live
    from search.plan import Budget

    now = [0.0]
    budget = Budget(3600, clock=lambda: now[0])
    budget.started = 0.0
    monkeypatch.setitem(live.LIVE, "s", SimpleNamespace(budget=budget, note_time=lambda: None))
    lines: list[str] = []
    progress = ProgressLines(total=20, epochs_per_trial=30, early_stopping=True, echo=lines.append, search="s", clock=lambda: now[0],
                             deadline_s=1800)
    a = trial("a", "11")
    now[0] = 60.0  # one epoch a minute: 20 trials of 30 epochs would be 10 hours
    a.last_result = {"training_iteration": 1}
    progress.on_trial_result(0, [a], a, {"val_dice": 0.5})
    assert "~29:00 left (the budget's deadline for this phase)" in progress.line([a])
    assert "budget 1m00s of 1h00m used" in progress.line([a])
