"""A Tune callback that closes trial runs the trainable could not close itself."""
from __future__ import annotations

from pathlib import Path

from ray.tune import Callback

from . import tracking
from .params import TrialParams


class CloseTrialRuns(Callback):
    """On the driver: a trial ASHA stopped keeps a RUNNING MLflow run (its process was stopped), and a
    trial whose process died could not mark itself; this marks them FINISHED (stopped early) or FAILED."""

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str):
        self.tracking_uri, self.experiment_id, self.parent_run_id = tracking_uri, experiment_id, parent_run_id
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = tracking.check_tracking(self.tracking_uri)
        return self._client

    def _run(self, trial):
        return tracking.find_trial_run(self.client, self.experiment_id, self.parent_run_id, trial.trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        run = self._run(trial)
        if run is not None and tracking.is_running(run):
            epochs = int((trial.last_result or {}).get("training_iteration", 0))
            try:
                budget = TrialParams.from_config(trial.config).total_epochs
            except (TypeError, ValueError):
                budget = epochs
            early = "true" if epochs < budget else "false"
            tracking.end_run(self.client, run.info.run_id, "FINISHED", {"unet.stopped_early": early, "unet.epochs_run": str(epochs)})

    def on_trial_recover(self, iteration, trials, trial, **info):
        run = self._run(trial)
        if run is not None and tracking.is_running(run):  # its process or node died; Tune retries it, as a new run
            tracking.end_run(self.client, run.info.run_id, "FAILED", {"unet.error": "attempt lost (process or node died); retried"})

    def on_trial_error(self, iteration, trials, trial, **info):
        run = self._run(trial)
        if run is not None and tracking.is_running(run):
            message = "trial process died"
            if getattr(trial, "error_file", None) and Path(trial.error_file).is_file():
                lines = [ln for ln in Path(trial.error_file).read_text(errors="replace").splitlines() if ln.strip()]
                message = lines[-1][:500] if lines else message
            tracking.end_run(self.client, run.info.run_id, "FAILED", {"unet.error": message})
