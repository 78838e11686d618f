"""The `--strategy supernet` search: one Tune trial per depth (and fold) trains that depth's skip supernet and estimates
every skip pattern from it; each estimate becomes an MLflow run marked as an estimate; the best few patterns by
estimate are then trained stand-alone at the final budget (search.runner.train_at_final_budget), and the best of those
wins."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from . import tracking
from .params import TrialParams, supernet_run_name
from .supernet import SupernetSettings, fit_supernet
from .trial import SearchContext, TrialRun, quiet_exit_hook, release_memory, trial_precision, where_am_i

ROLE = "supernet"  # the supernet trials' unet.role
ESTIMATE_ROLE = "estimate"  # one run per pattern estimated by a supernet: not a trained configuration
ESTIMATE_TAG = "unet.estimate"
SUPERNET_RUN_TAG = "unet.supernet_run_id"
ESTIMATE_RANKING_TAG = "unet.supernet_ranking"
ESTIMATE_PREFIX = "estimate_dice_s"  # the supernet run's metric per pattern: estimate_dice_s1001
SETTINGS = {"supernet_sampling": "sampling", "supernet_warmup": "warmup_epochs", "supernet_recalibrate": "recalibrate_batches"}  # config key -> field


def settings_of(config: dict[str, Any]) -> SupernetSettings:
    """The supernet settings carried in a trial config."""
    return SupernetSettings(**{field: config[key] for key, field in SETTINGS.items() if key in config})


def run_supernet_trial(config: dict[str, Any], data, ctx: SearchContext) -> None:
    """The Tune trainable of a supernet trial (tune.with_parameters(run_supernet_trial, data=..., ctx=...)): trains the
    supernet of config's depth, reports every epoch, and logs each pattern's estimate as a metric of its run
    (ESTIMATE_PREFIX + pattern) and in estimates.json. Its own errors end it with a FAILED run, as run_trial's do."""
    from ray import tune

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

        result = fit_supernet(params, data, settings_of(config), ctx.eval_tile, ctx.eval_overlap, ctx.cpus_per_trial, on_epoch)
        estimates = {f"{ESTIMATE_PREFIX}{p}": m["dice"] for p, m in result.estimates.items()}
        run.outbox.metrics({**estimates, "best_val_dice": max(estimates.values()), "supernet_train_time_s": result.train_seconds,
                            "supernet_score_time_s": result.score_seconds}, params.epochs)
        with tracking.temp_dir() as tmp:
            path = Path(tmp) / "estimates.json"
            path.write_text(json.dumps({"depth": params.depth, "fold": params.fold, "estimates": result.estimates,
                                        "batches_per_pattern": result.batches_per_pattern}, indent=2))
            run.outbox.file(path, "estimates")
            from unet_core import save_checkpoint

            ckpt = Path(tmp) / "supernet.pt"
            save_checkpoint(ckpt, result.state, {"depth": params.depth, "params": params.to_dict()})
            run.outbox.file(ckpt, "checkpoints")
    except Exception as exc:  # noqa: BLE001 - the trial's own failure
        run.fail(exc)
        return
    run.finish({"unet.stopped_early": "false", "unet.best_epoch": str(params.epochs)})


def param_space(fixed: dict[str, Any], depths: tuple[int, ...], folds: int, settings: SupernetSettings) -> dict[str, Any]:
    """The supernet phase's Tune grid: one trial per depth (and fold), the arch space's fixed values and the supernet settings."""
    from ray import tune

    space = {**fixed, "depth": tune.grid_search(list(depths)), "supernet_sampling": settings.sampling,
             "supernet_warmup": settings.warmup_epochs, "supernet_recalibrate": settings.recalibrate_batches}
    if folds > 1:
        space["fold"] = tune.grid_search(list(range(folds)))
    return space


