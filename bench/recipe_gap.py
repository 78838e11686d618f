"""Where the search's final-round recipe loses to the plain whole-image recipe on Kvasir-SEG, one factor at a time.

Both train the same network (depth 4, every skip, 16 wide, batch 8, Dice+BCE, Adam, bf16 + channels_last where bf16
is native, a cosine to 1% over a fixed number of epochs) on the same 704 of the 880 `splits/train.txt` images at 160 px,
and are scored on the 120 `splits/val.txt` images at original resolution, each image predicted once (mean per-image
Dice). They differ in:

- `platform`: `recipes.train_and_report` as a budget plan's final round ran it before the plan set the learning rate
  (search.plan.planner.PLAN_LR): the store's aspect-kept resize, padded outside the valid mask; `augment light`: flips
  and 90-degree turns; lr 3e-3; best epoch on 32 validation images, then the closing on all 176; with TrialParams
  overrides per variant (`lr`, `augment`);
- `plain`: bench.predict_tta's recipe (square resize, flips only, lr 1e-3, best epoch on all 176 held-out images every
  epoch), with `lr` and `rot90` overrides per variant.

- `drive`: the same final-round recipe on DRIVE at its 30-min plan's geometry (full resolution, 64-px patches, 800 an
  epoch), with an `lr` override: what the Kvasir finding would do to thin structures.

Two variants train side by side, one core each; every variant is listed by name in --variants.

    python bench/recipe_gap.py --variants platform,plain --epochs 40 [--seed 0]   (platform:1 = that variant at seed 1)

Merges each variant's figures into bench/results/recipe_gap.json under "<variant>@<epochs>e-s<seed>".
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS  # noqa: E402
from bench.predict_tta import dice, kvasir_case, kvasir_fold_cases, kvasir_split  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KVASIR = SHARED / "kvasir"
VARIANTS = {
    "platform": ("platform", {}),
    "platform_lr1e-3": ("platform", {"lr": 1e-3}),
    "platform_flips": ("platform", {"augment": "flips"}),
    "platform_lr1e-3_flips": ("platform", {"lr": 1e-3, "augment": "flips"}),
    "drive": ("drive", {}),
    "drive_lr1e-3": ("drive", {"lr": 1e-3}),
    "plain": ("plain", {}),
    "plain_lr3e-3": ("plain", {"lr": 3e-3}),
    "plain_rot90": ("plain", {"rot90": True}),
}


def platform_run(job: tuple, dataset: str = "kvasir") -> dict:
    """The final round's recipe for `epochs`, with TrialParams `overrides`; its kept model scored on the test split.
    `dataset` "drive": DRIVE at its 30-min plan's geometry (full resolution, 64-px patches, 800 an epoch), scored by
    global foreground Dice inside the field of view (`mean_dice` there is the per-image mean)."""
    name, overrides, epochs, seed = job
    import torch

    from datasets import load_dataset
    from datasets.types import full_images
    from recipes.params import TrialParams
    from recipes.settings import RecipeSettings
    from recipes.train import train_and_report
    from unet_core import UNet, evaluate_images

    torch.set_num_threads(1)
    if dataset == "drive":
        data = load_dataset("drive", SHARED / "drive", seed=0)
        geometry = {"patch_size": 64, "patch_stride": 32, "patches_per_epoch": 800, "image_side": 0}
    else:
        data = load_dataset("folder", KVASIR, seed=0, num_classes=2, split_lists=str(KVASIR / "splits"))
        geometry = {"patch_size": 160, "patch_stride": 80, "image_side": 160}
    params = TrialParams(depth=4, skips="1111", base_channels=16, batch_size=8, schedule="cosine", epochs=epochs, seed=seed, **geometry, **overrides)
    kept = {}

    class Keeper:
        def log_best(self, state, meta, validator, title):
            kept.update(state=state, meta=meta, title=title)

        def log_epoch(self, metrics, step):
            kept.setdefault("curve", []).append((step, round(metrics["val_dice"], 4), round(metrics["train_loss"], 4)))

    start = time.perf_counter()
    best = train_and_report(params, data, RecipeSettings(cpus=1, val_images=32, closing_val=True), run=Keeper())
    train_s = time.perf_counter() - start
    model = UNet(**kept["meta"]["model"])
    model.load_state_dict(kept["state"])
    model.eval()
    with torch.no_grad():
        test = evaluate_images(model, full_images(data.test), data.num_classes, kept["meta"]["eval_tile"], 0.5, data.background,
                               side=params.image_side, per_image=True)
    return {"variant": name, "mean_dice": test["mean_dice"], "global_dice": test["dice"], "val_dice": best["val_dice"], "epochs": epochs,
            "kept": kept["title"], "train_s": round(train_s, 1), "curve": kept["curve"][:: max(1, epochs // 10)]}


def plain_run(job: tuple) -> dict:
    """bench.predict_tta's plain recipe for `epochs` (cosine to 1% over them), with `lr` / `rot90` overrides; its best
    epoch on the 176 held-out images scored on the test split."""
    name, overrides, epochs, seed = job
    import torch
    import torch.nn.functional as F

    from unet_core import (
        UNet,
        build_loss,
        cpu_has_native_bf16,
        predict_image,
        seed_everything,
    )
    from unet_core.inference import autocast_context
    from unet_core.schedules import cosine_factor

    torch.set_num_threads(1)
    seed_everything(seed)
    lr, rot90 = overrides.get("lr", 1e-3), overrides.get("rot90", False)
    _, test_names = kvasir_split(KVASIR, False)
    train, val = kvasir_fold_cases(KVASIR, seed, False)
    model = UNet(3, 1, 4, None, 16)
    bf16 = cpu_has_native_bf16()
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss("dice_bce")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    images = torch.from_numpy(np.stack([c[0] for c in train]))
    masks = torch.from_numpy(np.stack([c[1] for c in train]))
    best, state, curve, rng, start = -1.0, None, [], np.random.default_rng(seed), time.perf_counter()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr * cosine_factor(epoch / epochs)
        model.train()
        total = 0.0
        batches = np.array_split(rng.permutation(len(train)), max(1, len(train) // 8))
        for idx in batches:
            x, y = images[idx], masks[idx]
            for dim in (-1, -2):
                if rng.random() < 0.5:
                    x, y = x.flip(dim), y.flip(dim)
            if rot90 and rng.random() < 0.5:
                x, y = torch.rot90(x, 1, (-2, -1)), torch.rot90(y, 1, (-2, -1))
            opt.zero_grad()
            with autocast_context(torch.device("cpu"), bf16, cpu=True):
                logits = model(x.contiguous(memory_format=torch.channels_last) if bf16 else x)
            loss = loss_fn(logits.float(), y)
            loss.backward()
            opt.step()
            total += float(loss)
        model.eval()
        with torch.no_grad():
            score = float(np.mean([dice(F.interpolate(torch.sigmoid(model(torch.from_numpy(c[0])[None])), size=c[2].shape, mode="bilinear")[0, 0].numpy() >= 0.5, c[2])
                                   for c in val]))
        curve.append((epoch + 1, round(score, 4), round(total / len(batches), 4)))
        if score > best:
            best, state = score, {k: v.clone() for k, v in model.state_dict().items()}
    train_s = time.perf_counter() - start
    model.load_state_dict(state)
    model.eval()
    scores = []
    with torch.no_grad():
        for n in test_names:
            small, _, truth = kvasir_case(KVASIR, n)
            probs = predict_image(model, torch.from_numpy(small), 160)
            scores.append(dice(F.interpolate(probs[None], size=truth.shape, mode="bilinear")[0, -1].numpy() >= 0.5, truth))
    return {"variant": name, "mean_dice": float(np.mean(scores)), "val_dice": best, "epochs": epochs, "train_s": round(train_s, 1),
            "curve": curve[:: max(1, epochs // 10)]}


def run(job: tuple) -> dict:
    """One variant (a pool job)."""
    name, epochs, seed = job
    kind, overrides = VARIANTS[name]
    if kind == "plain":
        return plain_run((name, overrides, epochs, seed))
    return platform_run((name, overrides, epochs, seed), "drive" if kind == "drive" else "kvasir")


def main() -> int:
    """Train the listed variants two at a time; merge their figures into bench/results/recipe_gap.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", required=True, help=f"comma-separated, of: {', '.join(VARIANTS)}; name:K trains it with seed K")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    jobs = [(v.split(":")[0], a.epochs, int(v.split(":")[1]) if ":" in v else a.seed) for v in a.variants.split(",")]
    if unknown := [n for n, _, _ in jobs if n not in VARIANTS]:
        print(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        out = pool.map(run, jobs)
    path = RESULTS / "recipe_gap.json"
    blob = json.loads(path.read_text()) if path.exists() else {"bench": "recipe_gap", "runs": {}}
    blob["date"] = time.strftime("%Y-%m-%d")
    for (_, _, seed), r in zip(jobs, out):
        blob["runs"][f"{r['variant']}@{a.epochs}e-s{seed}"] = r
        print(f"{r['variant']:<24} {a.epochs} epochs seed {seed}: test mean Dice {r['mean_dice']:.3f} (val {r['val_dice']:.3f}, {r['train_s']:.0f} s)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(blob, indent=2) + "\n")
    if len(out) == 2:  # the pair's difference, same epochs, last
        print(f"{out[1]['variant']} - {out[0]['variant']} test mean Dice: {out[1]['mean_dice'] - out[0]['mean_dice']:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
