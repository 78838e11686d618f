"""MLflow tracking: the experiment, the search's parent run and one nested child run per trial.

Ray's MLflowLoggerCallback cannot nest runs (ray-project/ray#19978), so trials log through the
MLflow client themselves, with `mlflow.parentRunId` set.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH

from search.errors import TrackingError
from search.tracking.schema import DEFAULT_DB, EXPERIMENT_KIND_TAG, PARENT_TAG, ROLE_TAG, SEARCH, TRIAL_TAG, default_tracking_uri  # noqa: F401 - re-exported
# MLflow 3.17's UI chooses GenAI or "Model training" from its sidebar switch (default GenAI, kept in the browser) and
# ignores the experiment kind tag; the URL parameter workflowType=machine_learning selects "Model training". A shared
# view (experiment tag mlflow.sharedViewState.KEY, opened with viewStateShareKey=KEY) sets the runs table's columns.
VIEW_KEY = "unet-trials"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
VIEW_METRICS = ("best_val_dice", "test_dice")
VIEW_PARAMS = ("depth", "skips", "patch_size", "loss", "fold", "seed")


def is_local_sqlite(uri: str) -> bool:
    """Whether the URI is a local SQLite file (artifacts then go beside it under mlflow/artifacts)."""
    return uri.startswith("sqlite:///")


def quiet_mlflow() -> None:
    """Keep MLflow's INFO chatter (database creation, artifact downloads) off the user's terminal."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # a full or read-only SQLite store: MLflow logs the database error's stack before raising it; the caller reports it
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # "View run ... at" on every closed run of a server


def check_tracking(uri: str, timeout_s: float = 10.0, create: bool = True) -> MlflowClient:
    """A client for `uri` after one round-trip; raises TrackingError quickly if it is unreachable.

    With create=False a local SQLite store that does not exist yet is an error instead of being created.
    """
    quiet_mlflow()
    if is_local_sqlite(uri):
        db = _sqlite_path(uri)
        if not create and not db.is_file():
            raise TrackingError(f"no MLflow store at {db}")
        db.parent.mkdir(parents=True, exist_ok=True)
        return _round_trip(uri)
    with environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout_s))}):
        return _round_trip(uri)


@contextmanager
def environment(values: dict[str, str]):
    """These environment variables set inside the block, as they were after it."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _sqlite_path(uri: str) -> Path:
    return Path(uri[len("sqlite:///"):])


def _round_trip(uri: str) -> MlflowClient:
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
        return client
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot track"
        raise TrackingError(f"tracking server {uri} is unreachable: {_cause(exc)}") from None


class LocalStoreOpener:
    """Opens a local SQLite store while Ray starts. A new store's schema (MLflow's migrations: seconds) is built in
    a temporary file on a background thread and moved into place by `client()`; `discard()` leaves nothing."""

    def __init__(self, uri: str):
        quiet_mlflow()
        self.uri, self.db = uri, _sqlite_path(uri)
        self._tmp: Path | None = None
        self._future = None
        if not self.db.exists():  # an existing store opens in milliseconds
            self._tmp = Path(tempfile.mkdtemp(prefix="mlflow-store-"))
            pool = ThreadPoolExecutor(1, thread_name_prefix="mlflow-store")
            self._future = pool.submit(_build_store, self._tmp / "mlflow.db")
            pool.shutdown(wait=False)

    def client(self) -> MlflowClient:
        """A client for the store, moving the prepared schema into place if the store is still missing."""
        if self._future is not None:
            try:
                built = self._future.result()
                self.db.parent.mkdir(parents=True, exist_ok=True)
                if not self.db.exists():
                    shutil.move(built, self.db)
            except Exception:  # noqa: BLE001 - check_tracking below creates the store itself, or says why it cannot
                pass
            finally:
                self.discard()
        return check_tracking(self.uri)

    def discard(self) -> None:
        """Wait for the background work and delete what it made; the store's own path is never touched."""
        if self._future is not None:
            self._future.exception()
            self._future = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _build_store(path: Path) -> Path:
    """A new SQLite file with MLflow's current schema (a private store instance: MLflow's per-URI cache is untouched)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # deferred: SQLAlchemy (about 0.5 s); only a new SQLite file needs it

    SqlAlchemyStore(f"sqlite:///{path}", DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).engine.dispose()
    return path


_CAUSES = ("Connection refused", "timed out", "Name or service not known", "No route to host", "Temporary failure in name resolution")


def _cause(exc: BaseException) -> str:
    """The short reason inside a client error (urllib3 wraps the socket error in a long message)."""
    text = str(exc).strip()
    for cause in _CAUSES:
        if cause in text:
            return cause.lower()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def get_or_create_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """The experiment's id, created if needed (local stores keep artifacts under mlflow/artifacts)."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None
        if is_local_sqlite(uri):
            location = (_sqlite_path(uri).parent / "artifacts" / name).resolve().as_uri()
        try:
            exp_id = client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:  # another search created it in between (two searches started at once)
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or (exp := client.get_experiment_by_name(name)) is None:
                raise
            exp_id = exp.experiment_id
    else:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        exp_id = exp.experiment_id
    set_experiment_tag(client, exp_id, EXPERIMENT_KIND_TAG, "custom_model_development")
    set_experiment_tag(client, exp_id, VIEW_TAG, json.dumps(trials_view()))
    return exp_id


