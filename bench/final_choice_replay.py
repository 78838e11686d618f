"""The one-fold final round's choice replayed on finished Kvasir-SEG searches: the best at the final budget (the rule
before 2026-12-07) against the default U-Net unless a finalist beats it beyond the noise of their paired per-image
validation Dice (search.driver.final.final_choice today); beside both, the two final trainings' ensemble.

Each finished `--budget 60m` search of bench/budget_quality.py keeps its MLflow store (`store` in its figures). For each,
every final training's kept checkpoint is scored again on its own validation split (the 1/5 of the 880 training images
the final fold held out; the test split is not touched), image by image, as the trial's closing does today. The choice
both rules make follows, with the test mean Dice the search then serves (both trainings' test scores were recorded by
the search, so nothing is trained or tested again).

The ensemble (the default U-Net's and the finalist's probabilities averaged, as search.predict averages fold models) is
what nnU-Net's find_best_configuration would weigh: it is scored on the same validation images, paired against today's
choice, and on the test split as the search serves a model (flip views, search.driver.results.test_score).

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

from mlflow import MlflowClient  # noqa: E402

from bench.common import RESULTS, figures_at, host, write_results  # noqa: E402
from datasets import load_dataset  # noqa: E402
from recipes import TrialParams, Validator  # noqa: E402
from recipes.train import fold_of  # noqa: E402
from search.driver.results import test_score, trained_model  # noqa: E402
from search.noise import choose_best, choose_final  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCE = RESULTS / "budget_quality.json"
KEYS = ("kvasir.search_60m", "kvasir.search_60m_seed1", "kvasir.search_60m_seed2", "kvasir.search_60m_seed3", "kvasir.search_60m_seed4")
RAN_WITH_RULE = ("kvasir.search_60m_seed4",)  # searches whose own final round chose by today's rule: replayed for the ensemble
MARGIN_SE = 1.0  # the search's --default-margin default


def image_dice_of(models: list, meta: dict, data) -> dict[str, float]:
    """Kept checkpoints (one, or several averaged) scored on the first's own validation split, image by image
    (recipes.Validator, as a trial's closing scores them)."""
    params = TrialParams.from_config(meta["params"])
    validator = Validator(fold_of(params, data), meta["eval_tile"], 0.25, keep=0, side=params.image_side)
    with np.errstate(all="ignore"):
        validator(models if len(models) > 1 else models[0])
    return validator.image_dice


def paired(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """(mean, standard error) of a - b over the images both score."""
    d = np.array([a[k] - b[k] for k in b])
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def replay(key: str, figures: dict) -> dict:
    """Both rules' choice on one finished search, the test mean Dice each would serve, and the two final trainings'
    ensemble on the same validation images and on the test split."""
    store = Path(figures["store"])
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("kvasir-budget")
    finals = client.search_runs([exp.experiment_id], "tags.`unet.role` = 'final' and attributes.status = 'FINISHED'")
    os.environ["UNET_SEARCH_CACHE"] = str(store / "cache")  # the search's own store: nothing decoded again
    data = load_dataset("folder", SHARED / "kvasir", num_classes=2, split_lists=str(SHARED / "kvasir" / "splits"), seed=figures["seed"])
    default = next(r.info.run_name for r in finals if "-default" in r.info.run_name)
    trained = {r.info.run_name: trained_model(client, r.info.run_id) for r in finals}
    ids = {r.info.run_name: r.info.run_id for r in finals}
    images = {name: image_dice_of([model], meta, data) for name, (model, meta) in trained.items()}
    split = {name: {0: r.data.metrics["best_val_dice"]} for r in finals for name in [r.info.run_name]}
    tagged = [r.data.tags.get("unet.val_images", "").split(",")[:-1] for r in finals]  # the names each trained against (the tag may be cut: not the last)
    same_split = all(names and list(images[r.info.run_name])[:len(names)] == names for r, names in zip(finals, tagged))
    before = choose_best(split, default)
    today = choose_final(images, default, MARGIN_SE, unit="validation images")
    test = lambda name: figures["default_unet_mean_dice"] if name == default else figures["mean_dice"]  # noqa: E731 - the search scored both
    _, se = paired(images[today.challenger], images[default]) if today.challenger else (0.0, None)
    other = today.challenger  # the finalist the rule weighed
    ensemble = image_dice_of([trained[default][0], trained[other][0]], trained[default][1], data)
    lead, lead_se = paired(ensemble, images[today.winner])
    served = test_score(client, ids[default], data, trained[default], folds=(ids[other],))  # averaged as search.predict averages fold models
    return {"store": str(store), "seed": figures["seed"], "ran_with_todays_rule": key in RAN_WITH_RULE, "default": default,
            "finalist": today.challenger, "val_images": len(images[default]), "same_split_as_trained": same_split,
            "val_mean_dice": {n: round(float(np.mean(list(v.values()))), 4) for n, v in images.items()},
            "paired_margin": round(today.margin, 4), "paired_se": None if se is None else round(se, 4), "ci95": [round(today.low, 4), round(today.high, 4)],
            "before": {"winner": before.winner, "test_mean_dice": round(test(before.winner), 4)},
            "today": {"winner": today.winner, "test_mean_dice": round(test(today.winner), 4), "reason": today.reason},
            "ensemble": {"val_mean_dice": round(float(np.mean(list(ensemble.values()))), 4), "val_lead_over_today": round(lead, 4),
                         "val_lead_se": round(lead_se, 4), "test_mean_dice": round(served["mean_dice"], 4),
                         "test_lead_over_today": round(served["mean_dice"] - test(today.winner), 4)}}


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
    rules = ("before", "today", "ensemble")
    means = {rule: round(float(np.mean([r[rule]["test_mean_dice"] for r in runs.values()])), 4) for rule in rules}
    spread = {rule: round(float(np.std([r[rule]["test_mean_dice"] for r in runs.values()], ddof=1)), 4) if len(runs) > 1 else None for rule in rules}
    out = {"bench": "final_choice_replay", "date": time.strftime("%Y-%m-%d"), "host": host(), "margin_se": MARGIN_SE, "runs": runs,
           "test_mean_dice": means, "test_mean_dice_sd": spread,
           "ensemble_val_leads": sum(r["ensemble"]["val_lead_over_today"] > 0 for r in runs.values()),
           "ensemble_test_leads": sum(r["ensemble"]["test_lead_over_today"] > 0 for r in runs.values()),
           "default_unet_test_mean_dice": round(float(np.mean([figures_at(blob, k)["default_unet_mean_dice"] for k in runs])), 4)}
    print(json.dumps({k: out[k] for k in ("test_mean_dice", "test_mean_dice_sd", "default_unet_test_mean_dice", "ensemble_val_leads", "ensemble_test_leads")}))
    write_results("final_choice_replay", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
