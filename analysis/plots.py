"""The report's pictures (PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .reliability import SETTLED_BY, SETTLED_RHO  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def heatmap(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Depth x skip pattern heat map of mean foreground Dice; the best pattern per depth outlined."""
    depths = sorted(table.depth.unique())
    width = max(2 ** d for d in depths)
    grid = np.full((len(depths), width), np.nan)
    fig, ax = plt.subplots(figsize=(max(6, width * 0.75), 1 + 0.8 * len(depths)))
    for r, d in enumerate(depths):
        rows = table[table.depth == d].groupby("skips").dice.mean()
        for c, (pattern, dice) in enumerate(sorted(rows.items())):
            grid[r, c] = dice
            best = dice == rows.max()
            ax.text(c, r, f"{pattern}\n{dice:.3f}", ha="center", va="center", fontsize=7, fontweight="bold" if best else "normal")
            if best:
                ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2, ec="red"))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(depths)), [f"depth {d}" for d in depths])
    ax.set_xticks([])
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="foreground Dice (validation)")
    return _save(fig, path)


def effect_bars(effects: pd.DataFrame, path: Path, title: str) -> Path:
    """Per-bit effect of turning a skip on, with 95% bootstrap intervals, grouped by depth."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [f"{'all depths' if d == 'all' else f'd{d}'} {b}" for d, b in zip(effects.depth, effects.bit)]
    x = np.arange(len(effects))
    err = np.vstack([effects.effect - effects.ci_low, effects.ci_high - effects.effect])
    colors = ["tab:green" if s else "tab:gray" for s in effects.significant]
    ax.bar(x, effects.effect, color=colors, yerr=np.nan_to_num(err), capsize=2)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, labels, rotation=90, fontsize=7)
    ax.set_ylabel("Δ Dice when s_i is on")
    ax.set_title(title + " (green: interval excludes 0)")
    return _save(fig, path)


def pareto(df: pd.DataFrame, front: pd.DataFrame, cost: str, path: Path, title: str) -> Path:
    """Dice against a cost, the Pareto front drawn."""
    fig, ax = plt.subplots(figsize=(6, 4))
    sc = ax.scatter(df[cost], df.dice, c=df.depth, cmap="plasma", s=18, alpha=0.8)
    if len(front):
        ax.plot(front[cost], front.dice, "k--", lw=1, label="Pareto front")
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel(cost.replace("_", " "))
    ax.set_ylabel("foreground Dice")
    ax.set_title(title)
    fig.colorbar(sc, ax=ax, label="depth")
    return _save(fig, path)


def slices(dims: pd.DataFrame, dice: pd.Series, order: list[str], path: Path, title: str, top: int = 8) -> Path:
    """One panel per searched dimension (the `top` most important first): each trial's Dice against its value, jittered
    for categories, log scale for lr, the best trial in black; readable with hundreds of trials."""
    cols = [c for c in order if c in dims][:top]
    ncol = min(4, max(1, len(cols)))
    nrow = int(np.ceil(len(cols) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), sharey=True, squeeze=False)
    rng = np.random.default_rng(0)
    best = dice.idxmax()
    for ax, col in zip(axes.flat, cols):
        values = dims[col]
        if pd.api.types.is_numeric_dtype(values):
            x = values.to_numpy(float)
            if col == "lr":
                ax.set_xscale("log")
        else:
            levels = sorted(values.unique())
            x = values.map({v: i for i, v in enumerate(levels)}).to_numpy(float) + rng.uniform(-0.15, 0.15, len(values))
            ax.set_xticks(range(len(levels)), levels, rotation=30, fontsize=7)
        ax.scatter(x, dice, s=10, alpha=0.45, color="tab:blue")
        ax.scatter(x[dims.index.get_loc(best)], dice[best], s=28, color="black")
        ax.set_title(col, fontsize=9)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation Dice")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def settling(curves: dict[str, pd.DataFrame], path: Path, title: str) -> Path:
    """Spearman correlation of each epoch's configuration ranking with the final one, against the budget fraction."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, s in curves.items():
        ax.plot(s.budget_fraction, s.spearman_to_final, marker="o", label=name)
    ax.axhline(SETTLED_RHO, color="grey", ls="--", lw=1)
    ax.axvline(SETTLED_BY, color="grey", ls=":", lw=1)
    ax.set_xlabel("fraction of the training budget (epochs)")
    ax.set_ylabel("Spearman to the final ranking")
    ax.set_ylim(min(0.0, float(np.nanmin([s.spearman_to_final.min() for s in curves.values()]))) - 0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)
