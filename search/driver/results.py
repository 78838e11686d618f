"""A search's results as its user reads them: the trial table from MLflow, the best trial's test score, the outcome."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from datasets import SegmentationData, full_images
from recipes.params import TrialParams
from search.tracking import client as tracking
from search.tracking import schema
from unet_core import TTA_DEFAULT, evaluate_images, load_model
from unet_core.rescale import checkpoint_side

# epochs_trained counts every round a trial trained (a saliency trial's retraining rounds too); epoch_budget is what it would train unstopped;
# epochs: its training's own epochs (a final-round finalist's may exceed the default U-Net's: search.driver.budgeting.own_final_epochs)
TRIAL_COLUMNS = ["run_name", "run_id", "status", "stopped_early", "depth", "skips", "loss", "patch_size", "best_val_dice", "epochs_trained", "epoch_budget", "epochs", "error",
                 "trial_id", "attempt", "node_id", "start_time", "tracking_delayed"]


@dataclass
class SearchOutcome:
    """What a finished search produced and where to find it."""

    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    tune_path: str
    trials: pd.DataFrame
    best_run_id: str | None = None
    best_run_name: str | None = None
    best_val_dice: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    final: pd.DataFrame | None = None  # the re-ranking's trials at the final budget (None: no re-ranking)
    final_epochs: int | None = None
    estimates: pd.DataFrame | None = None  # a supernet search's estimate of every skip pattern (search.strategies.supernet)
    model_id: str | None = None  # the chosen model's LoggedModel (search.driver.models)
    model_uri: str | None = None  # its registered version, models:/NAME/VERSION


def trials_table(client, experiment_id: str, parent_run_id: str, role: str = schema.TRIAL) -> pd.DataFrame:
    """One row per trial run of the search (role "trial"), or of its re-ranking (role "final"): name, status,
    architecture, best validation Dice."""
    rows = []
    for run in tracking.child_runs(client, experiment_id, parent_run_id):
        p, m, t = run.data.params, run.data.metrics, run.data.tags
        if t.get(schema.ROLE_TAG, schema.TRIAL) != role:
            continue
        rows.append({
            "run_name": run.info.run_name, "run_id": run.info.run_id, "status": run.info.status,
            "stopped_early": t.get(schema.STOPPED_EARLY_TAG) == "true", "depth": p.get("depth"), "skips": p.get("skips"),
            "loss": p.get("loss"), "patch_size": p.get("patch_size"), "best_val_dice": m.get("best_val_dice"),
            "epochs_trained": m.get("epoch"), "epoch_budget": _epoch_budget(p), "epochs": _int(p.get("epochs")), "error": t.get(schema.ERROR_TAG, ""), "trial_id": t.get(schema.TRIAL_TAG, ""),
            "attempt": int(t.get(schema.ATTEMPT_TAG, "1")), "node_id": t.get(schema.NODE_ID_TAG, ""), "start_time": run.info.start_time,
            "tracking_delayed": int(t.get(schema.DELAYED_TAG, "0")),
        })
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def _int(value: str | None) -> int | None:
    """A logged integer param (None where absent or not one)."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _epoch_budget(params: dict[str, str]) -> int | None:
    """The epochs a trial would train unstopped, saliency retraining rounds included (its --max-epochs plus those rounds)."""
    try:
        return TrialParams(epochs=int(params["epochs"]), saliency_percentile=float(params.get("saliency_percentile", 0)),
                           saliency_iterations=int(params.get("saliency_iterations", 0)), saliency_epochs=int(params.get("saliency_epochs", 2))).total_epochs
    except (KeyError, TypeError, ValueError):
        return None


