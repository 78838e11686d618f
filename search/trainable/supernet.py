"""The Tune trainable of a supernet search's trials: one trial trains one depth's skip supernet (recipes.supernet) and
logs every pattern's estimate on its MLflow run."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from recipes import trial_precision
from recipes.params import TrialParams, supernet_run_name
from recipes.supernet import SupernetSettings, fit_supernet
from search.tracking import client as tracking
from search.tracking import schema
from search.tracking.schema import ESTIMATE_PREFIX
from unet_core import save_checkpoint

from .context import SearchContext
from .process import quiet_exit_hook, release_memory, where_am_i
from .trial import TrialRun

SETTINGS = {"supernet_sampling": "sampling", "supernet_warmup": "warmup_epochs", "supernet_recalibrate": "recalibrate_batches"}  # config key -> field


def settings_of(config: dict[str, Any]) -> SupernetSettings:
    """The supernet settings carried in a trial config."""
    return SupernetSettings(**{field: config[key] for key, field in SETTINGS.items() if key in config})


def run_supernet_trial(config: dict[str, Any], data, ctx: SearchContext) -> None:
    """The Tune trainable of a supernet trial (tune.with_parameters(run_supernet_trial, data=..., ctx=...)): trains the
    supernet of config's depth, reports every epoch, and logs each pattern's estimate as a metric of its run
    (ESTIMATE_PREFIX + pattern) and in estimates.json. Its own errors end it with a FAILED run, as run_trial's do."""
    from ray import tune  # deferred: imports Ray; importing the trainable (the driver, tests) goes without it

    release_memory()
    sys.unraisablehook = quiet_exit_hook
    trial_id = tune.get_context().get_trial_id() or "local"
    params = TrialParams.from_config(config)
    run = TrialRun(ctx, trial_id, config, supernet_run_name(params))
    if run.finished_before:
        tune.report({**run.previous_metrics, "mlflow_run_id": run.run_id, "restored": 1})
        return
    try:
        run.outbox.tags(where_am_i())
        run.outbox.params({"precision_used": trial_precision(params).name, "strategy": "supernet"})
        run.outbox.dataset(data.name, data.source, ctx.data_digest)
        best = {"val_dice": -1.0}

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            best["val_dice"] = max(best["val_dice"], metrics["val_dice"])
            run.log_epoch(metrics, epoch)
            tune.report({**metrics, "mlflow_run_id": run.run_id})

        result = fit_supernet(params, data, settings_of(config), ctx.recipe, on_epoch)
        estimates = {f"{ESTIMATE_PREFIX}{p}": m["dice"] for p, m in result.estimates.items()}
        run.outbox.metrics({**estimates, "best_val_dice": max(estimates.values()), "supernet_train_time_s": result.train_seconds,
                            "supernet_score_time_s": result.score_seconds}, params.epochs)
        with tracking.temp_dir() as tmp:
            path = Path(tmp) / "estimates.json"
            path.write_text(json.dumps({"depth": params.depth, "fold": params.fold, "estimates": result.estimates,
                                        "batches_per_pattern": result.batches_per_pattern}, indent=2))
            run.outbox.file(path, "estimates")
            ckpt = Path(tmp) / "supernet.pt"
            save_checkpoint(ckpt, result.state, {"depth": params.depth, "params": params.to_dict()})
            run.outbox.file(ckpt, "checkpoints")
    except Exception as exc:  # noqa: BLE001 - the trial's own failure
        run.fail(exc)
        return
    run.finish({schema.STOPPED_EARLY_TAG: "false", schema.BEST_EPOCH_TAG: str(params.epochs)})
