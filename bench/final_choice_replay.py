"""The one-fold final round's choice replayed on finished Kvasir-SEG searches: the best at the final budget (the rule
before 2026-12-07) against the default U-Net unless a finalist beats it beyond the noise of their paired per-image
validation Dice (search.driver.final.final_choice today).

Each finished `--budget 60m` search of bench/budget_quality.py keeps its MLflow store (`store` in its figures). For each,
every final training's kept checkpoint is scored again on its own validation split (the 1/5 of the 880 training images
the final fold held out; the test split is not touched), image by image, as the trial's closing does today. The choice
both rules make follows, with the test mean Dice the search then serves (both trainings' test scores were recorded by
the search, so nothing is trained or tested again).

    python bench/final_choice_replay.py [--keys kvasir.search_60m kvasir.search_60m_seed1 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, host, write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCE = RESULTS / "budget_quality.json"
KEYS = ("kvasir.search_60m", "kvasir.search_60m_seed1", "kvasir.search_60m_seed2", "kvasir.search_60m_seed3")
MARGIN_SE = 1.0  # the search's --default-margin default


def figures_at(blob: dict, key: str) -> dict:
    """The figures under a dotted key of the results file."""
    for part in key.split("."):
        blob = blob[part]
    return blob


def image_dice_of(client, run_id: str, data) -> dict[str, float]:
    """A final training's kept checkpoint scored on its own validation split, image by image (recipes.Validator)."""
    from recipes import TrialParams, Validator
    from recipes.train import fold_of
    from search.predict import load_trial_model

    model, meta = load_trial_model(client, run_id)
    params = TrialParams.from_config(meta["params"])
    validator = Validator(fold_of(params, data), meta["eval_tile"], 0.25, keep=0, side=params.image_side)
    with np.errstate(all="ignore"):
        validator(model)
    return validator.image_dice


def replay(key: str, figures: dict) -> dict:
    """Both rules' choice on one finished search, and the test mean Dice each would serve."""
    from mlflow import MlflowClient

    from datasets import load_dataset
    from search.noise import choose_best, choose_final

    store = Path(figures["store"])
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("kvasir-budget")
    finals = client.search_runs([exp.experiment_id], "tags.`unet.role` = 'final' and attributes.status = 'FINISHED'")
    os.environ["UNET_SEARCH_CACHE"] = str(store / "cache")  # the search's own store: nothing decoded again
    data = load_dataset("folder", SHARED / "kvasir", num_classes=2, split_lists=str(SHARED / "kvasir" / "splits"), seed=figures["seed"])
    default = next(r.info.run_name for r in finals if "-default" in r.info.run_name)
    images = {r.info.run_name: image_dice_of(client, r.info.run_id, data) for r in finals}
    split = {name: {0: r.data.metrics["best_val_dice"]} for r in finals for name in [r.info.run_name]}
    tagged = [r.data.tags.get("unet.val_images", "").split(",")[:-1] for r in finals]  # the names each trained against (the tag may be cut: not the last)
    same_split = all(names and list(images[r.info.run_name])[:len(names)] == names for r, names in zip(finals, tagged))
    before = choose_best(split, default)
    today = choose_final(images, default, MARGIN_SE, unit="validation images")
    test = lambda name: figures["default_unet_mean_dice"] if name == default else figures["mean_dice"]  # noqa: E731 - the search scored both
    diffs = np.array([images[today.challenger][k] - images[default][k] for k in images[default]]) if today.challenger else np.array([])
    return {"store": str(store), "seed": figures["seed"], "default": default, "finalist": today.challenger,
            "val_images": len(images[default]), "same_split_as_trained": same_split, "val_mean_dice": {n: round(float(np.mean(list(v.values()))), 4) for n, v in images.items()},
            "paired_margin": round(today.margin, 4), "paired_se": round(float(diffs.std(ddof=1) / np.sqrt(len(diffs))), 4) if len(diffs) > 1 else None,
            "ci95": [round(today.low, 4), round(today.high, 4)],
            "before": {"winner": before.winner, "test_mean_dice": round(test(before.winner), 4)},
            "today": {"winner": today.winner, "test_mean_dice": round(test(today.winner), 4), "reason": today.reason}}


def main() -> int:
    """Replay both rules on every listed search; write bench/results/final_choice_replay.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", nargs="+", default=list(KEYS))
    args = parser.parse_args()
    blob = json.loads(SOURCE.read_text())
    runs = {}
    for key in args.keys:
        figures = figures_at(blob, key)
        if not Path(figures.get("store", "")).is_dir():
            print(f"{key}: its store {figures.get('store')} is gone; skipped")
            continue
        runs[key] = replay(key, figures)
        print(key, json.dumps(runs[key]))
    means = {rule: round(float(np.mean([r[rule]["test_mean_dice"] for r in runs.values()])), 4) for rule in ("before", "today")}
    spread = {rule: round(float(np.std([r[rule]["test_mean_dice"] for r in runs.values()], ddof=1)), 4) if len(runs) > 1 else None for rule in ("before", "today")}
    out = {"bench": "final_choice_replay", "date": time.strftime("%Y-%m-%d"), "host": host(), "margin_se": MARGIN_SE, "runs": runs,
           "test_mean_dice": means, "test_mean_dice_sd": spread,
           "default_unet_test_mean_dice": round(float(np.mean([figures_at(blob, k)["default_unet_mean_dice"] for k in runs])), 4)}
    print(json.dumps({k: out[k] for k in ("test_mean_dice", "test_mean_dice_sd", "default_unet_test_mean_dice")}))
    write_results("final_choice_replay", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