def final_attempts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: its last attempt (a retried trial's lost attempts are left out)."""
    if table.empty:
        return table
    return table.sort_values(["attempt", "start_time"]).groupby("trial_id", sort=False).tail(1).sort_values("start_time")


def ended_count(table: pd.DataFrame) -> int:
    """Trials whose last attempt FINISHED or FAILED (not killed, not running)."""
    return int(final_attempts(table).status.isin(["FINISHED", "FAILED"]).sum()) if not table.empty else 0


def evaluate_best(client, table: pd.DataFrame, data: SegmentationData, folds: bool = False) -> tuple[pd.Series | None, dict[str, float]]:
    """The best finished trial of `table` and its test metrics (test_score); `folds`: `table` holds one configuration's
    final-round fold runs, whose models search.predict averages: the test scores their average too."""
    done = table[(table.status == "FINISHED") & table.best_val_dice.notna()]
    if done.empty or not data.test:
        return None, {}
    best = done.loc[done.best_val_dice.idxmax()]
    return best, test_score(client, best.run_id, data, folds=other_folds(done, best) if folds else ())


def other_folds(runs: pd.DataFrame, best: pd.Series) -> tuple[str, ...]:
    """The run ids of one configuration's finished final-round `runs` on the folds other than `best`'s, the newest of
    each (a resumed search may have trained a fold twice), as search.predict finds them."""
    newest = runs.sort_values("start_time").groupby("run_name").tail(1)
    return tuple(newest.run_id[newest.run_name != best.run_name])


def trained_model(client, run_id: str):
    """(model in eval mode, checkpoint metadata) of a run's best checkpoint."""
    with tracking.temp_dir() as tmp:
        model, meta = load_model(client.download_artifacts(run_id, "checkpoints/best.pt", tmp))
    return model.eval(), meta


def test_score(client, run_id: str, data: SegmentationData, trained=None, folds: tuple[str, ...] = ()) -> dict[str, float]:
    """A run's best checkpoint (or its already loaded `trained` (model, meta)), averaged with its configuration's other
    fold runs' (`folds`), scored on the test split with overlap-tile inference as search.predict serves it (TTA_DEFAULT's
    views averaged); beside that, `*_no_tta`: the same models predicting each image once (what the augmentation adds),
    and `models`: how many were averaged."""
    model, meta = trained or trained_model(client, run_id)
    models = [model, *(trained_model(client, r)[0] for r in folds)]
    with torch.no_grad():
        scores = evaluate_images(models, full_images(data.test), data.num_classes, meta["eval_tile"], 0.5, data.background,
                                 tta=TTA_DEFAULT, side=checkpoint_side(meta), per_image=True, no_tta=True)
    kept = {k: v for k, v in scores.items() if not k.endswith("_no_tta") or k in ("dice_no_tta", "mean_dice_no_tta", "iou_no_tta")}
    return {**kept, "models": float(len(models))}


def record_outcome(client, outcome: SearchOutcome, best: pd.Series | None, test_metrics: dict[str, float]) -> None:
    """The search's tables on its parent run (summary/*.csv), and the best trial with its test metrics on both runs."""
    parent_id = outcome.parent_run_id
    with tracking.temp_dir() as tmp:
        for name, frame in (("trials.csv", outcome.trials), ("final.csv", outcome.final), ("estimates.csv", outcome.estimates)):
            if frame is not None:
                frame.to_csv(Path(tmp) / name, index=False)
                tracking.log_file(client, parent_id, Path(tmp) / name, "summary")
    if best is None:
        return
    outcome.best_run_id, outcome.best_run_name, outcome.best_val_dice = best.run_id, best.run_name, float(best.best_val_dice)
    outcome.test_metrics = test_metrics
    tracking.log_metrics(client, parent_id, {"best_val_dice": outcome.best_val_dice, **{f"test_{k}": v for k, v in test_metrics.items()}}, 0)
    tracking.log_metrics(client, best.run_id, {f"test_{k}": v for k, v in test_metrics.items()}, 0)
    client.set_tag(parent_id, schema.BEST_RUN_ID_TAG, best.run_id)
    client.set_tag(parent_id, schema.BEST_RUN_NAME_TAG, best.run_name)
    client.set_tag(parent_id, schema.TEST_TTA_TAG, TTA_DEFAULT)
