"""SIGTERM stops a search as Ctrl-C does, and a Tune phase tells whether either stopped it."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable


def stop_like_ctrl_c(signum, frame) -> None:
    """SIGTERM (`timeout`, a batch scheduler, a container stop) stops the search as Ctrl-C does: Tune's own SIGINT handling
    ends the trials, their runs are marked KILLED and the search can be resumed."""
    signal.raise_signal(signal.SIGINT)


def sigterm_as_ctrl_c() -> None:
    """Handle SIGTERM with `stop_like_ctrl_c`; call it again after ray.init, whose core worker installs its own handler
    (it prints a stack dump and ends the process)."""
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)


@contextmanager
def own_process_group():
    """Processes started inside (a local Ray's GCS, raylet and, through the raylet, every trial worker) get a process group
    of their own, and the driver returns to its group: a signal sent to the search's whole group (`timeout`'s SIGTERM)
    reaches the driver alone, which then stops them in order instead of every Ray process dying at once."""
    try:
        old = os.getpgrp()
        os.setpgid(0, 0)
    except OSError:  # a session leader cannot move: everything stays as it is
        yield
        return
    try:
        yield
    finally:
        try:
            os.setpgid(0, old)
        except OSError:
            pass


def _tune_catches_sigint() -> bool:
    """Whether Tune, fitted here, installs its SIGINT handler: in the main thread, unless TUNE_DISABLE_SIGINT_HANDLER,
    and not through Ray Client (Tune then runs on the cluster)."""
    import ray  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return (threading.current_thread() is threading.main_thread() and not int(os.getenv("TUNE_DISABLE_SIGINT_HANDLER", "0"))
            and not ray.util.client.ray.is_connected())


def fit_watching_ctrl_c(fit: Callable[[], Any]) -> tuple[Any, bool]:
    """(`fit()`'s result, whether Ctrl-C or SIGTERM stopped it). Tune ends a run on the first SIGINT and returns
    normally, its handler putting back the one it found, which is how it tells (Ray 2.60, ray.tune.tune's
    _setup_signal_catching); a run with no signal leaves Tune's handler, which goes with the run, so a later Ctrl-C
    stops the process as before it."""
    before = signal.getsignal(signal.SIGINT)
    catches = _tune_catches_sigint()
    result = fit()
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
    return result, catches and after is before
