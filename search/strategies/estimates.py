"""A supernet search's estimates in MLflow: one run per skip pattern (role "estimate"), and the best of them as
stand-alone candidates for the final budget."""
from __future__ import annotations

from typing import Any

import pandas as pd

from recipes.params import TrialParams
from search.tracking import client as tracking
from search.tracking import schema
from search.tracking.schema import ESTIMATE as ESTIMATE_ROLE
from search.tracking.schema import ESTIMATE_PREFIX, ESTIMATE_TAG, SUPERNET_RUN_TAG
from search.tracking.schema import SUPERNET as ROLE


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
                schema.NOTE_TAG: "An estimate from a weight-sharing skip supernet, not a trained configuration."})
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
