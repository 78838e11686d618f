"""Does the full-space search's pick hold once trained for real? Its winner against the plain U-Net, both at the final budget.

1. Search: the README's command, `python -m search.run --space full --dataset drive --data-root PATH`, with its defaults
   (16 Optuna trials under ASHA, 6 epochs of every patch; the best 2 and the default U-Net trained on 2 folds at the final
   budget of 12 epochs, the default named unless a finalist beats it by more than 1 SE of the paired margin). Or, with
   --experiment, a search already finished in --store.
2. Final training, two at a time on one core each, over --seeds fresh seeds (1, 2, ...; the search itself used seed 0),
   both arms at the search's final budget, on the same training images, the best epoch chosen on the same validation
   images (a search from before the default U-Net joined the final round also gets that round's default-U-Net training,
   seed 0, so the bench says what the search names now):
   - winner: the configuration the search names (every searched knob: depth, skips, patch, loss, lr, batch, block, ...);
   - plain: the platform's default U-Net, depth 4 with every skip, at the arch/ablation space's fixed recipe (the
     dataset fingerprint's patch, half-patch stride, Dice+BCE, lr 3e-3, batches of 16, light augmentation, 8 wide): the
     configuration a re-ranking now trains beside the search's best (`--final-baseline`). Where the search names the
     default U-Net itself, winner and plain are one configuration, trained once (the difference is 0 by construction);
   - declined (only then): the finalist with the best mean over the final round's folds, which the default-unless-better
     rule declined: whether declining it cost test Dice.
3. Both are scored on the test images with full-image overlap-tile inference, foreground Dice inside the valid mask
   (DRIVE: the field of view). The difference is paired by seed: its mean and range.

    python bench/full_search_check.py [--data-root ../shared/data/drive] [--seeds 3] [--store URI --experiment NAME] [--tag KEY] [--smoke]

Writes bench/results/full_search_check.json (one entry per --tag); the last line holds the verdict.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import paired, write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REPORTED = ("dice", "iou", "auc", "recall", "precision", "dice_with_background")
SMOKE_SEARCH = ["--num-samples", "2", "--max-epochs", "1", "--patches-per-epoch", "32", "--rerank-top", "1", "--final-budget", "1"]


class KeepBest:
    """Stands in for a trial's MLflow run during a bench training: keeps the best epoch's weights in memory."""

    def __init__(self) -> None:
        self.state: dict | None = None
        self.meta: dict | None = None

    def log_best(self, state, meta, validator, title) -> None:
        """Keep the best checkpoint so far."""
        self.state, self.meta = {k: v.clone() for k, v in state.items()}, meta

    def log_epoch(self, metrics, step) -> None:
        """Per-epoch metrics are not kept."""


def train_and_test(job: tuple[str, dict[str, Any], str, str | None]) -> dict[str, Any]:
    """Train one configuration (TrialParams fields) as a search trial does, on one core; score its best epoch on the test split."""
    arm, params_dict, dataset, root = job
    import torch

    from search.config import SearchConfig
    from recipes.params import TrialParams
    from search.driver.data import load_data
    from recipes import train_and_report
    from datasets import full_images
    from unet_core import evaluate_images, model_from_meta

    torch.set_num_threads(1)
    data = load_data(SearchConfig(space="full", dataset=dataset, data_root=root))
    params = TrialParams(**params_dict)
    keeper = KeepBest()
    start = time.perf_counter()
    best = train_and_report(params, data, run=keeper)
    train_s = time.perf_counter() - start
    model = model_from_meta(keeper.meta, keeper.state)
    model.eval()
    with torch.no_grad():
        test = evaluate_images(model, full_images(data.test), data.num_classes, keeper.meta["eval_tile"], 0.5, data.background)
    return {"arm": arm, "seed": params.seed, "run_name": params.run_name, "val_dice": float(best["val_dice"]), "best_epoch": int(best["epoch"]),
            "train_s": train_s, **{k: float(test[k]) for k in REPORTED}}


def plain_params(dataset: str, root: str | None, epochs: int, patches_per_epoch: int) -> dict[str, Any]:
    """The default U-Net a re-ranking trains beside the search's best (search.driver.final.default_unet_config), for `epochs`."""
    from search.config import SearchConfig
    from search.driver.data import load_data, settle_patch, space_limits
    from search.driver.final import default_unet_config

    cfg = SearchConfig(space="full", dataset=dataset, data_root=root, patches_per_epoch=patches_per_epoch)
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    return {**default_unet_config(cfg, space_limits(cfg, data)), "epochs": epochs}


