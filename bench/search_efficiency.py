"""Search efficiency on real DRIVE: ASHA + Optuna against the exhaustive grid over the same depth/skip space.

Both run through `search.run`'s library at the same per-trial budget (the ablation's fixed values: 8 channels,
64x64 patches, Dice+BCE, lr 3e-3; E epochs of P random patches), two one-core trials at a time:
- the grid: all 30 configurations (depths 1-4, every skip pattern), `--space ablation`;
- the searcher: `--space arch` (Optuna samples depth then its skip bits; ASHA with the platform's default
  grace period 2 and reduction factor 2 stops the weak), once per searcher seed, ended by `--stop-at` as
  soon as a trial reaches the target. Trials train with the same seed as the grid's, so a configuration
  learns the same way in both.

The target is 99% of the best validation foreground Dice any grid trial reached at any epoch. Compute is
counted from every epoch a trial reported, in the order they were reported: trial-epochs, and core-seconds
(each epoch's training + validation seconds x its cores). The grid needs all of its compute to know its
best; it is also shown how far into its (shallow-first) order it first touched the target.

    python bench/search_efficiency.py [--data-root ../shared/data/drive] [--seeds 5] [--smoke]

Writes bench/results/search_efficiency.json (compute_ratio: the median over seeds of searcher / whole grid
core-seconds); the last line holds the ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 0.01
CPUS_PER_TRIAL = 1.0


def result_log():
    """A Tune callback (created here so Ray is imported only when needed) that keeps every reported result."""
    from ray.tune import Callback

    from search.params import TrialParams

    class ResultLog(Callback):
        def __init__(self):
            self.rows: list[dict] = []

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "val_dice" in result and not result.get("restored"):
                params = TrialParams.from_config(trial.config)
                self.rows.append({"time": time.time(), "trial_id": trial.trial_id, "epoch": int(result.get("training_iteration", 0)),
                                  "val_dice": float(result["val_dice"]), "epoch_s": float(result.get("epoch_time_s", 0.0)),
                                  "config": f"d{params.depth}-s{params.skips}"})

    return ResultLog()


def compute_to(rows: list[dict], target: float, cores_per_trial: float) -> dict:
    """Trial-epochs and core-seconds spent, in report order, up to the first epoch at or above `target` (None if never)."""
    epochs, core_s = 0, 0.0
    for r in sorted(rows, key=lambda r: r["time"]):
        epochs += 1
        core_s += r["epoch_s"] * cores_per_trial
        if r["val_dice"] >= target:
            return {"reached": True, "trial_epochs": epochs, "core_s": core_s, "by": r["config"], "val_dice": r["val_dice"]}
    return {"reached": False, "trial_epochs": epochs, "core_s": core_s, "by": None, "val_dice": max((r["val_dice"] for r in rows), default=None)}


def totals(rows: list[dict], cores_per_trial: float) -> dict:
    """All the compute a run spent."""
    return {"trial_epochs": len(rows), "core_s": sum(r["epoch_s"] for r in rows) * cores_per_trial,
            "trials": len({r["trial_id"] for r in rows})}


def main(argv: list[str] | None = None) -> int:
    """Run the grid, then the searcher once per seed, and print the compute each needed."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "drive"))
    p.add_argument("--seeds", type=int, default=5, help="searcher seeds (default 5)")
    p.add_argument("--smoke", action="store_true", help="seconds: embedded synthetic data, depth 1, 4 epochs, 1 seed")
    a = p.parse_args(argv)
    budget = {"depths": (1, 2, 3, 4), "max_epochs": 8, "patches_per_epoch": 512}
    dataset, root = "drive", a.data_root
    if a.smoke:
        # enough steps that a trial learns (its output starts at the class prior, so an untrained net scores Dice 0)
        budget, dataset, root = {"depths": (1,), "max_epochs": 4, "patches_per_epoch": 256}, "synthetic", None
        a.seeds = 1
    elif not Path(root).is_dir():
        print(f"error: no DRIVE data at {root} (--data-root)", file=sys.stderr)
        return 2
    if a.seeds < 1:
        print(f"error: --seeds must be at least 1, got {a.seeds}", file=sys.stderr)
        return 2
    import ray

    from search.config import SearchConfig
    from search.runner import run_search

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="search-efficiency-") as tmp_name:
        tmp = Path(tmp_name)
        common = dict(dataset=dataset, data_root=root, base_channels=8, patch_size=64, lr=3e-3, loss="dice_bce", cpus_per_trial=CPUS_PER_TRIAL,
                      tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", storage=str(tmp / "ray"), **budget)
        grid_log = result_log()
        run_search(SearchConfig(space="ablation", experiment="grid", **common), echo=lambda line: None, callbacks=(grid_log,))
        grid_rows = grid_log.rows
        best = max(grid_rows, key=lambda r: r["val_dice"])
        target = (1 - TOLERANCE) * best["val_dice"]
        grid_total, grid_reach = totals(grid_rows, CPUS_PER_TRIAL), compute_to(grid_rows, target, CPUS_PER_TRIAL)
        close = sorted({r["config"] for r in grid_rows if r["val_dice"] >= target})
        print(f"grid: {grid_total['trials']} configurations, {grid_total['trial_epochs']} trial-epochs, {grid_total['core_s']:.0f} core-s; "
              f"best validation Dice {best['val_dice']:.4f} ({best['config']}, epoch {best['epoch']}); target {target:.4f}, "
              f"reached by {len(close)} configuration(s): {', '.join(close)}", flush=True)
        searches = []
        for seed in range(a.seeds):
            log = result_log()
            run_search(SearchConfig(space="arch", experiment=f"search-{seed}", num_samples=grid_total["trials"], searcher_seed=seed,
                                    stop_at=target, rerank_top=0, **common), echo=lambda line: None, callbacks=(log,))
            reach = compute_to(log.rows, target, CPUS_PER_TRIAL)
            reach.update(seed=seed, ratio=reach["core_s"] / grid_total["core_s"] if reach["reached"] else None,
                         ratio_epochs=reach["trial_epochs"] / grid_total["trial_epochs"] if reach["reached"] else None,
                         ratio_in_order=reach["core_s"] / grid_reach["core_s"] if reach["reached"] else None, spent=totals(log.rows, CPUS_PER_TRIAL))
            searches.append(reach)
            status = (f"reached {reach['val_dice']:.4f} with {reach['by']} after {reach['trial_epochs']} trial-epochs, {reach['core_s']:.0f} core-s "
                      f"(ratio {reach['ratio']:.3f})" if reach["reached"] else
                      f"did not reach the target in {reach['spent']['trials']} trials (best {reach['val_dice']:.4f})")
            print(f"searcher seed {seed}: {status}", flush=True)
    ray.shutdown()
    wall = time.perf_counter() - start
    # a seed that never reached the target counts as needing more than the whole grid
    median, median_epochs, median_in_order = (statistics.median(s[key] if s["reached"] else float("inf") for s in searches)
                                              for key in ("ratio", "ratio_epochs", "ratio_in_order"))
    figures = {"dataset": dataset, "budget": {**budget, "depths": list(budget["depths"]), "base_channels": 8, "patch": 64},
               "tolerance": TOLERANCE, "grid_best": best, "target": target, "configs_within_target": close, "grid_total": grid_total,
               "grid_reach_in_order": grid_reach, "searches": searches, "compute_ratio": median, "compute_ratio_trial_epochs": median_epochs,
               "compute_ratio_vs_grid_in_order": median_in_order, "wall_s": wall}
    if not a.smoke:
        write_results("search_efficiency", figures)
    print(f"grid in its own order first reached the target after {grid_reach['trial_epochs']} trial-epochs, {grid_reach['core_s']:.0f} core-s "
          f"({grid_reach['by']}); bench wall time {wall / 60:.1f} min")
    print(f"ASHA + Optuna / exhaustive grid compute to within {TOLERANCE:.0%} of the grid's best, median over {len(searches)} seeds: "
          f"ratio {median:.3f} in core-seconds, {median_epochs:.3f} in trial-epochs (against the grid's in-order reach: {median_in_order:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
