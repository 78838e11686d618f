"""Learning-curve tables: every study trial's per-epoch validation Dice and seconds, one row per (configuration,
replicate, epoch), exported from MLflow for search replays (bench/search_replay.py) and read back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from unet_core.skips import run_key

from .load import AnalysisError, load_curves, load_runs

COLUMNS = ["config", "depth", "skips", "seed", "fold", "epoch", "val_dice", "seconds"]


def curve_table(client: MlflowClient, experiment: str, dataset: str | None = None) -> pd.DataFrame:
    """The per-epoch validation Dice and epoch seconds (training + validation) of every finished trial of `experiment`
    (optionally one dataset's), as COLUMNS; only trials that ran their whole budget (an ablation study's)."""
    runs = load_runs(client, experiment)
    if dataset is not None:
        runs = runs[runs.dataset == dataset]
    runs = runs[~runs.stopped_early]
    if runs.empty:
        raise AnalysisError(f"experiment {experiment!r} has no finished, unstopped trials" + (f" of {dataset}" if dataset else ""))
    dice = load_curves(client, runs, "val_dice")
    secs = load_curves(client, runs, "epoch_time_s")[["run_id", "epoch", "epoch_time_s"]]
    table = dice.merge(secs, on=["run_id", "epoch"], how="inner").rename(columns={"epoch_time_s": "seconds"})
    table["config"] = [run_key(d, s) for d, s in zip(table.depth, table.skips)]
    table["fold"] = table["fold"].fillna(0).astype(int)
    table["seed"] = table["seed"].astype(int)
    table["depth"] = table["depth"].astype(int)
    return table[COLUMNS].sort_values(["config", "seed", "fold", "epoch"]).reset_index(drop=True)


def save_curves(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a curve table as CSV (values rounded to what the figures need: Dice to 1e-5, seconds to 1e-3)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = table[COLUMNS].copy()
    out["val_dice"] = out["val_dice"].round(5)
    out["seconds"] = out["seconds"].round(3)
    tmp = path.with_suffix(".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def read_curves(path: str | Path) -> pd.DataFrame:
    """A curve table written by save_curves, checked: every replicate of a configuration has the same epochs 1..E."""
    table = pd.read_csv(path, dtype={"skips": str})
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise AnalysisError(f"{path}: not a curve table (missing columns {', '.join(sorted(missing))})")
    epochs = table.groupby(["config", "seed", "fold"]).epoch.agg(lambda e: tuple(sorted(e)))
    if epochs.nunique() != 1 or epochs.iloc[0] != tuple(range(1, len(epochs.iloc[0]) + 1)):
        raise AnalysisError(f"{path}: replicates with different epochs (a table of one budget, every epoch, is needed)")
    return table


def replicate_curves(table: pd.DataFrame) -> dict[str, list[dict[str, np.ndarray]]]:
    """Per configuration, its replicates' curves: {"dice": per-epoch Dice, "seconds": per-epoch seconds, "seed", "fold"}."""
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for (config, seed, fold), g in table.sort_values("epoch").groupby(["config", "seed", "fold"], sort=True):
        out.setdefault(config, []).append({"dice": g.val_dice.to_numpy(float), "seconds": g.seconds.to_numpy(float), "seed": int(seed), "fold": int(fold)})
    return out


def true_scores(table: pd.DataFrame) -> pd.Series:
    """Each configuration's truth: its replicates' mean best validation Dice at the full budget (what a search reports of
    a trial is its best epoch), sorted best first."""
    best = table.groupby(["config", "seed", "fold"]).val_dice.max()
    return best.groupby("config").mean().sort_values(ascending=False)
