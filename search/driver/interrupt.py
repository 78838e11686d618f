"""SIGTERM stops a search as Ctrl-C does."""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager


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
