"""A failing trial is recorded and the search goes on; a killed search resumes without duplicates."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.helpers.search import runs, search_cmd, search_env

FAILING = """
import sys
from search.config import SearchConfig
from search.driver.search import run_search
cfg = SearchConfig(num_samples=3, max_epochs=2, experiment="fail", tracking_uri=sys.argv[1], storage=sys.argv[2],
                   points_to_evaluate=[{"depth": 2, "s1": 1, "s2": 0, "patch_size": 34, "loss": "dice", "lr": 5e-3}])
out = run_search(cfg)
print("BEST", out.best_run_name)
"""


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_search_completes(tmp_path):
    proc = subprocess.run([sys.executable, "-c", FAILING, f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "ray")],
                          cwd=tmp_path, env=search_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BEST d" in proc.stdout
    _, parents, children = runs(tmp_path, "fail")
    assert parents[0].info.status == "FINISHED"
    failed = [r for r in children if r.info.status == "FAILED"]
    assert len(failed) == 1 and "patch size 34 cannot be halved 2 times" in failed[0].data.tags["unet.error"]
    assert sum(r.info.status == "FINISHED" for r in children) == 2


@pytest.mark.slow
def test_a_killed_search_resumes_without_rerunning_or_duplicating_trials(tmp_path):
    args = ("--num-samples", "4", "--max-epochs", "4", "--experiment", "resume")
    driver = subprocess.Popen(search_cmd(tmp_path, *args), cwd=tmp_path, env=search_env(tmp_path),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    finished_before = set()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if (tmp_path / "mlflow.db").exists():
            try:
                _, _, children = runs(tmp_path, "resume")
            except Exception:  # noqa: BLE001 - the store may be mid-creation
                continue
            finished_before = {r.data.tags["unet.trial_id"] for r in children if r.info.status == "FINISHED"}
            if len(finished_before) >= 2:
                break
    assert len(finished_before) >= 2, "the search did not get far enough to be killed mid-run"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait(timeout=30)
    time.sleep(2)

    proc = subprocess.run(search_cmd(tmp_path, *args, "--resume"), cwd=tmp_path, env=search_env(tmp_path),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming search" in proc.stdout
    _, parents, children = runs(tmp_path, "resume")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    finished = Counter(r.data.tags["unet.trial_id"] for r in children if r.info.status == "FINISHED")
    assert len(finished) == 4 and set(finished.values()) == {1}  # every trial once, none twice
    for trial_id in finished_before:  # finished before the crash: not re-run
        assert sum(r.data.tags["unet.trial_id"] == trial_id for r in children) == 1
    for r in children:
        if r.info.status == "FAILED":  # the attempts the crash cut short, marked, not left RUNNING
            assert "attempt lost" in r.data.tags["unet.error"]
    assert not [r for r in children if r.info.status == "RUNNING"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "timeout-sigterm"])
def test_ctrl_c_stops_in_seconds_marks_runs_killed_and_resume_finishes_exactly_the_missing_trials(tmp_path, how):
    experiment = f"stop-{how}"
    args = ("--num-samples", "4", "--max-epochs", "4", "--experiment", experiment)
    log = tmp_path / "out.txt"
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group. `timeout` (and a batch scheduler's stop): SIGTERM
    # to the search and to timeout's whole process group, which holds the search's Ray processes unless it moved them out
    wrap = ["timeout", "--preserve-status", "-s", "TERM", "3600"] if how == "timeout-sigterm" else []
    with open(log, "w") as out:
        driver = subprocess.Popen(wrap + search_cmd(tmp_path, *args), cwd=tmp_path, env=search_env(tmp_path), stdout=out,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "1/4 trials done" not in log.read_text():
            time.sleep(0.5)
        assert "1/4 trials done" in log.read_text(), "the search did not get far enough to be interrupted"
        if how == "ctrl-c":
            os.killpg(driver.pid, signal.SIGINT)
        else:
            driver.send_signal(signal.SIGTERM)  # timeout passes it on, as when its time runs out
        _, err = driver.communicate(timeout=30)  # stops within 30 s, or the test fails on the timeout
    assert driver.returncode == 130, err[-3000:]
    assert "interrupted:" in err and f"python -m search.run --resume --experiment {experiment}" in err
    assert "Traceback" not in err and "SIGTERM received" not in err and "Failed to connect to GCS" not in err, err[-3000:]
    assert "trials: " not in log.read_text()  # no summary that reads like a finished search
    _, parents, children = runs(tmp_path, experiment)
    assert [p.info.status for p in parents] == ["KILLED"]
    assert not [r for r in children if r.info.status == "RUNNING"]
    finished_before = {r.data.tags["unet.trial_id"] for r in children if r.info.status == "FINISHED"}
    assert finished_before and len(finished_before) < 4

    proc = subprocess.run(search_cmd(tmp_path, *args, "--resume"), cwd=tmp_path, env=search_env(tmp_path),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming search" in proc.stdout and "trials: 4 finished" in proc.stdout
    _, parents, children = runs(tmp_path, experiment)
    assert [p.info.status for p in parents] == ["FINISHED"]
    finished = Counter(r.data.tags["unet.trial_id"] for r in children if r.info.status == "FINISHED")
    assert len(finished) == 4 and set(finished.values()) == {1}  # every trial once, none twice
    for trial_id in finished_before:  # done before Ctrl-C: not trained again
        assert sum(r.data.tags["unet.trial_id"] == trial_id for r in children) == 1
    assert not [r for r in children if r.info.status == "RUNNING"]


@pytest.mark.slow
def test_two_searches_at_once_on_one_experiment_and_sqlite_store_keep_their_own_trials(tmp_path):
    import sqlite3

    procs = [subprocess.Popen(search_cmd(tmp_path, "--smoke-test", "--experiment", "shared", "--seed", str(seed)), cwd=tmp_path,
                              env=search_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (0, 1)]
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "trials: 2 finished" in out
    _, parents, children = runs(tmp_path, "shared")
    assert len(parents) == 2 and {p.info.status for p in parents} == {"FINISHED"}
    per_parent = Counter(r.data.tags["mlflow.parentRunId"] for r in children if r.info.status == "FINISHED")
    assert per_parent == {p.info.run_id: 2 for p in parents}  # each search its own two trials, none crossed or lost
    assert len({r.data.tags["unet.trial_id"] for r in children}) == 4
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


RAY_FAILS = """
import sys
import search.driver.search as driver
from search.run import main

