"""A Tune callback that closes trial runs the trainable could not close itself."""
from __future__ import annotations

from pathlib import Path

from ray.tune import Callback

from recipes.params import ends_at
from search.tracking import client as tracking
from search.tracking import outbox, schema


class CloseTrialRuns(Callback):
    """On the driver: a trial ASHA stopped keeps a RUNNING MLflow run (its process was stopped), and a
    trial whose process died could not mark itself; this marks them FINISHED (stopped early) or FAILED.

    The status goes through the trial run's outbox, after the writes its trial kept there. A trial the tracking store
    could not be asked about (it was unreachable) is closed by `settle()` once Tune ends."""

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, outbox_dir: str | Path):
        self.tracking_uri, self.experiment_id, self.parent_run_id = tracking_uri, experiment_id, parent_run_id
        self.outbox_dir = outbox_dir
        self._client = None

    def __getstate__(self):  # Tune saves callbacks with the experiment state; the client stays here
        return {**self.__dict__, "_client": None}

    def settle(self, results) -> None:
        """After Tune ends: close the trial runs still open because the store was unreachable when their trial ended
        (`results`: Tune's ResultGrid)."""
        for result in results:
            trial_id = (result.metrics or {}).get("trial_id")
            if not trial_id:
                continue
            if result.error is not None:
                self._error(trial_id, str(result.error).strip().splitlines()[-1][:500] if str(result.error).strip() else "trial process died")
            else:
                self._complete(trial_id, result.metrics, result.config)

    @staticmethod
    def _guarded(close) -> None:
        try:
            with outbox.failing_fast():
                close()
        except Exception as exc:  # noqa: BLE001 - a store that is down or full: settle() closes it after Tune ends
            if not outbox.is_transient(exc):
                raise

    def _end(self, run_id: str, status: str, tags: dict[str, str]) -> None:
        outbox.Outbox(self.client, run_id, self.outbox_dir).end(status, tags)

    @property
    def client(self):
        if self._client is None:
            self._client = tracking.check_tracking(self.tracking_uri)
        return self._client

    def _run(self, trial_id: str):
        return tracking.find_trial_run(self.client, self.experiment_id, self.parent_run_id, trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._guarded(lambda: self._complete(trial.trial_id, trial.last_result, trial.config))

    def _complete(self, trial_id: str, last_result: dict | None, config: dict) -> None:
        run = self._run(trial_id)
        if run is not None and tracking.is_running(run):
            epochs = int((last_result or {}).get("training_iteration", 0))
            early = "true" if epochs < ends_at(config, last_result, epochs) else "false"  # not where a time limit ended it
            self._end(run.info.run_id, "FINISHED", {schema.STOPPED_EARLY_TAG: early, schema.EPOCHS_RUN_TAG: str(epochs)})

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._guarded(lambda: self._recover(trial.trial_id))

    def _recover(self, trial_id: str) -> None:
        run = self._run(trial_id)
        if run is not None and tracking.is_running(run):  # its process or node died; Tune retries it, as a new run
            self._end(run.info.run_id, "FAILED", {schema.ERROR_TAG: "attempt lost (process or node died); retried"})

    def on_trial_error(self, iteration, trials, trial, **info):
        message = "trial process died"
        if getattr(trial, "error_file", None) and Path(trial.error_file).is_file():
            lines = [ln for ln in Path(trial.error_file).read_text(errors="replace").splitlines() if ln.strip()]
            message = lines[-1][:500] if lines else message
        self._guarded(lambda: self._error(trial.trial_id, message))

    def _error(self, trial_id: str, message: str) -> None:
        run = self._run(trial_id)
        if run is not None and tracking.is_running(run):
            self._end(run.info.run_id, "FAILED", {schema.ERROR_TAG: message})
