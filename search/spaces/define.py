"""Where Tune searchers pickled before 2026-12-06 find the define-by-run function (search.spaces.registry.DefineByRun):
a resumed search unpickles `search.spaces.define.DefineByRun`."""
from .registry import DefineByRun, define_by_run  # noqa: F401 - re-exported for pickles and callers

__all__ = ["DefineByRun", "define_by_run"]