class Dies:
    def fit(self):
        raise RuntimeError("Caught unexpected exception: 1 worker(s) were killed due to the node running low on memory.\\nTop 10 memory users: ...")

driver.tuner = lambda *a, **k: Dies()
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # a real process
def test_ray_failing_under_the_search_is_one_line_exit_1_and_resumable(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RAY_FAILS, *search_cmd(tmp_path, "--experiment", "dies")[3:]], cwd=tmp_path,
                          env=search_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    # (this harness imports Ray before the CLI could configure it, so Ray's token notice may precede the line)
    (line,) = [ln for ln in proc.stderr.strip().splitlines() if "authentication_token_setup" not in ln]
    assert line.startswith("error: the search stopped: Caught unexpected exception: 1 worker(s) were killed due to the node running low on memory. ")
    assert "continue with: python -m search.run --resume --experiment dies" in line and "Traceback" not in proc.stderr
    _, parents, _ = runs(tmp_path, "dies")
    assert [p.info.status for p in parents] == ["KILLED"]
    (state,) = (tmp_path / "ray" / "dies").glob("*.search.json")
    assert '"status": "running"' in state.read_text()  # --resume finds it


DIES_TWICE = """
import os, pathlib, sys
import search.driver.search as driver
from search.config import SearchConfig
from search.driver.search import run_search

MARK, LR = pathlib.Path(sys.argv[3]), 0.00511

def wrap(function):
    def dying(config, **kw):  # the chosen trial's process dies on its first two attempts, as on a lost node
        if abs(config.get("lr", 0) - LR) < 1e-9:
            n = int(MARK.read_text()) if MARK.exists() else 0
            if n < 2:
                MARK.write_text(str(n + 1))
                os._exit(1)
        return function(config, **kw)
    return dying

real = driver.trainable
driver.trainable = lambda cfg, data, ctx, function: real(cfg, data, ctx, wrap(function))
cfg = SearchConfig(num_samples=3, max_epochs=2, experiment="lost", tracking_uri=sys.argv[1], storage=sys.argv[2], max_failures=1,
                   points_to_evaluate=[{"depth": 1, "s1": 1, "patch_size": 32, "loss": "dice", "lr": LR}])
out = run_search(cfg)
print("BEST", out.best_run_name)
"""


