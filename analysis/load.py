"""Read searches' trial runs through the MLflow client into one pandas row per finished trial."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from search.tracking.schema import BEST_RUN_NAME_TAG, ESTIMATE, PARENT_TAG, ROLE_TAG, SEARCH, STOPPED_EARLY_TAG, TRIAL
MAX_BITS = 5
NUMERIC_PARAMS = ("depth", "patch_size", "patch_stride", "base_channels", "batch_size", "seed", "saliency_percentile", "saliency_iterations", "lr", "epochs",
                  "fold", "folds", "patches_per_epoch", "train_seed")
METRICS = {
    "dice": "best_val_dice", "iou": "best_val_iou", "accuracy": "best_val_accuracy", "dice_with_background": "best_val_dice_with_background",
    "auc": "best_val_auc", "train_time_s": "total_train_time_s", "num_params": "num_params",
}


class AnalysisError(ValueError):
    """The runs cannot be analysed (missing experiment, no finished trials); one line."""


def open_store(uri: str) -> MlflowClient:
    """A client of the MLflow store at `uri` after one round-trip (AnalysisError, one line, when there is none or it does not
    answer); a local SQLite store is never created here."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise AnalysisError(f"no MLflow store at {uri[len('sqlite:///'):]}")
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure here means the store cannot be read
        raise AnalysisError(f"tracking server {uri} is unreachable: {(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}") from None
    return client


def experiment_id(client: MlflowClient, experiment: str) -> str:
    """The id of an experiment by name (AnalysisError when the store has none of that name)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise AnalysisError(f"experiment {experiment!r} not found at {client.tracking_uri}")
    return exp.experiment_id


def load_runs(client: MlflowClient, experiment: str, role: str = TRIAL, missing_ok: bool = False) -> pd.DataFrame:
    """One row per FINISHED trial of every search of `experiment` (role "trial"; "final": the stand-alone trainings at a
    search's final budget), with params, skip bits and best-epoch metrics. None found: AnalysisError, or an empty frame
    with `missing_ok`."""
    runs = client.search_runs([experiment_id(client, experiment)], filter_string="attributes.status = 'FINISHED'", max_results=50000)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get(ROLE_TAG) == SEARCH}
    rows = []
    for r in runs:
        if r.data.tags.get(ROLE_TAG) != role or "best_val_dice" not in r.data.metrics:
            continue
        p, m = r.data.params, r.data.metrics
        parent = parents.get(r.data.tags.get(PARENT_TAG))
        row = {
            "experiment": experiment, "search": parent.info.run_name if parent else r.data.tags.get(PARENT_TAG),
            "parent_run_id": r.data.tags.get(PARENT_TAG), "run_id": r.info.run_id, "run_name": r.info.run_name,
            "dataset": parent.data.params.get("dataset") if parent else p.get("dataset", experiment),
            "space": parent.data.params.get("space") if parent else None,
            "skips": p.get("skips"), "loss": p.get("loss"), "upsample": p.get("upsample"), "augment": p.get("augment"),
            "block": p.get("block", "plain"), "padding": p.get("padding", "same"),
            "stopped_early": r.data.tags.get(STOPPED_EARLY_TAG) == "true",
        }
        for key in NUMERIC_PARAMS:
            row[key] = float(p[key]) if key in p else np.nan
        for name, metric in METRICS.items():
            row[name] = m.get(metric, np.nan)
        for key, value in m.items():
            if key.startswith("test_"):
                row[key] = value
        rows.append(row)
    if not rows:
        if missing_ok:
            return pd.DataFrame()
        raise AnalysisError(f"experiment {experiment!r} has no finished trial runs")
    df = pd.DataFrame(rows)
    df["depth"] = df["depth"].astype(int)
    df["n_skips"] = df["skips"].str.count("1")
    for i in range(1, MAX_BITS + 1):  # s_i is NaN where the U-Net has no level i
        df[f"s{i}"] = [float(s[i - 1]) if len(s) >= i else np.nan for s in df["skips"]]
    return df


SETTINGS = ("dataset", "space", "strategy", "max_epochs", "patches_per_epoch", "batch_size", "base_channels", "patch_size", "lr", "loss", "repeats", "folds", "seed",
            "precision", "cpus_per_trial", "gpus_per_trial")


def load_searches(client: MlflowClient, experiments: list[str]) -> pd.DataFrame:
    """One row per search (parent run) of the experiments: its settings, trial count and the best trial's test metrics."""
    rows = []
    for experiment in experiments:
        for r in client.search_runs([experiment_id(client, experiment)], filter_string="tags.`unet.role` = 'search'", max_results=1000):
            p, m = r.data.params, r.data.metrics
            row = {"experiment": experiment, "search": r.info.run_name, "status": r.info.status}
            row.update({k: p.get(k, "") for k in SETTINGS})
            row["best_trial"] = r.data.tags.get(BEST_RUN_NAME_TAG, "")
            for k in ("best_val_dice", "test_dice", "test_iou", "test_auc", "test_accuracy", "test_dice_with_background"):
                row[k] = m.get(k, np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def load_curves(client: MlflowClient, runs: pd.DataFrame, metric: str = "val_dice") -> pd.DataFrame:
    """Every epoch's `metric` of the trials in `runs` (rows of load_runs): depth, skips, seed, fold, epoch and the value."""
    rows = []
    for r in runs.itertuples(index=False):
        for m in client.get_metric_history(r.run_id, metric):
            rows.append({"run_id": r.run_id, "depth": r.depth, "skips": r.skips, "seed": r.seed, "fold": getattr(r, "fold", np.nan),
                         "epoch": int(m.step), metric: m.value})
    return pd.DataFrame(rows, columns=["run_id", "depth", "skips", "seed", "fold", "epoch", metric])


def load_estimates(client: MlflowClient, experiment: str) -> pd.DataFrame:
    """One row per skip pattern a supernet search of `experiment` estimated (its "estimate" runs: weight-sharing scores,
    not trained configurations): dataset, search, depth, skips, estimate_dice; empty when there are none."""
    runs = client.search_runs([experiment_id(client, experiment)], max_results=50000)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get(ROLE_TAG) == SEARCH}
    rows = []
    for r in runs:
        if r.data.tags.get(ROLE_TAG) != ESTIMATE or "estimate_val_dice" not in r.data.metrics:
            continue
        parent = parents.get(r.data.tags.get(PARENT_TAG))
        rows.append({"experiment": experiment, "search": parent.info.run_name if parent else r.data.tags.get(PARENT_TAG),
                     "parent_run_id": r.data.tags.get(PARENT_TAG), "dataset": parent.data.params.get("dataset") if parent else experiment,
                     "depth": int(float(r.data.params["depth"])), "skips": r.data.params["skips"], "estimate_dice": r.data.metrics["estimate_val_dice"]})
    return pd.DataFrame(rows, columns=["experiment", "search", "parent_run_id", "dataset", "depth", "skips", "estimate_dice"])
