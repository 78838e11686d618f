"""Optuna's Tune searcher, kept working for trials Tune trains again after restoring a search (--resume, or a trial whose
process or node died where Tune retries none): the restored searcher does not know them."""
from __future__ import annotations

from ray.tune.search.optuna import OptunaSearch


class RestorableOptunaSearch(OptunaSearch):
    """OptunaSearch that passes on only the results of trials it suggested and has not been told the end of: a restored
    search's restarted trials (new Tune ids it never saw) and trials trained again under their id (told as errored)
    are recorded in MLflow and chosen among as any trial; only TPE does not learn from them (nor does the noise-aware
    intensification, search/noise/intensify.py, which dropped them from its race when they errored)."""

    def _open(self, trial_id: str) -> bool:
        return trial_id in self._ot_trials and trial_id not in self._completed_trials

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Report an intermediate result to the Optuna trial (its pruners' view) where the trial is open."""
        if self._open(trial_id):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell Optuna a trial's final value where the trial is open."""
        if self._open(trial_id):
            super().on_trial_complete(trial_id, result, error)
