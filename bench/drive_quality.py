"""Quality on real DRIVE: the platform's pick against a plain U-Net trained the tutorial way, and the literature.

1. Search: ASHA + Optuna over depth 3-4 and the skip bits (the `arch` space: 16 of its 24 configurations sampled,
   12 epochs of 1024 patches at most, 8 channels wide) on the green channel with CLAHE and gamma, scored on a
   validation split carved from the 20 training images (the test images are never looked at).
2. Final training, two at a time, each arm on one core for the same wall time, each with --seeds seeds (the seed sets
   the initial weights, the patches and their augmentation, the same for every arm):
   - ours: the chosen depth/skips, 16 channels wide, 96x96 random patches with flips and rotations, Dice+BCE,
     Adam with a warm-up and a cosine decay over the budget, NHWC tensors and a bf16 forward pass where the CPU
     has native bf16 (twice the steps of float32 on this AVX512-BF16 machine); predicted in float32 with the
     8 flips/rotations averaged;
   - recipe: the same recipe on the default architecture (depth 4, all skips), so that ours - recipe is the
     search's share of the gain and recipe - plain the recipe's share;
   - plain: the tutorial U-Net (depth 3, all skips, batch norm, 16 wide, RGB input, 64x64 random patches,
     Dice+BCE, flips, Adam at a constant 1e-3, float32).
3. Every arm is scored on the 20 test images inside the field of view with full-image overlap-tile inference:
   F1 (foreground Dice), IoU, ROC-AUC, accuracy, sensitivity, specificity, beside the published U-Net
   figures of orobix/retina-unet and the all-pixel Dice (with background) that hides a poor model. The shares
   are paired by seed: their mean and the range over seeds.

    python bench/drive_quality.py [--data-root ../shared/data/drive] [--minutes 40] [--seeds 3] [--smoke]

Writes bench/results/drive_quality.json (drive_quality_<M>min.json for another --minutes; test_f1, test_auc, ... as means over seeds; per seed under each arm; the shares);
the last line holds the key figures.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import paired, write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PREPROCESS = {"green": True, "clahe": True, "gamma": 1.2}
PUBLISHED = {"source": "orobix/retina-unet (U-Net, DRIVE test, inside the FOV)", "f1": 0.8161, "auc": 0.9790, "accuracy": 0.9560}
TEST_TILE = 640  # DRIVE's 584x565 images are predicted as one mirror-padded tile
REPORTED = ("dice", "iou", "auc", "accuracy", "recall", "specificity", "precision", "dice_with_background")


def flips(image, mask, valid, weight=None):
    """The tutorial's augmentation: random horizontal and vertical flips."""
    for axis in (-1, -2):
        if np.random.random() < 0.5:
            image, mask, valid = np.flip(image, axis), np.flip(mask, axis), np.flip(valid, axis)
    return image, mask, valid, weight


def arms(choice: dict, smoke: bool) -> dict[str, dict]:
    """The three final-training recipes: ours (searched architecture, tuned recipe), recipe (default architecture, tuned
    recipe) and plain (tutorial architecture and recipe)."""
    width = 4 if smoke else 16
    tuned = {"options": PREPROCESS, "width": width, "patch": 96, "batch": 8, "lr": 3e-3, "schedule": "cosine", "augment": "light",
             "tta": True, "fast": True}
    default_depth = 2 if smoke else 4  # the smoke's synthetic search only tries depths 1-2
    return {
        "ours": {**tuned, "depth": choice["depth"], "skips": choice["skips"]},
        "recipe": {**tuned, "depth": default_depth, "skips": "1" * default_depth},
        "plain": {"options": {}, "depth": 3, "skips": "111", "width": width, "patch": 64, "batch": 16, "lr": 1e-3, "schedule": "constant",
                  "augment": "flips", "tta": False, "fast": False},
    }


def summarise(runs: list[dict]) -> dict:
    """One arm over its seeds: the mean of every reported metric, and the per-seed runs."""
    return {**{k: float(np.mean([r[k] for r in runs])) for k in REPORTED}, "recipe": runs[0]["recipe"],
            "steps": int(np.mean([r["steps"] for r in runs])), "samples": int(np.mean([r["samples"] for r in runs])), "seeds": runs}


