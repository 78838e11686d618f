"""The depth x skip-pattern study: tables, per-bit effects, the depth/skips regression, cross-dataset agreement."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from unet_core.skips import run_key

from .reliability import UNIT, replicates
from .stats import bootstrap_ci, ols

ALPHA = 0.05


def study_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per depth and skip pattern (and loss): mean and spread over seeds; the best pattern per depth marked."""
    keys = ["depth", "skips", "loss"]
    g = df.groupby(keys, dropna=False)
    table = g.agg(
        dice=("dice", "mean"), dice_std=("dice", "std"), seeds=("dice", "size"), accuracy=("accuracy", "mean"),
        dice_with_background=("dice_with_background", "mean"), train_time_s=("train_time_s", "mean"), num_params=("num_params", "first"),
    ).reset_index()
    table["num_params"] = table["num_params"].round().astype("Int64")
    table["all_skips"] = table["skips"] == table["depth"].map(lambda d: "1" * d)
    best = table.groupby("depth")["dice"].transform("max")
    table["best_at_depth"] = table["dice"] == best
    return table.sort_values(["depth", "skips"]).reset_index(drop=True)


def _flip(pattern: str, i: int) -> str:
    return pattern[: i - 1] + ("1" if pattern[i - 1] == "0" else "0") + pattern[i:]


def bit_differences(df: pd.DataFrame, depth: int | None, bit: int) -> np.ndarray:
    """Dice(s_bit on) - Dice(s_bit off) over pattern pairs that differ only in that bit, paired by replicate
    (the same seed on the same cross-validation fold).

    `depth` None pools every depth that has the bit.
    """
    sub = replicates(df if depth is None else df[df.depth == depth])
    sub = sub[sub.depth >= bit]
    by = sub.groupby(["depth", "skips", *UNIT])["dice"].mean()
    diffs = []
    for (d, pattern, *unit), dice in by.items():
        if pattern[bit - 1] != "1":
            continue
        other = (d, _flip(pattern, bit), *unit)
        if other in by.index:
            diffs.append(dice - by[other])
    return np.asarray(diffs)


def bit_effects(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """For every depth (and all depths pooled) and skip position: mean paired effect, bootstrap 95% CI, significance."""
    rows = []
    depths = sorted(df.depth.unique())
    for depth in [*depths, None]:
        top = max(depths) if depth is None else depth
        for bit in range(1, top + 1):
            diffs = bit_differences(df, depth, bit)
            if len(diffs) == 0:
                continue
            low, high = bootstrap_ci(diffs, seed=seed)
            rows.append({"depth": "all" if depth is None else int(depth), "bit": f"s{bit}", "effect": float(diffs.mean()),
                         "ci_low": low, "ci_high": high, "pairs": len(diffs),
                         "significant": bool(np.isfinite(low) and (low > 0 or high < 0))})
    return pd.DataFrame(rows, columns=["depth", "bit", "effect", "ci_low", "ci_high", "pairs", "significant"])


def tradeoff_regression(df: pd.DataFrame) -> dict:
    """dice ~ depth (categorical) + skip bits + depth x (number of active skips).

    The interaction says whether what skips are worth depends on depth: the trade-off.
    """
    depths = sorted(df.depth.unique())
    bits = [f"s{i}" for i in range(1, max(depths) + 1)]
    y = df["dice"].to_numpy(float)
    cols, names = [np.ones(len(df))], ["intercept"]
    for d in depths[1:]:
        cols.append((df.depth == d).to_numpy(float))
        names.append(f"depth={d}")
    for b in bits:
        cols.append(df[b].fillna(0).to_numpy(float))
        names.append(b)
    centred = df.depth.to_numpy(float) - df.depth.mean()
    cols.append(centred * df.n_skips.to_numpy(float))
    names.append("depth_x_skips")
    fit = ols(np.column_stack(cols), y, names)
    inter = fit.row("depth_x_skips") if "depth_x_skips" in fit.names else None
    return {"fit": fit, "interaction": inter, "significant": bool(inter and inter["p"] < ALPHA), "bits": {b: fit.row(b) for b in bits if b in fit.names}}


def skips_and_depth_curves(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean Dice (and its bootstrap CI) against the number of active skips per depth, and against depth."""
    rows = []
    for (d, k), g in df.groupby(["depth", "n_skips"]):
        low, high = bootstrap_ci(g.dice.to_numpy())
        rows.append({"depth": d, "n_skips": k, "dice": g.dice.mean(), "ci_low": low, "ci_high": high, "runs": len(g)})
    by_depth = []
    for d, g in df.groupby("depth"):
        low, high = bootstrap_ci(g.dice.to_numpy())
        by_depth.append({"depth": d, "dice": g.dice.mean(), "best": g.groupby("skips").dice.mean().max(), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows), pd.DataFrame(by_depth)


def cross_dataset(tables: dict[str, pd.DataFrame], k: int = 5) -> tuple[pd.DataFrame, list[str]]:
    """Spearman rank correlation of configurations between each pair of datasets, and the patterns in every top k."""
    ranks = []
    for a, b in combinations(sorted(tables), 2):
        ta, tb = (tables[x].groupby(["depth", "skips"]).dice.mean() for x in (a, b))
        common = ta.index.intersection(tb.index)
        if len(common) >= 3:
            rho, p = sps.spearmanr(ta[common], tb[common])
            ranks.append({"dataset_a": a, "dataset_b": b, "configurations": len(common), "spearman_rho": float(rho), "p": float(p)})
    tops = [set(t.groupby(["depth", "skips"]).dice.mean().nlargest(k).index) for t in tables.values()]
    shared = sorted(set.intersection(*tops)) if tops else []
    return pd.DataFrame(ranks, columns=["dataset_a", "dataset_b", "configurations", "spearman_rho", "p"]), [run_key(d, s) for d, s in shared]


def parameter_importance(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Share of Dice variance explained by each searched dimension on its own (eta squared of a one-way grouping)."""
    total = float(((df.dice - df.dice.mean()) ** 2).sum())
    rows = []
    for col in columns:
        if col not in df or df[col].nunique(dropna=True) < 2:
            continue
        groups = pd.qcut(df[col], 4, duplicates="drop") if col == "lr" else df[col]
        between = float(df.groupby(groups, observed=True).dice.apply(lambda g: len(g) * (g.mean() - df.dice.mean()) ** 2).sum())
        rows.append({"dimension": col, "eta_squared": between / total if total > 0 else float("nan"), "levels": int(df[col].nunique())})
    return pd.DataFrame(rows, columns=["dimension", "eta_squared", "levels"]).sort_values("eta_squared", ascending=False)


def level_effects(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean Dice per level of one dimension with bootstrap 95% intervals."""
    rows = []
    for level, g in df.groupby(column):
        low, high = bootstrap_ci(g.dice.to_numpy())
        rows.append({column: level, "dice": g.dice.mean(), "ci_low": low, "ci_high": high, "runs": len(g)})
    return pd.DataFrame(rows)


def pareto_front(df: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Trials no other trial beats on both Dice (higher) and `cost` (lower), sorted by cost."""
    d = df.dropna(subset=[cost, "dice"]).sort_values([cost, "dice"], ascending=[True, False])
    front, best = [], -np.inf
    for _, row in d.iterrows():
        if row.dice > best:
            front.append(row)
            best = row.dice
    return pd.DataFrame(front)
