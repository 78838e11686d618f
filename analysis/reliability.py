"""How far a study's configuration ranking can be trusted: split-half reliability, the configurations that
cannot be told from the best, whether the ranking has settled by the end of training, and rank agreement
between datasets corrected for each dataset's own unreliability."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from .stats import bootstrap_ci

CONFIG = ["depth", "skips"]
UNIT = ["seed", "fold"]  # one replicate: a training seed on one cross-validation fold
SETTLED_RHO = 0.9  # a ranking has settled once it agrees this well with the final one ...
SETTLED_BY = 0.75  # ... from this fraction of the budget on


def spearman(a, b) -> float:
    """Spearman correlation of two equally long sequences; NaN (without a warning) when either is constant or shorter than 3."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(sps.spearmanr(a, b).statistic)


def replicates(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with `seed` and `fold` filled (a study without folds has fold 0), so (seed, fold) names a replicate."""
    out = df.copy()
    for col in UNIT:
        out[col] = out[col].fillna(0).astype(int) if col in out else 0
    return out


def config_means(df: pd.DataFrame, score: str = "dice") -> pd.Series:
    """Mean score of every (depth, skips) configuration over its replicates."""
    return df.groupby(CONFIG)[score].mean()


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """The reliability of a measurement `factor` times as long as one whose reliability is `r`."""
    return factor * r / (1 + (factor - 1) * r) if np.isfinite(r) and 1 + (factor - 1) * r != 0 else float("nan")


def split_half_reliability(df: pd.DataFrame, score: str = "dice", splits: int = 200, seed: int = 0, unit: list[str] | None = None) -> dict:
    """Split the replicates (seed x fold, or whole `unit` groups) into two halves at random, rank the configurations by
    their mean in each half, and correlate the halves (Spearman); averaged over `splits` random halvings and stepped up
    to the whole study by Spearman-Brown. NaN where there are fewer than 2 replicates."""
    df = replicates(df)
    unit = unit or UNIT
    units = sorted({tuple(u) for u in df[unit].itertuples(index=False)})
    out = {"replicates": len(units), "half_spearman": float("nan"), "reliability": float("nan"), "splits": 0}
    if len(units) < 2 or df.groupby(CONFIG).ngroups < 3:
        return out
    rng = np.random.default_rng(seed)
    keyed = df.set_index(unit)
    halves = set()
    for _ in range(splits):  # a halving is an unordered pair of halves: the same two halves count once
        order = rng.permutation(len(units)).tolist()
        first, second = tuple(sorted(order[: len(units) // 2])), tuple(sorted(order[len(units) // 2 :]))
        halves.add(min(first, second) if len(first) == len(second) else first)
    rhos = []
    for first in sorted(halves):
        a = [units[i] for i in first]
        b = [u for u in units if u not in a]
        inside = (lambda us: keyed.index.isin(us)) if len(unit) > 1 else (lambda us: keyed.index.isin([u[0] for u in us]))
        ma = config_means(keyed.loc[inside(a)].reset_index(), score)
        mb = config_means(keyed.loc[inside(b)].reset_index(), score)
        common = ma.index.intersection(mb.index)
        if len(common) >= 3:
            rho = spearman(ma[common], mb[common])
            if np.isfinite(rho):
                rhos.append(float(rho))
    if rhos:
        half = float(np.mean(rhos))
        out.update(half_spearman=half, reliability=spearman_brown(half), splits=len(rhos))
    return out


def rerun_reliability(df: pd.DataFrame, score: str = "dice", splits: int = 200, seed: int = 0) -> dict:
    """How well a rerun of the study (another --seed: other initial weights and data order, another fold partition) is
    predicted to agree with it: the split-half reliability with whole seeds as the halves' units, so what a rerun
    changes differs between the halves. Within one seed every fold shares the configurations' initial weights and the
    partition, and halves of its folds agree better than reruns do: with one seed this prediction is NaN
    (`within_seed` is then the fold-level figure, an upper bound)."""
    df = replicates(df)
    seeds = sorted(df.seed.unique())
    within = split_half_reliability(df, score, splits, seed)
    out = {"seeds": len(seeds), "reliability": float("nan"), "half_spearman": float("nan"), "within_seed": within["reliability"]}
    if len(seeds) >= 2:
        whole = split_half_reliability(df, score, splits, seed, unit=["seed"])
        out.update(reliability=whole["reliability"], half_spearman=whole["half_spearman"])
    return out


def seed_agreement(df: pd.DataFrame, score: str = "dice") -> dict:
    """With two or more seeds (reruns of a study, or --repeats): what each seed alone predicted of a rerun (its split-half
    over folds) beside how well the seeds' rankings did agree (Spearman of every pair's configuration means)."""
    df = replicates(df)
    seeds = sorted(int(s) for s in df.seed.unique())
    means = {s: config_means(df[df.seed == s], score) for s in seeds}
    observed = {f"{a}-{b}": spearman(means[a], means[b].reindex(means[a].index)) for a, b in combinations(seeds, 2)}
    predicted = {str(s): split_half_reliability(df[df.seed == s], score)["reliability"] for s in seeds}
    finite = [v for v in observed.values() if np.isfinite(v)]
    return {"seeds": seeds, "predicted_by_each_seed": predicted, "observed": observed,
            "observed_mean": float(np.mean(finite)) if finite else float("nan")}


def folds_draw_their_own(df: pd.DataFrame) -> bool:
    """Whether a configuration's folds of one seed trained from draws of their own (the run's `train_seed` params differ:
    recipes.TrialParams.train_seed, studies since 2026-12-05), so halves of the folds differ as reruns do; earlier
    studies shared one draw across a seed's folds."""
    if "train_seed" not in df or df.train_seed.isna().any() or "fold" not in df:
        return False
    per = replicates(df).groupby([*CONFIG, "seed"])
    return bool((per.fold.nunique() > 1).any() and (per.train_seed.nunique() == per.fold.nunique()).all())


