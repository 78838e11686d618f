"""Library settings that keep a search's log to its own lines. Import-light: call it before Ray is imported."""
from __future__ import annotations

import os


def quiet_libraries(local_ray: bool) -> None:
    """Configure Ray and Optuna so that the search's own lines are the log: Tune's legacy reporter at verbose 0 (no
    status box, no TensorBoard hint), no Optuna study chatter, and a local Ray keeps token authentication (its
    default) without warning about it at every start. Ray reads RAY_AUTH_MODE when it is imported, so this runs first."""
    import optuna

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if local_ray:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
