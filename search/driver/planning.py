"""The search's plan on the driver: made from the fingerprint and the cost model measured here (--budget), read from a
plans file (--plan), or today's settings timed (neither); written as plan.json beside the store."""
from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from datasets import SegmentationData, compute_fingerprint
from datasets.store import cache_dir
from search.config import SearchConfig
from search.plan import MeasuredCost, Plan, PlanInputs, data_key, plan_defaults, plan_for_budget
from search.plan.cost import machine_key
from search.plan.planner import WIDTHS
from search.spaces import SpaceLimits, create_space
from search.strategies import create_strategy
from unet_core.precision import resolve_precision

from .cluster import cluster_capacity


def plan_inputs(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits, cpus: float | None = None,
                gpus: float | None = None) -> PlanInputs:
    """What the planner reads of this search and its data; `cpus` and `gpus` default to this machine's."""
    fp = compute_fingerprint(data)
    space = create_space(cfg.space)
    val = min(cfg.val_images or fp.val_images, fp.val_images) if fp.val_images else 0
    return PlanInputs(
        data.name, data_key(data.name, fp.total_images, fp.image_shape, fp.class_names), fp.total_images, fp.train_images - fp.val_images, fp.val_images,
        fp.test_images, val, tuple(fp.image_shape), tuple(fp.min_shape), fp.structure_width, depth=limits.max_depth, depths=tuple(limits.depths),
        base_channels=cfg.base_channels, batch_size=8 if cfg.budget else cfg.batch_size, cpus=float(cpus or os.cpu_count() or 1),
        cpus_per_trial=cfg.cpus_per_trial, gpus=float(_gpus() if gpus is None else gpus), gpus_per_trial=cfg.gpus_per_trial, reduction_factor=cfg.reduction_factor,
        sampled=space.sampled, fixed_trials=0 if space.sampled else create_strategy(cfg.strategy).trial_count(cfg, space, limits),
        rerank_top=cfg.rerank_top if space.sampled else 0, final_folds=cfg.final_folds if cfg.budget is None else None,
        widths=WIDTHS if cfg.budget is not None and space.fixed_recipe else (), fold_val_images=fp.train_images // cfg.race_partition)


def _gpus() -> int:
    if not os.environ.get("CUDA_VISIBLE_DEVICES", "x"):
        return 0
    import torch  # deferred: the driver counts GPUs only when it plans

    return torch.cuda.device_count()


def cost_model(cfg: SearchConfig, echo: Callable[[str], None] | None = None) -> MeasuredCost:
    """The cost model of this machine (GPU where trials take GPUs) in the precision the trials resolve --precision to
    here, cached per machine under the store cache; `echo` is told of each step it times."""
    device = "cuda" if cfg.gpus_per_trial and _gpus() else "cpu"
    threads = max(1, int(cfg.cpus_per_trial))
    bf16 = resolve_precision(cfg.precision, device).bf16
    return MeasuredCost(cache_dir() / "cost" / f"{machine_key(device, threads)}.json", device, threads, bf16=bf16, echo=echo)


def make_plan(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits, started: float | None = None,
              echo: Callable[[str], None] | None = None) -> tuple[SearchConfig, Plan]:
    """(cfg with the plan applied, the plan): --plan's file checked against this data, --budget's plan, or cfg timed.
    Trials at a time follow from this machine's CPUs and GPUs, or from the cluster's at --address. `started`: when the
    budget's clock started (time.monotonic()): the time the store and this machine's timing took by the plan comes off
    the budget (Kvasir at 60 minutes on a fresh 2-core AVX2 machine: the search phase began 4.6 min in, where the plan had
    counted 1.3 min for setup and test together). `echo`: told of each step this machine times."""
    cpus, gpus = cluster_capacity(cfg) if cfg.address and not cfg.plan else (None, None)
    inp = plan_inputs(cfg, data, limits, cpus, gpus)
    if cfg.plan:
        plan = Plan.read(cfg.plan)
        plan.check(cfg.plan, data.name, inp.data_key, limits.depths)
        return plan.apply(replace(cfg, batch_size=plan.batch_size)), plan
    cost = cost_model(cfg, echo)
    if cfg.budget is not None:
        plan = plan_for_budget(inp, cost, cfg.budget)  # times the steps it needs on this machine (cached)
        for _ in range(3 if started is not None else 0):  # planned again, the time spent so far off the budget, until no
            spent = time.monotonic() - started  # new timing was needed (a smaller budget may reach a geometry not yet timed)
            plan = plan_for_budget(inp, cost, cfg.budget, spent_s=spent)
            if time.monotonic() - started - spent < 1.0:
                break
        return plan.apply(cfg), plan
    space = create_space(cfg.space)
    return cfg, plan_defaults(inp, cost, cfg, create_strategy(cfg.strategy).trial_count(cfg, space, limits), cfg.patch_size or 64)


def plan_path(cfg: SearchConfig, data: SegmentationData) -> Path:
    """Where a plan is written: beside the dataset's store, else in the experiment's Tune folder."""
    if data.store:
        return Path(data.store + ".plan.json")
    return cfg.storage_path / "plan.json"


def write_plan(plan: Plan, path: Path) -> Path:
    """Write the plans file atomically; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(plan.to_json())
    os.replace(tmp, path)
    return path
