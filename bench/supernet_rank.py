"""Can one supernet training per depth rank the 30 depth x skip configurations as the stand-alone study does?

For each dataset with a recorded study (bench/results/curves_<dataset>.csv: 30 configurations x 3 folds, trained with
`--space ablation --folds 3 --max-epochs 8 --patches-per-epoch 320 --base-channels 8 --patch-size auto --lr 3e-3
--loss dice_bce --seed 0`), and for each fold, it trains one skip supernet per depth (recipes.supernet.fit_supernet: the
study's own recipe, seed and fold, the same epochs) and scores every pattern on that fold's validation images. Against
the truth (each configuration's mean best Dice over the study's 3 folds) it reports:
- Spearman and Kendall tau of the 30 estimates, overall and within depth; beside them the same figures for the
  stand-alone study's own single fold (the ranking the supernet replaces), both against the 3-fold truth and, since a
  fold's own noise is part of that truth, against the other two folds alone;
- the compute: the supernets' training and scoring in CPU seconds (core-seconds: the bench trains on 2 threads, the
  study's trials trained on one thread each, so their recorded wall seconds are core-seconds), plus the top-k stand-alone
  trainings (their recorded seconds on that fold: the same recipe, seed and fold the product's retraining runs), as a
  fraction of the whole study's recorded seconds;
- the regret of the top-k pick (retrain the k best estimates stand-alone, keep the best on the fold), and random
  search's median regret at the same compute (as many stand-alone trainings as that compute buys, best kept).
Variants (--variants) show what was tried: sampling rule, warm-up, batch-norm recalibration.

    python bench/supernet_rank.py [--datasets drive,isbi2012] [--folds 0,1,2] [--variants fair,uniform,...] [--smoke]

It writes bench/results/supernet_rank.json (after every variant, so a long run keeps what it measured).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.curves import read_curves, true_scores  # noqa: E402
from analysis.regret import regret  # noqa: E402
from analysis.supernet import rank_agreement, top_k_regret  # noqa: E402
from bench.common import RESULTS, write_results  # noqa: E402
from unet_core.skips import run_key  # noqa: E402

TOP_K = 3
TARGET_SPEARMAN, TARGET_COMPUTE, TARGET_REGRET = 0.7, 0.1, 0.005
VARIANTS = {  # name -> SupernetSettings arguments, and the supernet's epochs as a multiple of the study's
    "fair+shared-bn": ({"sampling": "fair", "recalibrate_batches": 0}, 1),
    "fair+recal8": ({"sampling": "fair", "recalibrate_batches": 8}, 1),
    "fair+recal32": ({"sampling": "fair", "recalibrate_batches": 32}, 1),
    "uniform+shared-bn": ({"sampling": "uniform", "recalibrate_batches": 0}, 1),
    "fair+warmup2+shared-bn": ({"sampling": "fair", "warmup_epochs": 2, "recalibrate_batches": 0}, 1),
    "fair+shared-bn+2x-epochs": ({"sampling": "fair", "recalibrate_batches": 0}, 2),
}
DEFAULT = "fair+shared-bn"
STUDY = dict(epochs=8, patches_per_epoch=320, seed=0, loss="dice_bce", base_channels=8, lr=3e-3, batch_size=16, folds=3, split_seed=0)


def fold_scores(table: pd.DataFrame, fold: int) -> pd.Series:
    """Each configuration's best validation Dice on one fold of the study (seed 0)."""
    rows = table[(table.fold == fold) & (table.seed == table.seed.min())]
    return rows.groupby("config").val_dice.max()


def fold_seconds(table: pd.DataFrame, fold: int) -> pd.Series:
    """Each configuration's training seconds on one fold of the study."""
    rows = table[(table.fold == fold) & (table.seed == table.seed.min())]
    return rows.groupby("config").seconds.sum()


def random_regret(scores: pd.Series, seconds: pd.Series, truth: pd.Series, budget_s: float, draws: int = 2000, seed: int = 0) -> dict[str, float]:
    """Random search at `budget_s`: configurations drawn without replacement and trained stand-alone until the budget is
    spent (at least one), the best on the fold kept; median and 90th-percentile regret over `draws`."""
    rng = np.random.default_rng(seed)
    names = np.array(scores.index)
    out, counts = [], []
    for _ in range(draws):
        order = rng.permutation(names)
        n = max(1, int(np.searchsorted(np.cumsum(seconds[order].to_numpy()), budget_s, side="right")))
        counts.append(n)
        out.append(regret(truth, max(order[:n], key=lambda c: scores[c])))
    return {"median": float(np.median(out)), "p90": float(np.quantile(out, 0.9)), "trainings": float(np.median(counts))}