@pytest.mark.slow  # real processes
def test_a_trial_ray_gave_up_on_after_its_process_died_is_trained_again_and_the_search_completes(tmp_path):
    mark = tmp_path / "deaths"
    proc = subprocess.run([sys.executable, "-c", DIES_TWICE, f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "ray"), str(mark)],
                          cwd=tmp_path, env=search_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert mark.read_text() == "2"  # Tune retried once (--max-failures 1), then gave up on the trial
    assert "1 trial(s) lost their process or node where Ray does not retry" in proc.stdout
    _, parents, children = runs(tmp_path, "lost")
    assert parents[0].info.status == "FINISHED"
    finished = Counter(r.data.tags["unet.trial_id"] for r in children if r.info.status == "FINISHED")
    assert len(finished) == 3 and set(finished.values()) == {1}


def _used(text: str) -> list[float]:
    """The budget's used seconds on each progress or budget line of a search's output ("budget 1m05s of 4m00s used")."""
    import re

    return [int(m or 0) * 60 + int(s) for m, s in re.findall(r"budget:? (?:(\d+)m)?(\d+)s of \d+m\d+s used", text)]


@pytest.mark.slow
def test_an_interrupted_budgeted_search_resumes_with_its_plan_and_the_time_it_had_left(tmp_path):
    import json

    # 4 minutes: 8 trials, a search phase long enough that the Ctrl-C after the first trial lands inside it (at 2 minutes
    # the plan holds 3 short trials, and a Ctrl-C as the phase's deadline passes reads as the deadline)
    args = ("--space", "arch", "--budget", "4m", "--experiment", "budgeted")
    log = tmp_path / "out.txt"
    with open(log, "w") as out:
        driver = subprocess.Popen(search_cmd(tmp_path, *args), cwd=tmp_path, env=search_env(tmp_path), stdout=out,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and " trials done (" not in log.read_text():
            time.sleep(0.5)
        assert " trials done (" in log.read_text(), "the search did not get far enough to be interrupted"
        os.killpg(driver.pid, signal.SIGINT)
        _, err = driver.communicate(timeout=30)
    first = log.read_text()
    assert driver.returncode == 130 and "interrupted:" in err, err[-3000:]
    assert any(line.startswith("plan: ") for line in first.splitlines())
    state = json.loads(next((tmp_path / "ray").rglob("*.search.json")).read_text())
    used_before = state["budget_used_s"]
    assert 0 < used_before < 240 and state["plan"]["budget_s"] == 240
    time.sleep(15)  # the machine stands still between the sessions: that time is not the search's (the bound below would catch it)

    start = time.monotonic()
    proc = subprocess.run(search_cmd(tmp_path, *args, "--resume"), cwd=tmp_path, env=search_env(tmp_path),
                          capture_output=True, text=True, timeout=400)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming search" in proc.stdout and "plan: " not in proc.stdout  # the plan it started with, not a new one
    used = _used(proc.stdout)
    assert used, proc.stdout[-2000:]
    # the clock went on from the time used before (not from zero, and not counting the 15 s between the sessions): the last
    # line's total is that time plus this session's, less the process start and imports before the session's clock starts
    assert used_before + wall - 20 <= used[-1] <= used_before + wall + 2, (used_before, wall, used[-1])
    assert used[-1] <= 1.1 * 240 + 15, proc.stdout[-2000:]  # ended within the budget
    _, parents, _ = runs(tmp_path, "budgeted")
    assert [p.info.status for p in parents] == ["FINISHED"]  # one search: the first session's parent run, finished
    assert json.loads(next((tmp_path / "ray").rglob("*.search.json")).read_text())["plan"] == state["plan"]
