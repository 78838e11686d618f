"""What the search machinery costs: the same trials through `search.run` (Ray Tune, MLflow, two trials at a
time) and through a bare loop that calls the trainer one trial after another with every core.

Prints both wall times, their ratio, and the search's CPU utilization: the trials' own compute
(training + validation seconds x cores per trial, summed) over wall time x the machine's cores.

    python bench/overhead.py [--data-root ../shared/data/drive] [--smoke]

Writes bench/results/overhead.json; the last line holds the ratio and the utilization.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def search_config(dataset: str, root: str | None, budget: dict, tmp: Path, cores: int):
    """The search half: an ablation over the budget's depths, one core per trial."""
    from search.config import SearchConfig

    return SearchConfig(space="ablation", dataset=dataset, data_root=root, depths=tuple(budget["depths"]), max_epochs=budget["epochs"],
                        patches_per_epoch=budget["patches_per_epoch"], base_channels=budget["width"], patch_size=budget["patch"],
                        cpus_per_trial=1.0, experiment="overhead", tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", storage=str(tmp / "ray"))


def bare_loop(cfg, cores: int) -> tuple[float, int]:
    """Every configuration of the search, trained one after another in this process with all cores; (wall s, trials)."""
    import torch

    from recipes.params import TrialParams
    from search.driver.data import load_data, space_limits
    from search.spaces import ablation_configs, create_space
    from recipes import RecipeSettings, train_and_report

    torch.set_num_threads(cores)
    data = load_data(cfg)
    limits = space_limits(cfg, data)
    configs = ablation_configs(cfg.repeats, limits.depths, cfg.skips)
    ctx = RecipeSettings(cpus=float(cores), eval_tile=cfg.eval_tile)
    start = time.perf_counter()
    for c in configs:
        train_and_report(TrialParams.from_config({**create_space(cfg.space).fixed_params(cfg), **c}), data, ctx, lambda m: None)
    return time.perf_counter() - start, len(configs)


def main(argv: list[str] | None = None) -> int:
    """Run both halves on the same trials and print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "drive"))
    p.add_argument("--smoke", action="store_true", help="seconds: embedded synthetic data, depth 1, one epoch")
    a = p.parse_args(argv)
    cores = os.cpu_count() or 1
    # trials of about half a minute: a real search's are minutes; 5-10 s trials (4 x 256 patches) measured 70%
    budget = {"depths": [2, 3], "epochs": 6, "patches_per_epoch": 512, "width": 8, "patch": 64}
    dataset, root = "drive", a.data_root
    if a.smoke:
        budget.update(depths=[1], epochs=1, patches_per_epoch=32)
        dataset, root = "synthetic", None
    elif not Path(root).is_dir():
        print(f"error: no DRIVE data at {root} (--data-root)", file=sys.stderr)
        return 2
    from mlflow import MlflowClient

    from search.driver.search import run_search

    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp_name:
        tmp = Path(tmp_name)
        cfg = search_config(dataset, root, budget, tmp, cores)
        start = time.perf_counter()
        outcome = run_search(cfg, echo=lambda line: None)
        search_wall = time.perf_counter() - start
        client = MlflowClient(outcome.tracking_uri)
        compute = sum(client.get_run(r).data.metrics.get("total_train_time_s", 0.0) for r in outcome.trials.run_id) * cfg.cpus_per_trial
        trials = len(outcome.trials)
    bare_wall, bare_trials = bare_loop(cfg, cores)
    utilization = compute / (search_wall * cores)
    ratio = search_wall / bare_wall
    figures = {"dataset": dataset, "budget": budget, "cores": cores, "trials": trials, "search_wall_s": search_wall, "bare_wall_s": bare_wall,
               "trial_compute_core_s": compute, "utilization": utilization, "wall_ratio": ratio}
    if not a.smoke:
        write_results("overhead", figures)
    print(f"{trials} trials ({bare_trials} in the bare loop) on {dataset}, {cores} cores")
    print(f"search.run: {search_wall:.1f} s wall, {compute:.1f} core-s of trial compute; bare loop: {bare_wall:.1f} s wall")
    print(f"search / bare-loop wall time: {ratio:.3f}; search CPU utilization: {utilization:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