def load_data(dataset: str, root: Path):
    """The dataset as the study read it."""
    from datasets import load_dataset

    return load_dataset(dataset, str(root / dataset), seed=0)


def estimate_fold(data, fold: int, depths: list[int], patch: int, settings, epochs: int) -> tuple[pd.Series, float]:
    """Every configuration's supernet estimate on one fold (one supernet per depth) and the CPU seconds spent (core-seconds,
    comparable with the study's: its trials trained on one thread each)."""
    from recipes.params import TrialParams
    from recipes import RecipeSettings
    from recipes.supernet import fit_supernet

    est, secs = {}, 0.0
    for depth in depths:
        params = TrialParams(depth=depth, skips="1" * depth, patch_size=patch, patch_stride=patch // 2, fold=fold, **{**STUDY, "epochs": epochs})
        result = fit_supernet(params, data, settings, RecipeSettings(cpus=2))
        secs += result.cpu_seconds
        for pattern, metrics in result.estimates.items():
            est[run_key(depth, pattern)] = metrics["dice"]
    return pd.Series(est), secs


def measure(dataset: str, table: pd.DataFrame, data, folds: list[int], variant: str, patch: int) -> dict:
    """One variant on one dataset: agreement, compute and regret per fold, and their means."""
    from recipes.supernet import SupernetSettings

    kwargs, factor = VARIANTS[variant]
    settings = SupernetSettings(**kwargs)
    truth = true_scores(table)
    study_s = float(table.seconds.sum())
    depths = sorted(table.depth.unique().tolist())
    per_fold = []
    for fold in folds:
        t = time.perf_counter()
        est, secs = estimate_fold(data, fold, depths, patch, settings, STUDY["epochs"] * factor)
        scores, seconds = fold_scores(table, fold), fold_seconds(table, fold)
        others = table[table.fold != fold].groupby(["config", "fold"]).val_dice.max().groupby("config").mean()
        pick = top_k_regret(est, scores, truth, TOP_K)
        compute_s = secs + float(seconds[pick["top"]].sum())
        row = {
            "fold": fold, "supernet_seconds": round(secs, 1), "compute_seconds": round(compute_s, 1),
            "compute_fraction": compute_s / study_s, "supernet": rank_agreement(est, truth), "supernet_vs_other_folds": rank_agreement(est, others),
            "one_fold_standalone": rank_agreement(scores, truth), "one_fold_standalone_vs_other_folds": rank_agreement(scores, others),
            "top_k": pick["top"], "pick": pick["pick"], "regret": pick["regret"],
            "supernet_own_pick_regret": top_k_regret(est, scores, truth, 1)["regret"],
            "random_at_equal_compute": random_regret(scores, seconds, truth, compute_s),
            "estimates": {c: round(float(v), 4) for c, v in est.sort_values(ascending=False).items()},
        }
        per_fold.append(row)
        print(f"{dataset} {variant} fold {fold}: Spearman {row['supernet']['spearman']:.3f} (one stand-alone fold {row['one_fold_standalone']['spearman']:.3f}), "
              f"within depth {row['supernet']['spearman_within_depth']:.3f}, compute {row['compute_fraction']:.3f} of the study, "
              f"top-{TOP_K} regret {row['regret']:.4f} (random {row['random_at_equal_compute']['median']:.4f}), {time.perf_counter() - t:.0f} s", flush=True)
    mean = lambda f: float(np.mean([f(r) for r in per_fold]))  # noqa: E731
    spread = lambda f: [float(min(f(r) for r in per_fold)), float(max(f(r) for r in per_fold))]  # noqa: E731
    return {
        "settings": {**settings.to_dict(), "epochs": STUDY["epochs"] * factor}, "folds": per_fold,
        "spearman": mean(lambda r: r["supernet"]["spearman"]), "spearman_range": spread(lambda r: r["supernet"]["spearman"]),
        "kendall": mean(lambda r: r["supernet"]["kendall"]), "kendall_range": spread(lambda r: r["supernet"]["kendall"]),
        "spearman_within_depth": mean(lambda r: r["supernet"]["spearman_within_depth"]),
        "one_fold_standalone_spearman": mean(lambda r: r["one_fold_standalone"]["spearman"]),
        "supernet_vs_other_folds_spearman": mean(lambda r: r["supernet_vs_other_folds"]["spearman"]),
        "one_fold_standalone_vs_other_folds_spearman": mean(lambda r: r["one_fold_standalone_vs_other_folds"]["spearman"]),
        "compute_fraction": mean(lambda r: r["compute_fraction"]), "compute_fraction_range": spread(lambda r: r["compute_fraction"]),
        "regret": mean(lambda r: r["regret"]), "regret_range": spread(lambda r: r["regret"]),
        "random_regret_at_equal_compute": mean(lambda r: r["random_at_equal_compute"]["median"]),
        "study_seconds": round(study_s, 1),
    }


def verdict(figures: dict) -> dict:
    """The default variant's figures against the targets, per dataset."""
    out = {}
    for dataset, by_variant in figures.items():
        d = by_variant.get(DEFAULT)
        if d:
            out[dataset] = {"spearman": d["spearman"], "spearman_met": d["spearman"] >= TARGET_SPEARMAN,
                            "compute_fraction": d["compute_fraction"], "compute_met": d["compute_fraction"] <= TARGET_COMPUTE,
                            "regret": d["regret"], "regret_met": d["regret"] <= TARGET_REGRET}
    return out


def smoke() -> int:
    """Seconds: one depth-1 and depth-2 supernet on a planted table of synthetic data, nothing written."""
    from datasets import load_dataset
    from recipes.params import TrialParams
    from recipes.supernet import SupernetSettings, fit_supernet

    data = load_dataset("synthetic", None, seed=0)
    est = {}
    for depth in (1, 2):
        params = TrialParams(depth=depth, skips="1" * depth, patch_size=32, patch_stride=16, epochs=1, patches_per_epoch=32, base_channels=4)
        for pattern, m in fit_supernet(params, data, SupernetSettings(recalibrate_batches=2)).estimates.items():
            est[run_key(depth, pattern)] = m["dice"]
    est = pd.Series(est)
    truth = pd.Series(np.linspace(0.5, 0.8, len(est)), index=est.index)
    print(f"smoke: {len(est)} estimates, Spearman vs a planted truth {rank_agreement(est, truth)['spearman']:.2f}, "
          f"top-{TOP_K} regret {top_k_regret(est, truth, truth, TOP_K)['regret']:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/supernet_rank.json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="drive,isbi2012")
    p.add_argument("--folds", default="0,1,2")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--smoke", action="store_true", help="seconds: synthetic data, nothing written")
    a = p.parse_args(argv)
    if a.smoke:
        return smoke()
    import torch

    from datasets import compute_fingerprint

    torch.set_num_threads(2)
    root = Path(a.data_root)
    if not root.is_dir():
        print(f"supernet_rank: no data at {root} (the real DRIVE and ISBI 2012 layouts are needed)", file=sys.stderr)
        return 2
    folds = [int(f) for f in a.folds.split(",")]
    variants = [v.strip() for v in a.variants.split(",")]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        print(f"supernet_rank: unknown variants {', '.join(sorted(unknown))}: choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    figures: dict[str, dict] = {}
    previous = RESULTS / "supernet_rank.json"
    if previous.exists():  # keep what an earlier run of other variants or datasets measured
        import json

        figures = json.loads(previous.read_text()).get("datasets", {})
    for variant in variants:
        for dataset in a.datasets.split(","):
            table = read_curves(RESULTS / f"curves_{dataset}.csv")
            data = load_data(dataset, root)
            patch = compute_fingerprint(data).recommended_patch
            figures.setdefault(dataset, {})[variant] = measure(dataset, table, data, folds, variant, patch)
            write_results("supernet_rank", {"top_k": TOP_K, "targets": {"spearman": TARGET_SPEARMAN, "compute_fraction": TARGET_COMPUTE,
                                                                         "regret": TARGET_REGRET}, "default": DEFAULT,
                                            "datasets": figures, "verdict": verdict(figures)})
    for dataset, v in verdict(figures).items():
        print(f"{dataset} ({DEFAULT}): Spearman {v['spearman']:.3f} (target >= {TARGET_SPEARMAN}), compute {v['compute_fraction']:.3f} of the study "
              f"(target <= {TARGET_COMPUTE}), top-{TOP_K} regret {v['regret']:.4f} (target <= {TARGET_REGRET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
