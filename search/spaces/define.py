"""The Optuna define-by-run function Tune's searcher calls: a registered space's `define`, plus the fixed values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .limits import SpaceLimits
from .registry import create_space


@dataclass(frozen=True)
class DefineByRun:
    """The Optuna define-by-run function of a space, with the values every trial shares.

    A module-level callable (not a closure) so Tune can pickle the searcher's state for --resume. An unregistered space
    name is an error (UnknownName), never another space.
    """

    space: str
    limits: SpaceLimits
    constants: tuple[tuple[str, Any], ...] = ()

    def __call__(self, trial) -> dict[str, Any]:
        return {**dict(self.constants), **create_space(self.space).define(trial, self.limits)}


def define_by_run(cfg, limits: SpaceLimits) -> DefineByRun:
    """The Optuna define-by-run function of cfg's (sampled) space, its fixed values included."""
    return DefineByRun(cfg.space, limits, tuple(sorted(create_space(cfg.space).fixed_params(cfg).items())))
