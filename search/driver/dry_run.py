"""`--dry-run`: the configurations a search would train, and what they would cost, without training any."""
from __future__ import annotations

import os
from typing import Any, Callable

from datasets import SegmentationData
from search.config import SearchConfig
from search.spaces import SpaceLimits, create_space
from search.strategies import create_strategy

from .cluster import cluster_capacity
from .compute import expected_compute
from .data import prepared, space_limits
from .planning import make_plan, plan_path, write_plan


def dry_run_lines(cfg: SearchConfig, limits: SpaceLimits) -> list[dict[str, Any]]:
    """What --dry-run prints: every ablation configuration, the first sampled quick configurations, the full space, or
    a supernet search's supernets (with the patterns each estimates)."""
    space = create_space(cfg.space)
    return create_strategy(cfg.strategy).dry_run_lines(cfg, space, limits)


def trial_count(cfg: SearchConfig, limits: SpaceLimits) -> int:
    """How many trials the search runs (its Optuna samples, every ablation configuration x seed x fold, or its supernets)."""
    return create_strategy(cfg.strategy).trial_count(cfg, create_space(cfg.space), limits)


def dry_run_compute(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits, plan=None):
    """What --dry-run says the search will cost (search.driver.compute), for the CPUs of this machine or of --address's
    cluster; a budget's or a plans file's `plan` counts its own epochs and measured step."""
    cpus = cluster_capacity(cfg)[0] if cfg.address else float(os.cpu_count() or 1)
    return expected_compute(cfg, data, trial_count(cfg, limits), create_space(cfg.space).max_trial_epochs(cfg), cpus, plan)


def dry_run(cfg: SearchConfig, echo: Callable[[str], None] | None = None):
    """(the configuration lines, the expected compute, the plan and where it was written) of the search `cfg`, its data
    read, its patch settled and its plan made (--budget), read (--plan) or its settings timed (`echo`: told of each step timed)."""
    cfg, data, limits = prepared(cfg)
    cfg, plan = make_plan(cfg, data, limits, echo=echo)
    limits = space_limits(cfg, data) if cfg.image_side else limits  # what the working resolution allows
    path = write_plan(plan, plan_path(cfg, data)) if cfg.budget is not None else None
    planned = plan if cfg.budget is not None or cfg.plan else None
    return dry_run_lines(cfg, limits), dry_run_compute(cfg, data, limits, planned), plan, path