def set_experiment_tag(client: MlflowClient, experiment_id: str, key: str, value: str) -> None:
    """Set an experiment tag; two searches setting the same new tag at once race on a SQLite store (MLflow's insert-or-update
    is not atomic: one gets a UNIQUE constraint error), so the loser sets it again, now as an update."""
    try:
        client.set_experiment_tag(experiment_id, key, value)
    except MlflowException as exc:
        if "UNIQUE constraint failed" not in str(exc):
            raise
        client.set_experiment_tag(experiment_id, key, value)


def trials_view() -> dict[str, Any]:
    """The runs-table view the printed UI link opens: trials sorted by best validation Dice, with the key metrics and
    architecture params as columns."""
    return {"orderByKey": "metrics.`best_val_dice`", "orderByAsc": False,
            "selectedColumns": [f"metrics.`{m}`" for m in VIEW_METRICS] + [f"params.`{p}`" for p in VIEW_PARAMS]}


def ui_url(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The MLflow UI address of an experiment's runs table in the trials view (Model training mode, metric columns)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def _param_value(value: Any) -> str:
    return str(value)[:6000]


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log a dict of params in one batch."""
    client.log_batch(run_id, params=[Param(k, _param_value(v)) for k, v in params.items()])


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float], step: int, model_id: str | None = None) -> None:
    """Log the finite numeric metrics of one step in one batch (linked to the LoggedModel `model_id` when given)."""
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step, model_id=model_id) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if batch:
        client.log_batch(run_id, metrics=batch)


def log_dataset(client: MlflowClient, run_id: str, name: str, source: str, digest: str, context: str = "training") -> None:
    """Record the dataset as the run's input, so the UI shows which data a trial saw."""
    src = CodeDatasetSource({"generator": "datasets.synthetic"}) if source == "embedded" else HTTPDatasetSource(Path(source).resolve().as_uri())
    dataset = MetaDataset(source=src, name=name, digest=digest[:36])
    client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])])


def log_file(client: MlflowClient, run_id: str, local_path: str | Path, artifact_dir: str | None = None) -> None:
    """Upload one file as an artifact."""
    client.log_artifact(run_id, str(local_path), artifact_dir)


def log_text(client: MlflowClient, run_id: str, text: str, artifact_file: str) -> None:
    """Write `text` to an artifact file."""
    client.log_text(run_id, text, artifact_file)


@dataclass
class ParentRun:
    """The search's parent run."""

    client: MlflowClient
    run_id: str
    experiment_id: str

    def end(self, status: str = "FINISHED") -> None:
        """Close the parent run."""
        self.client.set_terminated(self.run_id, status)


def start_parent(client: MlflowClient, experiment_id: str, name: str, params: dict[str, Any]) -> ParentRun:
    """Create the parent run of a search with its settings as params."""
    run = client.create_run(experiment_id, run_name=name, tags={ROLE_TAG: SEARCH})
    log_params(client, run.info.run_id, params)
    return ParentRun(client, run.info.run_id, experiment_id)


def child_runs(client: MlflowClient, experiment_id: str, parent_id: str) -> list:
    """Every trial run under a parent (all statuses)."""
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'", max_results=5000
    )


def find_trial_run(client: MlflowClient, experiment_id: str, parent_id: str, trial_id: str):
    """The newest run of a Tune trial under this parent, or None."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}' and tags.`{TRIAL_TAG}` = '{trial_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=10,
    )
    return runs[0] if runs else None


def end_run(client: MlflowClient, run_id: str, status: str, tags: dict[str, str] | None = None) -> None:
    """Set the final status of a run (FINISHED, FAILED or KILLED), with optional tags."""
    if tags:
        client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
    client.set_terminated(run_id, status)


def is_running(run) -> bool:
    """Whether a run is still marked RUNNING."""
    return run.info.status == RunStatus.to_string(RunStatus.RUNNING)


def temp_dir() -> tempfile.TemporaryDirectory:
    """A temporary folder for files on their way to the artifact store."""
    return tempfile.TemporaryDirectory(prefix="unet-search-")


__all__ = [
    "TrackingError", "LocalStoreOpener", "default_tracking_uri", "check_tracking", "get_or_create_experiment", "log_params", "log_metrics",
    "log_dataset", "log_file", "log_text", "ParentRun", "start_parent", "child_runs", "find_trial_run", "end_run",
    "is_running", "temp_dir", "MlflowException", "RunTag", "trials_view", "ui_url",
]
