"""Helpers shared by the benchmarks: results files and the machine's matmul speed."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search.plan.cost import cpu_fields, read_cpuinfo
from unet_core.inference import cpu_has_native_bf16

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, figures: dict) -> Path:
    """Write `bench/results/<name>.json` with the machine and date beside the figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    blob = {"bench": name, "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
            "torch": torch.__version__, **figures}
    path.write_text(json.dumps(blob, indent=2) + "\n")
    return path


def figures_at(blob: dict, key: str) -> dict:
    """The figures under a dotted key (`kvasir.search_60m`) of a results file's blob."""
    for part in key.split("."):
        blob = blob[part]
    return blob


def host() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, and the instruction sets that change a step's speed
    (figures from hosts of one model name but other instruction sets are not comparable)."""
    model, flags = cpu_fields(read_cpuinfo(), platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "avx512": "avx512f" in flags, "native_bf16": cpu_has_native_bf16(), "torch": torch.__version__}


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """The machine's measured float32 matmul GFLOP/s (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def paired(high: list[dict], low: list[dict], metric: str = "dice") -> dict[str, Any]:
    """high - low on `metric`, paired by seed: mean, range, a 95% t interval (None under 2 seeds) and the per-seed differences."""
    from scipy import stats

    diffs = [h[metric] - l[metric] for h, l in zip(high, low)]
    ci = None
    if len(diffs) > 1:
        half = float(stats.t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
        ci = [float(np.mean(diffs)) - half, float(np.mean(diffs)) + half]
    return {"mean": float(np.mean(diffs)), "min": float(min(diffs)), "max": float(max(diffs)), "ci95": ci, "per_seed": diffs}
