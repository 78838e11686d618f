"""A trial's MLflow writes that outlive a tracking outage: what the store does not take is kept on disk, in order,
and sent once it answers again (by the trial itself, or by the search's driver after Tune ends).

One outbox per trial run: `<folder>/<run_id>.jsonl` (one write per line) and `<folder>/<run_id>/` (files waiting
to be uploaded as artifacts). The folder lies in the search's Tune storage, which every node of a cluster shares.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException

from search.errors import TrackingUnavailable
from search.tracking import client as tracking
from search.tracking.schema import DELAYED_TAG, REFUSED_TAG

# errors that say the write itself is wrong; retrying them later would fail the same way
PERMANENT_CODES = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST", "INVALID_STATE",
                   "PERMISSION_DENIED", "UNAUTHENTICATED"}

# a trial's client gives up on an unreachable server in seconds (MLflow's default retries block for minutes), keeps the
# write in its outbox and goes on training
TRIAL_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def fail_fast_client_env() -> None:
    """Make this process's MLflow HTTP calls give up in seconds (a trial process: its outbox keeps what failed)."""
    os.environ.update(TRIAL_CLIENT_ENV)


def failing_fast():
    """MLflow HTTP calls inside give up in seconds (the driver's Tune callbacks: a stalled driver stalls every trial)."""
    return tracking.environment(TRIAL_CLIENT_ENV)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed later (server down, store full or read-only, a timeout), not a bad write."""
    if isinstance(exc, tracking.TrackingError):
        return True
    if isinstance(exc, MlflowException):
        return exc.error_code not in PERMANENT_CODES
    return isinstance(exc, (OSError, ConnectionError, TimeoutError)) or type(exc).__module__.split(".")[0] in {"requests", "urllib3", "sqlalchemy", "sqlite3"}


class Outbox:
    """The writes of one trial run, sent in order; a write the store does not take waits on disk with the ones after it."""

    def __init__(self, client, run_id: str, folder: str | Path, quiet_s: float = 5.0):
        self.client, self.run_id = client, run_id
        self.path = Path(folder) / f"{run_id}.jsonl"
        self.files = Path(folder) / run_id
        self.delivered_late = 0
        self.quiet_s = quiet_s  # after a failed write, later ones are kept without trying the store for this long
        self._failed_at = -math.inf
        self.refused: list[str] = []  # kept writes the store refused when they were sent late

    # -- the writes a trial makes ------------------------------------------------------------------------------
    def metrics(self, metrics: dict[str, float], step: int) -> bool:
        """Log one step's finite numeric metrics (stamped now, not when they arrive)."""
        finite = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}
        return self.send({"kind": "metrics", "metrics": finite, "step": step, "timestamp": int(time.time() * 1000)}) if finite else True

    def params(self, params: dict[str, Any]) -> bool:
        """Log params."""
        return self.send({"kind": "params", "params": {k: tracking._param_value(v) for k, v in params.items()}})

    def tags(self, tags: dict[str, str]) -> bool:
        """Set tags."""
        return self.send({"kind": "tags", "tags": {k: str(v) for k, v in tags.items()}})

    def file(self, local_path: str | Path, artifact_dir: str | None = None) -> bool:
        """Upload a file as an artifact (a copy waits in the outbox if the store does not take it)."""
        return self.send({"kind": "file", "path": str(local_path), "dir": artifact_dir})

    def dataset(self, name: str, source: str, digest: str) -> bool:
        """Record the run's input dataset."""
        return self.send({"kind": "dataset", "name": name, "source": source, "digest": digest})

    def end(self, status: str, tags: dict[str, str] | None = None) -> bool:
        """Set the run's final status (with tags)."""
        return self.send({"kind": "end", "status": status, "tags": {k: str(v) for k, v in (tags or {}).items()}})

    # -- sending and keeping -------------------------------------------------------------------------------
    def pending(self) -> int:
        """How many writes wait on disk."""
        return len(self._read()) if self.path.is_file() else 0

    def send(self, write: dict[str, Any]) -> bool:
        """Send `write` after the ones waiting; True if it reached the store, False if it waits on disk."""
        if time.monotonic() - self._failed_at < self.quiet_s or (self.path.is_file() and not self.flush()):
            self._keep(write)
            return False
        try:
            self._apply(write)
            return True
        except Exception as exc:  # noqa: BLE001 - sorted into transient (keep) and permanent (raise) below
            if not is_transient(exc):
                raise
            self._failed_at = time.monotonic()
            self._keep(write)
            return False

    def flush(self) -> bool:
        """Send every waiting write, in order; True when none is left."""
        if not self.path.is_file():
            return True
        self._failed_at = -math.inf
        waiting = self._read()
        for i, write in enumerate(waiting):
            try:
                self._apply(write)
            except Exception as exc:  # noqa: BLE001
                if not is_transient(exc):  # the store refuses this write for good (e.g. it did arrive before the outage): skip it
                    self.refused.append(f"{write['kind']}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")
                    continue
                self._failed_at = time.monotonic()
                self._rewrite(waiting[i:])
                return False
            self.delivered_late += 1
        self.path.unlink()
        shutil.rmtree(self.files, ignore_errors=True)
        self._note_delay()
        return True

    def drain(self, wait_s: float, every_s: float = 5.0) -> bool:
        """Flush, retrying for up to `wait_s` seconds; True when nothing is left waiting."""
        deadline = time.monotonic() + wait_s
        while not self.flush():
            if time.monotonic() >= deadline:
                return False
            time.sleep(every_s)
        return True

    def _note_delay(self) -> None:
        tags = {DELAYED_TAG: str(self.delivered_late)} if self.delivered_late else {}
        if self.refused:
            tags[REFUSED_TAG] = "; ".join(self.refused)[:5000]
        if tags:
            try:
                self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            except Exception:  # noqa: BLE001 - only a note; the writes themselves arrived
                pass

    def _apply(self, write: dict[str, Any]) -> None:
        kind, client, run_id = write["kind"], self.client, self.run_id
        if kind == "metrics":
            batch = [Metric(k, float(v), write["timestamp"], write["step"]) for k, v in write["metrics"].items()]
            client.log_batch(run_id, metrics=batch)
        elif kind == "params":
            tracking.log_params(client, run_id, write["params"])
        elif kind == "tags":
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in write["tags"].items()])
        elif kind == "file":
            tracking.log_file(client, run_id, write["path"], write["dir"])
        elif kind == "dataset":
            tracking.log_dataset(client, run_id, write["name"], write["source"], write["digest"])
        elif kind == "end":
            tracking.end_run(client, run_id, write["status"], write["tags"])
        else:
            raise ValueError(f"unknown outbox write {kind!r}")

    def _keep(self, write: dict[str, Any]) -> None:
        if write["kind"] == "file":  # the caller's file is temporary: keep a copy under the same name
            target = self.files / uuid.uuid4().hex[:8] / Path(write["path"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(write["path"], target)
            write = {**write, "path": str(target)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(write) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _read(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def _rewrite(self, waiting: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(w) + "\n" for w in waiting))
        os.replace(tmp, self.path)


def drain_folder(client, folder: str | Path, wait_s: float, echo: Callable[[str], None] | None = None) -> list[str]:
    """Send every trial's waiting writes under `folder` (the driver, after Tune ends); returns the run ids still waiting."""
    folder = Path(folder)
    boxes = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if boxes and echo is not None:
        echo(f"tracking: sending {len(boxes)} trial runs' writes kept while the store was unreachable")
    deadline = time.monotonic() + wait_s
    left = []
    for path in boxes:
        box = Outbox(client, path.stem, folder)
        if not box.drain(max(0.0, deadline - time.monotonic())):
            left.append(path.stem)
    return left


__all__ = ["Outbox", "TrackingUnavailable", "drain_folder", "is_transient", "fail_fast_client_env", "failing_fast", "DELAYED_TAG", "REFUSED_TAG", "TRIAL_CLIENT_ENV"]
