"""A tracking store whose disk fills up mid-search, on real processes: the search ends with one line and stays
resumable, the store is not corrupted, and `--resume` (once space is back) sends every trial's kept writes."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mlflow import MlflowClient
from tests.helpers.search import search_env


def _mount_small_disk(folder: Path, size: str) -> None:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a small filesystem cannot be mounted here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()[:200]}")


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:  # ENOSPC: the disk is full
            pass
    return filler


def _trials(uri: str, experiment: str) -> list:
    try:
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(experiment)
        return [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("unet.role") == "trial"] if exp else []
    except Exception:  # noqa: BLE001 - the store may not exist yet
        return []


@pytest.mark.slow
def test_a_full_disk_under_the_store_stops_the_search_in_one_line_and_resume_sends_every_kept_write(tmp_path):
    store = tmp_path / "store"
    _mount_small_disk(store, "24m")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "search.run", "--tracking-uri", uri, "--storage", str(tmp_path / "ray"), "--space", "ablation",
           "--depths", "2", "--max-epochs", "4", "--experiment", "full"]
    # the driver waits 5 s (not 300) for the store at the end, a finishing trial 2 s (not 60), a starting one 5 s (not 600)
    env = {**search_env(tmp_path), "UNET_SEARCH_TRACKING_WAIT_S": "5", "UNET_SEARCH_FINISH_WAIT_S": "2", "UNET_SEARCH_START_WAIT_S": "5"}
    try:
        search = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(r.info.status == "FINISHED" for r in _trials(uri, "full")):
            time.sleep(0.5)
        assert search.poll() is None, "the search ended before the disk filled"
        filler = _fill(store)
        before = len([r for r in _trials(uri, "full") if r.info.status == "FINISHED"])
        out, err = search.communicate(timeout=600)
        assert search.returncode == 1, err[-3000:]
        (line,) = err.strip().splitlines()
        # the driver's own wait runs out, or (when the disk fills as the next trials open their runs) theirs does first
        assert re.match(rf"error: (\d+ trials could not start: )?the tracking store {re.escape(uri)} did not take writes for 5 s "
                        r"\(down, full or read-only\)[.:]", line), line
        assert "Background on this error" not in line  # the store's own reason, not SQLAlchemy's link
        resume = line.split("continue with: ")[-1]
        assert resume == f"python -m search.run --resume --experiment full --storage {tmp_path / 'ray'} --tracking-uri {uri}"
        with sqlite3.connect(store / "mlflow.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)  # not corrupted by the failed writes

        filler.unlink()  # space is back
        resumed = subprocess.run([sys.executable, *resume.split()[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "trials: 4 finished" in resumed.stdout
        trials = _trials(uri, "full")
        assert Counter(r.info.status for r in trials) == {"FINISHED": 4}  # none lost, none trained twice
        assert len({r.data.tags["unet.trial_id"] for r in trials}) == 4
        client = MlflowClient(uri)
        for r in trials:  # every epoch's metrics arrived exactly once, and every trial's checkpoint
            steps = [m.step for m in client.get_metric_history(r.info.run_id, "val_dice")]
            assert sorted(steps) == list(range(1, int(r.data.metrics["epoch"]) + 1))
            assert "checkpoints/best.pt" in {a.path for a in client.list_artifacts(r.info.run_id, "checkpoints")}
        late = [r for r in trials if int(r.data.tags.get("unet.tracking_delayed", 0)) > 0]
        assert before < 4  # the disk filled mid-search
        # a trial that was training when the disk filled kept its writes, and --resume sent them; when every unfinished trial
        # was still opening its run (the 'could not start' line), none trained on a full disk and none had writes to keep
        assert late or "trials could not start" in line
        print(f"figures: {before} of 4 trials finished before the disk filled; after --resume 4 FINISHED runs, one per trial; "
              f"{len(late)} runs got {sum(int(r.data.tags['unet.tracking_delayed']) for r in late)} kept writes late")
    finally:
        subprocess.run(["umount", "-l", str(store)], capture_output=True)