def train_arm(job: tuple) -> dict:
    """One arm: train on all 20 training images for the budget on one core, then score the test images."""
    name, recipe, dataset, root, seconds, seed = job
    import torch
    from torch.utils.data import DataLoader

    from datasets import RandomPatchDataset, build_augmentation, full_images, load_dataset
    from unet_core import BudgetConfig, UNet, build_loss, cpu_has_native_bf16, evaluate_images, seed_everything, train_for

    torch.set_num_threads(1)
    seed_everything(seed)
    options = recipe["options"] if dataset == "drive" else {}
    data = load_dataset(dataset, root, **options)
    augment = flips if recipe["augment"] == "flips" else build_augmentation(recipe["augment"], seed=seed)
    patches = RandomPatchDataset(data.train + data.val, recipe["patch"], 10**6, augment, seed=seed)
    loader = DataLoader(patches, batch_size=recipe["batch"])
    model = UNet(data.in_channels, 1, depth=recipe["depth"], skips=recipe["skips"], base_channels=recipe["width"])
    fast = recipe["fast"]  # NHWC, and bf16 autocast where the CPU has native bf16
    budget = BudgetConfig(seconds=seconds, lr=recipe["lr"], schedule=recipe["schedule"], channels_last=fast, bf16=fast and cpu_has_native_bf16())
    trained = train_for(model, build_loss("dice_bce"), loader, budget)
    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        metrics = evaluate_images(model, full_images(data.test), 1, TEST_TILE, 0.5, 0, tta="dihedral" if recipe["tta"] else "none")
    return {"arm": name, "seed": seed, "recipe": recipe, "bf16": budget.bf16, **trained, "eval_seconds": time.perf_counter() - start,
            "params": sum(p.numel() for p in model.parameters()), **{k: metrics[k] for k in REPORTED}}