def winner(store: str, experiment: str) -> dict[str, Any]:
    """The newest finished search of `experiment`: its winner's TrialParams (at the final budget), name, validation and test Dice,
    and both rankings."""
    from mlflow.tracking import MlflowClient

    from search.tracking import client as tracking
    from search.tracking import schema
    from search.driver.rerank import FINAL_RANKING_TAG, SEARCH_RANKING_TAG
    from unet_core import load_checkpoint

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"error: no experiment {experiment!r} in {store}")
    parents = [r for r in client.search_runs([exp.experiment_id], max_results=5000)
               if r.info.status == "FINISHED" and schema.BEST_RUN_ID_TAG in r.data.tags]
    if not parents:
        raise SystemExit(f"error: experiment {experiment!r} has no finished search")
    parent = max(parents, key=lambda r: r.info.start_time)
    best_id = parent.data.tags[schema.BEST_RUN_ID_TAG]
    # the final round's choice (search.noise.FinalChoice.tags): its winner, whether that is the default U-Net, the margin
    choice_tags = (schema.FINAL_CHOICE_TAG, schema.FINAL_CHOICE_DEFAULT_TAG, schema.FINAL_MARGIN_TAG, schema.FINAL_MARGIN_CI_TAG,
                   schema.FINAL_MARGIN_PAIRS_TAG, schema.FINAL_CHOICE_REASON_TAG)
    choice = {k.removeprefix("unet."): v for k, v in parent.data.tags.items() if k in choice_tags}
    declined = None
    if choice.get("final_choice_default") == "true":  # the rule named the default U-Net: the finalist it declined
        declined = best_finalist(client, exp.experiment_id, parent.info.run_id)
    with tracking.temp_dir() as tmp:
        _, meta = load_checkpoint(client.download_artifacts(best_id, "checkpoints/best.pt", tmp))
        declined_params = None
        if declined is not None:
            _, declined_meta = load_checkpoint(client.download_artifacts(declined["run_id"], "checkpoints/best.pt", tmp))
            declined_params = declined_meta["params"]
    return {"params": meta["params"], "run_name": parent.data.tags[schema.BEST_RUN_NAME_TAG], "parent_run_id": parent.info.run_id,
            "val_dice": parent.data.metrics.get("best_val_dice"), "test_dice_seed0": parent.data.metrics.get("test_dice"),
            "search_ranking": parent.data.tags.get(SEARCH_RANKING_TAG), "final_ranking": parent.data.tags.get(FINAL_RANKING_TAG),
            "final_choice": choice, "declined": None if declined is None else {**declined, "params": declined_params},
            "wall_s": (parent.info.end_time - parent.info.start_time) / 1000 if parent.info.end_time else None}


def best_finalist(client, experiment_id: str, parent_id: str) -> dict[str, Any] | None:
    """The final round's best finalist other than the default U-Net, by mean validation Dice over its folds: its name
    (fold dropped), that mean, the folds, and one of its runs (for the configuration)."""
    from search.tracking import client as tracking
    from search.tracking import schema

    folds: dict[str, list] = {}
    for run in tracking.child_runs(client, experiment_id, parent_id):
        name, dice = run.info.run_name or "", run.data.metrics.get("best_val_dice")
        if run.data.tags.get(schema.ROLE_TAG) != schema.FINAL or run.info.status != "FINISHED" or dice is None or "-default" in name:
            continue
        folds.setdefault(re.sub(r"(-f\d+)?-final$", "", name), []).append((dice, run.info.run_id))
    if not folds:
        return None
    name, runs = max(folds.items(), key=lambda kv: np.mean([d for d, _ in kv[1]]))
    return {"run_name": name, "val_dice_mean": float(np.mean([d for d, _ in runs])), "folds": len(runs), "run_id": runs[0][1]}


