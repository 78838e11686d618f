"""bf16 against fp32 training on real DRIVE: the same foreground Dice within seed noise? Paired by seed.

One configuration (depth 3, all skips, the study's fixed values: 8 channels, 64-px patches, Dice+BCE, lr 3e-3) is
trained through the trial's own code (recipes.train_and_report) once per seed in fp32 and once in bf16
autocast, with the same seed, so both precisions start from the same weights and see the same patches. The
validation Dice (foreground, DRIVE's 4 validation images, inside the FOV) is compared pairwise.

On a CPU without native bf16, `--precision auto` trains in fp32 (bf16 is several times slower there); this bench
forces bf16 anyway to check its numerics, so its speed figure is only meaningful where `native_bf16` is true.

    python bench/precision.py [--data-root ../shared/data/drive] [--seeds 3] [--epochs 6] [--smoke]

Writes bench/results/precision.json; the last line holds the paired difference and the seed noise.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import write_results  # noqa: E402


def main() -> None:
    """Train the configuration in both precisions per seed and compare."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "drive"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--patches-per-epoch", type=int, default=320)
    p.add_argument("--smoke", action="store_true", help="seconds: synthetic data, 2 seeds, 1 epoch")
    a = p.parse_args()
    import torch

    import recipes.train as trial
    from analysis.stats import bootstrap_ci
    from datasets import load_dataset
    from recipes.params import TrialParams
    from unet_core import cpu_has_native_bf16, resolve_precision

    torch.set_num_threads(1)
    data = load_dataset("synthetic") if a.smoke else load_dataset("drive", a.data_root)
    seeds, epochs = (2, 1) if a.smoke else (a.seeds, a.epochs)
    ctx = trial.RecipeSettings(cpus=1.0)
    rows = []
    for seed in range(seeds):
        for precision in ("fp32", "bf16"):
            # force real bf16 autocast even where the CPU would fall back to fp32: this bench checks the numerics
            trial.resolve_precision = partial(resolve_precision, native_bf16=True)
            params = TrialParams(depth=3, skips="111", patch_size=64, patch_stride=32, base_channels=8, lr=3e-3, loss="dice_bce", augment="light",
                                 batch_size=16, epochs=epochs, patches_per_epoch=32 if a.smoke else a.patches_per_epoch, seed=seed, precision=precision)
            start = time.perf_counter()
            reports: list[dict] = []
            best = trial.train_and_report(params, data, ctx, reports.append)
            rows.append({"seed": seed, "precision": precision, "val_dice": round(best["val_dice"], 4), "train_s": round(reports[-1]["total_train_time_s"], 1),
                         "wall_s": round(time.perf_counter() - start, 1)})
            print(rows[-1], flush=True)
    fp32 = [r["val_dice"] for r in rows if r["precision"] == "fp32"]
    bf16 = [r["val_dice"] for r in rows if r["precision"] == "bf16"]
    diffs = [b - f for b, f in zip(bf16, fp32)]
    low, high = bootstrap_ci(diffs)
    noise = statistics.stdev(fp32) if len(fp32) > 1 else float("nan")
    mean = statistics.mean(diffs)
    within = abs(mean) <= noise and (not low > 0 and not high < 0)
    time_ratio = sum(r["train_s"] for r in rows if r["precision"] == "bf16") / sum(r["train_s"] for r in rows if r["precision"] == "fp32")
    figures = {"configuration": "d3-s111, 8 channels, 64-px patches, Dice+BCE, lr 3e-3", "epochs": epochs, "seeds": seeds,
               "native_bf16": cpu_has_native_bf16(), "trials": rows, "paired_difference_bf16_minus_fp32": round(mean, 4),
               "difference_ci95": [round(low, 4), round(high, 4)], "seed_std_fp32": round(noise, 4), "same_within_seed_noise": bool(within),
               "bf16_over_fp32_train_time": round(time_ratio, 2)}
    if not a.smoke:
        write_results("precision", figures)
    print(f"bf16 - fp32 validation Dice: {mean:+.4f} [{low:+.4f}, {high:+.4f}] over {seeds} paired seeds; fp32 seed std {noise:.4f}; "
          f"same within seed noise: {within}; bf16 / fp32 train time {time_ratio:.2f} (native bf16: {figures['native_bf16']})")


if __name__ == "__main__":
    main()
