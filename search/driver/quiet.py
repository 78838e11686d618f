"""Library settings that keep a search's log to its own lines. Import-light: call it before Ray is imported."""
from __future__ import annotations

import logging
import os
import sys
import warnings

from search.errors import TrackingUnavailable, find_cause

# Tune's own advice after Ctrl-C (Tuner.restore in Python; "press Ctrl-C again"), its complaint about the trial it cut short and its list of
# errored trials: the search prints how to continue from the command line, and which trials failed, instead
MISLEADING = ("Experiment has been interrupted", "Failed to fetch metrics for", "Trials did not complete", "Stop signal received")


class _DropMisleading(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(MISLEADING)


class _DropUnopenedTrials(logging.Filter):
    """Tune's traceback for a trial that could not open its MLflow run (the tracking store took no writes): the search
    ends with one line that says so and how to continue."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (str(record.msg).startswith("Trial task failed") and find_cause(exc, TrackingUnavailable) is not None)


def quiet_libraries(local_ray: bool) -> None:
    """Configure Ray and Optuna so that the search's own lines are the log: Tune's legacy reporter at verbose 0 (no
    status box, no TensorBoard hint), plain text where the log is not a terminal, no Optuna study chatter, no spurious "Could not re-use actor" errors, and a local
    Ray keeps token authentication (its default) without warning about it at every start. Ray reads RAY_AUTH_MODE when
    it is imported, so this runs first."""
    import optuna  # deferred: Optuna; --help and bad flags answer without it

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not sys.stdout.isatty():  # a log file or pipe: no colour codes around Ray's "(raylet)" prefixes, no object-spilling notes
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
        os.environ.setdefault("RAY_verbose_spill_logs", "0")
    # Tune reuses a trial's process only if the stopped trial's thread ends within this many seconds (default 2: a loaded
    # machine misses it, and the next trial then errors with "Could not re-use actor"); workers inherit it from here
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", "30")
    # only before Ray is imported: an imported Ray has cached its mode, and a GCS started with another one refuses it
    if local_ray and "ray" not in sys.modules:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a resumed search's restored trials report their recorded epochs again; Optuna keeps the first report of each
    warnings.filterwarnings("ignore", message="The reported value is ignored because this `step", category=UserWarning)
    for name, kind in (("ray.tune.tune", _DropMisleading), ("ray.tune.analysis.experiment_analysis", _DropMisleading),
                       ("ray.tune.execution.tune_controller", _DropUnopenedTrials)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