def run_search(dataset: str, root: str | None, store: str, experiment: str, storage: Path, smoke: bool) -> None:
    """The README's full-space search, as a user runs it."""
    cmd = [sys.executable, "-m", "search.run", "--space", "full", "--dataset", dataset, *(["--data-root", root] if root else []),
           "--experiment", experiment, "--tracking-uri", store, "--storage", str(storage), *(SMOKE_SEARCH if smoke else [])]
    print("search: " + " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the search failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    for line in proc.stdout.strip().splitlines()[-6:]:
        print(f"  {line}", flush=True)


def default_in_final_round(final_ranking: str | None) -> float | None:
    """The default U-Net's validation Dice in a search's final round (its unet.final_ranking tag), None where it was not there."""
    for row in json.loads(final_ranking or "[]"):
        if row["run_name"].endswith("-default-final"):
            return float(row["best_val_dice"])
    return None


def verdict(diff: dict[str, Any], who: str = "the winner") -> str:
    """What the paired test-Dice differences of `who` against the plain U-Net say: loses or beats (the 95% interval excludes
    0), tied, or no difference shown."""
    wins = sum(d > 0 for d in diff["per_seed"])
    if diff["min"] == diff["max"] == 0:
        return "tied on every seed"
    ci = diff["ci95"]
    if ci is not None and ci[1] < 0:
        return f"{who} loses to the plain U-Net (95% interval {ci[0]:+.4f} to {ci[1]:+.4f})"
    if ci is not None and ci[0] > 0:
        return f"{who} beats the plain U-Net (95% interval {ci[0]:+.4f} to {ci[1]:+.4f})"
    spans = f"95% interval {ci[0]:+.4f} to {ci[1]:+.4f} spans 0" if ci is not None else "one seed"
    return f"no difference shown ({spans}; {who} better on {wins} of {len(diff['per_seed'])} seeds)"


def as_configuration(params: dict[str, Any]) -> dict[str, Any]:
    """A trained run's TrialParams as a configuration to train again: without the fold or reshuffled split it was scored
    on (a final round on folds, a reshuffled search), on the dataset's own split."""
    return {**params, "fold": 0, "folds": 1, "split_seed": 0, "val_seed": -1}


def main(argv: list[str] | None = None) -> int:
    """Search (or read a finished search), train its winner and the plain U-Net over fresh seeds, save and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "drive"))
    p.add_argument("--seeds", type=int, default=3, help="fresh seeds per arm (default 3)")
    p.add_argument("--store", default=None, help="MLflow tracking URI of a finished search (with --experiment)")
    p.add_argument("--experiment", default=None, help="a finished full-space search's experiment in --store: skip the search")
    p.add_argument("--tag", default="searcher seed 0", help="the results key: each search's figures are kept beside the others' "
                   "(default 'searcher seed 0': the README's command as is)")
    p.add_argument("--smoke", action="store_true", help="seconds: embedded synthetic data, a 2-trial search, 1 epoch, 1 seed")
    a = p.parse_args(argv)
    dataset, root, seeds = "drive", a.data_root, a.seeds
    if a.smoke:
        dataset, root, seeds = "synthetic", None, 1
    elif not Path(root).is_dir():
        print(f"error: no DRIVE data at {root} (--data-root)", file=sys.stderr)
        return 2
    if seeds < 1:
        print(f"error: --seeds must be at least 1, got {a.seeds}", file=sys.stderr)
        return 2
    if (a.store is None) != (a.experiment is None):
        print("error: give --store and --experiment together (a finished search), or neither (run one)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="full-search-check-") as tmp:
        store, experiment = a.store, a.experiment
        if store is None:
            store, experiment = f"sqlite:///{Path(tmp) / 'mlflow.db'}", "full-search-check"
            run_search(dataset, root, store, experiment, Path(tmp) / "ray", a.smoke)
        won = winner(store, experiment)
    # the winner as a configuration: the fold it was scored on in a final round on folds (--final-folds) is not part of it, and
    # every arm trains on the dataset's own split
    params = as_configuration(won["params"])
    plain = plain_params(dataset, root, params["epochs"], params["patches_per_epoch"])
    from recipes.params import TrialParams

    winner_is_plain = TrialParams(**params) == TrialParams(**plain)  # the rule named the default U-Net: one arm, trained once
    arms = {"plain": plain, **({} if winner_is_plain else {"winner": params})}
    if won["declined"] is not None:
        arms["declined"] = as_configuration(won["declined"]["params"])
    print(f"winner {won['run_name']} (validation Dice {won['val_dice']:.4f} at {params['epochs']} epochs"
          f"{', the default U-Net itself' if winner_is_plain else ''}) against plain d{plain['depth']}-s{plain['skips']}"
          + (f", and the finalist the rule declined, {won['declined']['run_name']}" if won["declined"] else "")
          + f"; at {params['epochs']} epochs, seeds 1-{seeds}", flush=True)
    default_val = default_in_final_round(won["final_ranking"])
    jobs = [(arm, {**base, "seed": seed}, dataset, root) for seed in range(1, seeds + 1) for arm, base in arms.items()]
    if default_val is None:  # a search without the default U-Net in its final round: train it as that round would (seed 0)
        jobs.insert(0, ("final-round default", {**plain, "seed": 0}, dataset, root))
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # two at a time, one core each
        done = pool.map(train_and_test, jobs)
    runs = {arm: [r for r in done if r["arm"] == arm] for arm in arms}
    if winner_is_plain:
        runs["winner"] = runs["plain"]
    if default_val is None:
        default_val = next(r["val_dice"] for r in done if r["arm"] == "final-round default")
    if won["final_choice"]:  # the search's own default-unless-better choice (--final-folds 2 or more)
        names = "plain" if won["final_choice"].get("final_choice_default") == "true" else "winner"
    else:  # an older search: what a final round with the default U-Net in it names
        names = "plain" if default_val > won["val_dice"] else "winner"
    diff = paired(runs["winner"], runs["plain"])
    declined_diff = paired(runs["declined"], runs["plain"]) if "declined" in runs else None
    means = {arm: {k: float(np.mean([r[k] for r in rs])) for k in ("dice", "iou", "auc", "val_dice", "train_s")} for arm, rs in runs.items()}
    figures = {"dataset": dataset, "seeds": seeds, "search": won, "plain_params": plain, "winner_is_plain": winner_is_plain,
               "runs": runs, "means": means,
               "final_round": {"winner_val_dice": won["val_dice"], "default_val_dice": default_val, "names": names,
                               "default_runs": [r for r in done if r["arm"] == "final-round default"]},
               "test_dice_winner_minus_plain": diff, "verdict": verdict(diff),
               "test_dice_declined_minus_plain": declined_diff,
               "declined_verdict": verdict(declined_diff, "the declined finalist") if declined_diff else None,
               "total_wall_s": time.perf_counter() - start}
    if not a.smoke:  # one file, one entry per search: a new search's check keeps the others
        path = REPO / "bench" / "results" / "full_search_check.json"
        earlier = json.loads(path.read_text()).get("searches", {}) if path.exists() else {}
        write_results("full_search_check", {"searches": {**earlier, a.tag: {"date": time.strftime("%Y-%m-%d"), **figures}}})
    for arm in runs:
        name = runs[arm][0]["run_name"]
        per_seed = ", ".join(f"{r['dice']:.4f}" for r in runs[arm])
        print(f"  {arm:<8} {name:<40} test Dice {means[arm]['dice']:.4f} (seeds {per_seed}), IoU {means[arm]['iou']:.4f}, "
              f"AUC {means[arm]['auc']:.4f}, {means[arm]['train_s'] / 60:.1f} min a training")
    if declined_diff is not None:
        print(f"test Dice declined finalist - plain: {declined_diff['mean']:+.4f} (seeds {declined_diff['min']:+.4f} to "
              f"{declined_diff['max']:+.4f}): {figures['declined_verdict']}")
    named = "the default U-Net" if names == "plain" else won["run_name"]
    # why: the search's own rule where it recorded one (its margin over folds), else one validation Dice against the other
    why = won["final_choice"].get("final_choice_reason") or f"validation Dice {won['val_dice']:.4f} against {default_val:.4f}"
    print(f"test Dice winner - plain: {diff['mean']:+.4f} (seeds {diff['min']:+.4f} to {diff['max']:+.4f}) over {seeds} seeds: {verdict(diff)}; "
          f"with the default U-Net in the final round the search names {named} ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