def search(dataset: str, root: str | None, smoke: bool, tmp: Path) -> tuple[dict, float]:
    """The arch search on the validation split; returns the chosen depth/skips (with its validation Dice) and the wall seconds."""
    import ray

    from search.config import SearchConfig
    from search.driver.search import run_search

    budget = dict(num_samples=2, max_epochs=1, patches_per_epoch=32, depths=(1, 2), grace_period=1) if smoke else \
        dict(num_samples=16, max_epochs=12, patches_per_epoch=1024, depths=(3, 4), grace_period=3)
    cfg = SearchConfig(space="arch", dataset=dataset, data_root=root, dataset_options=PREPROCESS if dataset == "drive" else {},
                       base_channels=8, patch_size=64, lr=3e-3, cpus_per_trial=1.0, reduction_factor=2,
                       rerank_top=0,  # its pick is trained for 40 min next: that is this bench's final budget
                       experiment="drive-quality", tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", storage=str(tmp / "ray"), **budget)
    start = time.perf_counter()
    outcome = run_search(cfg, echo=lambda line: None)
    wall = time.perf_counter() - start
    ray.shutdown()
    best = outcome.trials.set_index("run_id").loc[outcome.best_run_id]
    return {"depth": int(best.depth), "skips": str(best.skips), "val_dice": float(outcome.best_val_dice), "trials": len(outcome.trials)}, wall


def row(label: str, m: dict) -> str:
    """One line of the comparison table."""
    return (f"{label:<34} F1 {m['dice']:.4f}  IoU {m['iou']:.4f}  AUC {m['auc']:.4f}  acc {m['accuracy']:.4f}  "
            f"sens {m['recall']:.4f}  spec {m['specificity']:.4f}  | all-pixel Dice {m['dice_with_background']:.4f}")


def main(argv: list[str] | None = None) -> int:
    """Search, train the three arms over the seeds, print and save the comparison and the shares."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "drive"))
    p.add_argument("--minutes", type=float, default=40.0, help="wall time of each arm's final training (default 40)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3; the smoke uses 2)")
    p.add_argument("--smoke", action="store_true", help="seconds: embedded synthetic data, a 2-trial search, 3 s of training per arm and seed")
    a = p.parse_args(argv)
    dataset, root, seconds, seeds = "drive", a.data_root, a.minutes * 60, a.seeds
    if a.smoke:
        dataset, root, seconds, seeds = "synthetic", None, 3.0, 2
    elif not Path(root).is_dir():
        print(f"error: no DRIVE data at {root} (--data-root)", file=sys.stderr)
        return 2
    if not seconds > 0:
        print(f"error: --minutes must be positive, got {a.minutes}", file=sys.stderr)
        return 2
    if seeds < 1:
        print(f"error: --seeds must be at least 1, got {a.seeds}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="drive-quality-") as tmp_name:
        choice, search_wall = search(dataset, root, a.smoke, Path(tmp_name))
    print(f"search: {choice['trials']} trials in {search_wall / 60:.1f} min; chosen depth {choice['depth']}, skips {choice['skips']} "
          f"(validation Dice {choice['val_dice']:.4f})", flush=True)
    recipes = arms(choice, a.smoke)
    same = recipes["ours"] == recipes["recipe"]  # the search picked the default architecture: ours is the recipe arm, trained once
    jobs = [(name, recipe, dataset, root, seconds, seed) for seed in range(seeds) for name, recipe in recipes.items() if not (same and name == "ours")]
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # two at a time, one core each
        done = pool.map(train_arm, jobs)
    total = time.perf_counter() - start
    runs = {name: [r for r in done if r["arm"] == name] for name in recipes}  # each in seed order
    if same:
        runs["ours"] = [{**r, "arm": "ours"} for r in runs["recipe"]]
    arm = {name: summarise(r) for name, r in runs.items()}
    ours, recipe, plain = arm["ours"], arm["recipe"], arm["plain"]
    shares = {"search": paired(runs["ours"], runs["recipe"]), "recipe": paired(runs["recipe"], runs["plain"]), "total": paired(runs["ours"], runs["plain"])}
    figures = {
        "dataset": dataset, "cores": os.cpu_count(), "search": choice, "search_wall_s": search_wall, "arm_train_s": seconds, "seeds": seeds,
        "total_wall_s": total, "ours": ours, "recipe": recipe, "plain": plain, "published": PUBLISHED, "f1_shares": shares,
        "test_f1": ours["dice"], "test_auc": ours["auc"], "recipe_test_f1": recipe["dice"], "plain_test_f1": plain["dice"], "plain_test_auc": plain["auc"],
        "f1_ratio": ours["dice"] / plain["dice"] if plain["dice"] else float("nan"),
    }
    if not a.smoke:  # a shorter or longer budget answers another question: its own file beside the 40-minute figures
        write_results("drive_quality" if a.minutes == 40 else f"drive_quality_{a.minutes:g}min", figures)
    print(f"final training: {seconds / 60:.1f} min per arm and seed on one core, two at a time; {seeds} seeds; total {total / 60:.1f} min")
    print(f"  ours: {ours['samples']} patches of {ours['recipe']['patch']}px ({ours['steps']} steps); recipe: {recipe['steps']} steps; "
          f"plain: {plain['samples']} patches of {plain['recipe']['patch']}px ({plain['steps']} steps) (means over seeds)")
    print(f"test split, inside the field of view ({dataset}), means over {seeds} seeds:")
    print(row(f"ours d{choice['depth']}-s{choice['skips']} (+8-view TTA)", ours))
    print(row(f"recipe on d{recipe['recipe']['depth']}-s{recipe['recipe']['skips']} (+8-view TTA)", recipe))
    print(row("plain U-Net (tutorial way)", plain))
    print(f"{'published U-Net (orobix)':<34} F1 {PUBLISHED['f1']:.4f}  AUC {PUBLISHED['auc']:.4f}  acc {PUBLISHED['accuracy']:.4f}")
    for name, what in (("search", "ours - recipe (the search's share)"), ("recipe", "recipe - plain (the recipe's share)")):
        s_ = shares[name]
        print(f"  F1 {what}: {s_['mean']:+.4f} (seeds {s_['min']:+.4f} to {s_['max']:+.4f})")
    print(f"test F1 {ours['dice']:.4f} vs recipe {recipe['dice']:.4f} vs plain {plain['dice']:.4f} (ratio ours / plain {figures['f1_ratio']:.3f}); "
          f"search's share {shares['search']['mean']:+.4f}, recipe's share {shares['recipe']['mean']:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