def estimate_rows(children: list) -> pd.DataFrame:
    """Every estimate of a search's finished supernet runs (`children`: its child runs): depth, skips, fold, estimated
    Dice, the supernet run."""
    rows = []
    for run in children:
        tags, params = run.data.tags, run.data.params
        if tags.get(tracking.ROLE_TAG) != ROLE or run.info.status != "FINISHED":
            continue
        for key, value in run.data.metrics.items():
            if key.startswith(ESTIMATE_PREFIX):
                rows.append({"depth": int(params["depth"]), "skips": key[len(ESTIMATE_PREFIX):], "fold": int(params.get("fold", 0)),
                             "estimate_dice": float(value), "supernet_run_id": run.info.run_id})
    return pd.DataFrame(rows, columns=["depth", "skips", "fold", "estimate_dice", "supernet_run_id"])


def standalone_config(fixed: dict[str, Any], depth: int, skips: str) -> dict[str, Any]:
    """The stand-alone trial config of a pattern: the search's fixed values (without folds: a stand-alone candidate is
    trained and validated on the dataset's own split), its depth and skips."""
    return {**{k: v for k, v in fixed.items() if k not in ("folds", "split_seed", "fold")}, "depth": int(depth), "skips": str(skips)}


def record_estimates(client, experiment_id: str, parent_run_id: str, fixed: dict[str, Any]) -> pd.DataFrame:
    """One MLflow run per pattern (role "estimate", tag unet.estimate "true") under the search's parent, holding its
    estimated validation Dice (mean over folds) and the supernet runs it came from; runs already recorded by an earlier
    session of the search are kept. `fixed`: the search's fixed trial values. Returns the patterns, best estimate first:
    depth, skips, run_name, estimate_dice, folds."""
    children = tracking.child_runs(client, experiment_id, parent_run_id)
    rows = estimate_rows(children)
    if rows.empty:
        return pd.DataFrame(columns=["depth", "skips", "run_name", "estimate_dice", "folds"])
    existing = {r.info.run_name for r in children if r.data.tags.get(tracking.ROLE_TAG) == ESTIMATE_ROLE}
    out = []
    for (depth, skips), group in rows.groupby(["depth", "skips"]):
        params = TrialParams.from_config(standalone_config(fixed, depth, skips))
        name = f"{params.run_name}-estimate"
        value = float(group.estimate_dice.mean())
        if name not in existing:
            run = client.create_run(experiment_id, run_name=name, tags={
                tracking.PARENT_TAG: parent_run_id, tracking.ROLE_TAG: ESTIMATE_ROLE, ESTIMATE_TAG: "true",
                SUPERNET_RUN_TAG: ",".join(sorted(set(group.supernet_run_id))),
                "mlflow.note.content": "An estimate from a weight-sharing skip supernet, not a trained configuration."})
            tracking.log_params(client, run.info.run_id, {"depth": int(depth), "skips": skips, "loss": params.loss, "patch_size": params.patch_size,
                                                           "base_channels": params.base_channels, "folds_estimated": len(group), "estimate": "true"})
            tracking.log_metrics(client, run.info.run_id, {"estimate_val_dice": value, **{f"estimate_val_dice_f{int(f)}": float(v)
                                                                                          for f, v in zip(group.fold, group.estimate_dice)}}, 0)
            client.set_terminated(run.info.run_id, "FINISHED")
        out.append({"depth": int(depth), "skips": skips, "run_name": name, "estimate_dice": value, "folds": len(group)})
    return pd.DataFrame(out).sort_values(["estimate_dice", "depth", "skips"], ascending=[False, True, True]).reset_index(drop=True)


def candidates(estimates: pd.DataFrame, fixed: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """The `k` best patterns by estimate as stand-alone candidates for the final budget: [{"run_name", "best_val_dice"
    (the estimate), "config"}], best first."""
    out = []
    for r in estimates.head(k).itertuples(index=False):
        config = standalone_config(fixed, r.depth, r.skips)
        out.append({"run_name": TrialParams.from_config(config).run_name, "best_val_dice": float(r.estimate_dice), "config": config})
    return out
