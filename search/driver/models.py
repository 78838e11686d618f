"""The models a search hands its user: the chosen configuration's trained U-Net (with each of its final-round fold
models) and the final round's default U-Net, logged as MLflow models beside their runs, and the choice registered
as a new version of `cfg.register` (search.tracking.models)."""
from __future__ import annotations

import pandas as pd

from search.tracking import client as tracking
from search.tracking import models as logged
from search.tracking import schema

from .results import SearchOutcome, other_folds, test_score, trained_model
from .session import SearchSession


def keep_models(session: SearchSession, outcome: SearchOutcome, best: pd.Series | None, test_metrics: dict[str, float]) -> None:
    """Log the chosen model (and its fold models, and the default U-Net it was compared with), register the choice, and
    note both on `outcome` and the parent run. A resumed search whose choice is already registered registers it no
    second time. A store or model that refuses is one line on the search's output, not a lost search."""
    if best is None:
        return
    client, parent = session.client, session.ctx.parent_run_id
    kept = client.get_run(parent).data.tags
    if kept.get(schema.REGISTERED_MODEL_TAG):  # an earlier session of this search got this far
        outcome.model_id, outcome.model_uri = kept.get(schema.MODEL_ID_TAG), kept[schema.REGISTERED_MODEL_TAG]
        return
    try:
        outcome.model_id, outcome.model_uri = _keep(session, best, test_metrics, outcome.final)
        client.set_tag(parent, schema.MODEL_ID_TAG, outcome.model_id)
        client.set_tag(parent, schema.REGISTERED_MODEL_TAG, outcome.model_uri)
    except Exception as exc:  # noqa: BLE001 - MLflow, pickling or a missing checkpoint: the search's results stand without a model
        session.echo(f"model: not logged ({logged.first_line(exc)}); the trial's checkpoint still predicts with --run-id {best.run_id}")


def _keep(session: SearchSession, best: pd.Series, test_metrics: dict[str, float], final: pd.DataFrame | None) -> tuple[str, str]:
    """(LoggedModel id, registered model URI) of the chosen model."""
    cfg, client, ctx = session.cfg, session.client, session.ctx
    folds = _chosen_folds(best, final)
    ids = {}
    for row in folds.itertuples(index=False):
        chosen = row.run_id == best.run_id
        ids[row.run_id] = _log(session, row, "chosen" if chosen else "chosen_fold", {f"test_{k}": v for k, v in test_metrics.items()} if chosen else {})
    if len(ids) > 1:
        for model_id in ids.values():
            client.set_logged_model_tags(model_id, {schema.FOLD_MODELS_TAG: ",".join(ids.values())})
    default = _default_unet(final, set(ids))
    if default is not None:  # its checkpoint read once: scored on the test split, then logged
        trained = trained_model(client, default.run_id)
        folds = other_folds(_finished(final[final["default"]]), default)  # scored as the choice is: its fold models averaged
        test = test_score(client, default.run_id, session.data, trained, folds=folds)
        _log(session, default, "default", {f"test_{k}": v for k, v in test.items()}, trained)
        tracking.log_metrics(client, session.ctx.parent_run_id, {f"default_test_{k}": v for k, v in test.items()}, 0)  # beside the choice's
    tags = {"dataset": session.data.name, "configuration": best.run_name, "unet.parent_run_id": ctx.parent_run_id, "unet.run_id": best.run_id}
    tags |= {"test_dice": f"{test_metrics['dice']:.4f}"} if "dice" in test_metrics else {}
    tags |= {schema.FOLD_MODELS_TAG: ",".join(ids.values())} if len(ids) > 1 else {}
    name = cfg.register or cfg.experiment
    scores = f"validation Dice {best.best_val_dice:.4f}" + (f", test Dice {test_metrics['dice']:.4f}" if "dice" in test_metrics else "")
    about = (f"{best.run_name}, the choice of search {session.search_name} on {session.data.name} ({scores})"
             + (f"; its {len(ids)} final-round fold models are averaged by search.predict" if len(ids) > 1 else ""))
    version = logged.register(ctx.tracking_uri, ids[best.run_id], name, tags, about)
    return ids[best.run_id], f"models:/{name}/{version}"


def _log(session: SearchSession, row, role: str, metrics: dict[str, float], trained=None) -> str:
    """Log one run's best checkpoint as a LoggedModel with its validation Dice and `metrics`; its id. They are logged at the
    run's last epoch, where its curves end, so its best_val_dice chart gains no point at step 0. `trained`: its (model,
    meta), where already loaded."""
    model, meta = trained or trained_model(session.client, row.run_id)
    tags = {schema.MODEL_ROLE_TAG: role, "unet.run_name": row.run_name, "unet.parent_run_id": session.ctx.parent_run_id,
            "dataset": session.data.name}
    return logged.log_unet(session.client, session.ctx.tracking_uri, session.ctx.experiment_id, row.run_id, model, meta,
                           {"best_val_dice": float(row.best_val_dice), **metrics}, tags, name=row.run_name, step=last_epoch(row))


def last_epoch(row) -> int:
    """The run's last epoch (0 where the table does not say)."""
    epochs = getattr(row, "epochs_trained", None)
    return int(epochs) if epochs is not None and pd.notna(epochs) else 0


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table.status == "FINISHED") & table.best_val_dice.notna()]


def _chosen_folds(best: pd.Series, final: pd.DataFrame | None) -> pd.DataFrame:
    """The chosen configuration's finished final-round runs, one per fold, the best first (the best alone without them)."""
    if final is None or final.empty or "chosen" not in final or not final.chosen.any():
        return pd.DataFrame([best])
    runs = _finished(final[final.chosen])
    runs = runs[runs.run_id != best.run_id]
    return pd.concat([pd.DataFrame([best]), runs], ignore_index=True)


def _default_unet(final: pd.DataFrame | None, chosen_runs: set[str]):
    """The final round's best default U-Net run (search.driver.final.mark_choice marks them), unless it is the choice (or
    there was no final round)."""
    if final is None or final.empty or "default" not in final:
        return None
    runs = _finished(final[final["default"]])
    if runs.empty or chosen_runs & set(runs.run_id):
        return None
    return runs.loc[runs.best_val_dice.idxmax()]