def indistinguishable_from_best(df: pd.DataFrame, score: str = "dice", per_depth: bool = False, level: float = 0.95) -> pd.DataFrame:
    """Every configuration against the best of its group (all, or its depth): the mean paired difference
    best - configuration over the replicates they share, its interval, and whether the best is significantly
    better. Those that are not cannot be told from the best at this budget and noise."""
    df = replicates(df)
    rows = []
    groups = df.groupby("depth") if per_depth else [("all", df)]
    for group, sub in groups:
        means = config_means(sub, score)
        best = means.idxmax()
        by_unit = sub.groupby([*CONFIG, *UNIT])[score].mean()
        best_scores = by_unit.loc[best]
        for config, mean in means.items():
            mine = by_unit.loc[config]
            shared = best_scores.index.intersection(mine.index)
            diffs = (best_scores[shared] - mine[shared]).to_numpy(float)
            low, high = bootstrap_ci(diffs, level) if config != best else (0.0, 0.0)
            worse = bool(np.isfinite(low) and low > 0)
            rows.append({"group": group if group == "all" else int(group), "depth": int(config[0]), "skips": config[1], "dice": float(mean),
                         "gap_to_best": float(diffs.mean()) if len(diffs) else float("nan"), "gap_low": low, "gap_high": high,
                         "replicates": len(diffs), "best": config == best, "indistinguishable": not worse})
    return pd.DataFrame(rows)


def running_best(curves: pd.DataFrame, score: str = "val_dice") -> pd.DataFrame:
    """Per trial (configuration x replicate), the best score reached by each epoch: the score a trial stopped there would have."""
    curves = replicates(curves).sort_values([*CONFIG, *UNIT, "epoch"])
    curves["best_so_far"] = curves.groupby([*CONFIG, *UNIT])[score].cummax()
    return curves


def ranking_settling(curves: pd.DataFrame, score: str = "val_dice") -> pd.DataFrame:
    """At every epoch, the Spearman correlation between the configurations' ranking by then (mean over replicates
    of the best score so far) and their ranking at the last epoch; only epochs every trial reached."""
    curves = running_best(curves, score)
    last = int(curves.groupby([*CONFIG, *UNIT]).epoch.max().min())
    final = curves[curves.epoch == last].groupby(CONFIG).best_so_far.mean()
    rows = []
    for epoch in sorted(e for e in curves.epoch.unique() if e <= last):
        at = curves[curves.epoch == epoch].groupby(CONFIG).best_so_far.mean()
        common = at.index.intersection(final.index)
        rho = spearman(at[common], final[common])
        rows.append({"epoch": int(epoch), "budget_fraction": epoch / last, "spearman_to_final": float(rho), "best_dice": float(at.max())})
    return pd.DataFrame(rows)


def settled_verdict(settling: pd.DataFrame, rho: float = SETTLED_RHO, by: float = SETTLED_BY) -> dict:
    """Whether the ranking had settled: from `by` of the budget on, it agreed with the final ranking at Spearman >= `rho`.
    `settled_from_epoch`: the first epoch from which it stayed at or above `rho`; `lowest_after_check`: the weakest
    agreement from `by` of the budget on, and its epoch."""
    ok = settling.spearman_to_final.fillna(-1) >= rho
    settled_from = None
    for i in range(len(settling)):
        if ok.iloc[i:].all():
            settled_from = int(settling.epoch.iloc[i])
            break
    last = int(settling.epoch.max()) if len(settling) else 0
    check = settling[settling.budget_fraction >= by - 1e-9].epoch.min() if len(settling) else None
    settled = settled_from is not None and check is not None and settled_from <= check and len(settling) > 1
    at_check = settling.loc[settling.epoch == check, "spearman_to_final"]
    late = settling[settling.epoch >= check] if check is not None else settling.iloc[0:0]
    low = late.loc[late.spearman_to_final.fillna(-1).idxmin()] if len(late) else None
    return {"settled": bool(settled), "settled_from_epoch": settled_from, "epochs": last, "check_epoch": None if check is None else int(check),
            "spearman_at_check": float(at_check.iloc[0]) if len(at_check) else float("nan"), "threshold": rho,
            "lowest_after_check": float(low.spearman_to_final) if low is not None else float("nan"),
            "lowest_epoch": int(low.epoch) if low is not None else None}


def disattenuate(r: float, reliability_a: float, reliability_b: float) -> float:
    """The correlation two datasets' rankings would have if each were measured without noise: r / sqrt(rel_a * rel_b).
    NaN where a reliability is not positive; above 1 means the observed agreement is as high as the noise allows."""
    if not (reliability_a > 0 and reliability_b > 0) or not np.isfinite(r):
        return float("nan")
    return r / math.sqrt(reliability_a * reliability_b)
