"""The Tune trainable of a search's trials: one trial opens (or takes over) its nested MLflow run, trains its
configuration with the recipe (recipes.train_and_report), reports every epoch to Tune, and closes its run."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from datasets import SegmentationData
from recipes import TrialParams, Validator, config_run_name, train_and_report, trial_precision
from recipes.train import fold_of
from search.errors import TrackingUnavailable
from search.tracking import client as tracking
from search.tracking import outbox, schema
from search.tracking.pictures import prediction_panel
from unet_core import save_checkpoint

from .context import SearchContext
from .process import quiet_exit_hook, release_memory, where_am_i

# a trial that starts while the tracking store is unreachable waits this long for it; one that ends waits this long for
# its kept writes to go out before it hands them to the driver (search.tracking.outbox)
START_WAIT_S = float(os.environ.get("UNET_SEARCH_START_WAIT_S", 600))
FINISH_WAIT_S = float(os.environ.get("UNET_SEARCH_FINISH_WAIT_S", 60))


class TrialRun:
    """The trial's nested MLflow run: opened (or taken over after a crash) at start, closed at the end.

    Its writes go through an Outbox: while the tracking store is unreachable (a server restarting, a full disk) they wait
    on disk and the trial goes on training; they are sent, in order, once the store answers again."""

    def __init__(self, ctx: SearchContext, trial_id: str, config: dict[str, Any], run_name: str):
        self.ctx = ctx
        outbox.fail_fast_client_env()
        # without a run id nothing can be kept for later: a trial that starts during an outage waits for the store
        self.client = until_reachable(lambda: tracking.check_tracking(ctx.tracking_uri), ctx.tracking_uri)
        previous = until_reachable(lambda: tracking.find_trial_run(self.client, ctx.experiment_id, ctx.parent_run_id, trial_id), ctx.tracking_uri)
        self.finished_before = previous is not None and previous.info.status == "FINISHED"
        if self.finished_before:
            self.run_id = previous.info.run_id
            self.previous_metrics = dict(previous.data.metrics)
            return
        attempt = 1
        if previous is not None:
            attempt = int(previous.data.tags.get(schema.ATTEMPT_TAG, "1")) + 1
            if tracking.is_running(previous):  # a dead attempt (crashed driver or node): it did not finish
                self._box(previous.info.run_id).end("FAILED", {schema.ERROR_TAG: "attempt lost (process or node died); retried"})
        run = until_reachable(lambda: self.client.create_run(
            ctx.experiment_id, run_name=run_name,
            tags={tracking.PARENT_TAG: ctx.parent_run_id, tracking.TRIAL_TAG: trial_id, tracking.ROLE_TAG: ctx.role, schema.ATTEMPT_TAG: str(attempt)},
        ), ctx.tracking_uri)
        self.run_id = run.info.run_id
        self.outbox = self._box(self.run_id)
        self.outbox.params(config)

    def _box(self, run_id: str) -> outbox.Outbox:
        return outbox.Outbox(self.client, run_id, self.ctx.outbox_dir or Path(tempfile.gettempdir()) / "unet-search-outbox")

    def log_epoch(self, metrics: dict[str, float], step: int) -> None:
        """Per-epoch metrics."""
        self.outbox.metrics(metrics, step)

    def log_best(self, state: dict[str, torch.Tensor], meta: dict[str, Any], validator: Validator, title: str) -> None:
        """The best checkpoint so far, its prediction picture and each validation image's Dice (schema.VAL_IMAGE_DICE)."""
        with tracking.temp_dir() as tmp:
            path = Path(tmp) / "best.pt"
            save_checkpoint(path, state, meta)
            self.outbox.file(path, "checkpoints")
        if validator.image_dice:
            with tracking.temp_dir() as tmp:
                path = Path(tmp) / Path(schema.VAL_IMAGE_DICE).name
                path.write_text(json.dumps(validator.image_dice))
                self.outbox.file(path, str(Path(schema.VAL_IMAGE_DICE).parent))
        items = validator.picture_items()
        if items:
            with tracking.temp_dir() as tmp:
                path = Path(tmp) / "validation.png"
                prediction_panel(items, title).save(path)
                self.outbox.file(path, "predictions")

    def finish(self, tags: dict[str, str]) -> None:
        """Mark the run FINISHED, waiting a while for a store that is down (the driver sends what is still left)."""
        self.outbox.end("FINISHED", tags)
        self.outbox.drain(FINISH_WAIT_S)

    def fail(self, exc: BaseException) -> None:
        """Mark the run FAILED with the error."""
        message = f"{type(exc).__name__}: {exc}"
        self.outbox.end("FAILED", {schema.ERROR_TAG: message, schema.TRACEBACK_TAG: traceback.format_exc()[-4000:]})
        self.outbox.drain(FINISH_WAIT_S)


def until_reachable(call, uri: str, wait_s: float | None = None, every_s: float = 5.0):
    """`call()`, retried while the tracking store is unreachable, for up to `wait_s` seconds (START_WAIT_S); then
    TrackingUnavailable (the trial errors, and --resume trains it again)."""
    wait_s = START_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest raised
            if not outbox.is_transient(exc):
                raise
            if time.monotonic() >= deadline:
                cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # SQLAlchemy's last line is a link, not the cause
                raise TrackingUnavailable(f"the tracking store {uri} did not take writes for {wait_s:.0f} s (down, full or read-only): "
                                                 f"{cause[:200]}") from None
        time.sleep(every_s)


def val_names(params: TrialParams, data: SegmentationData) -> str:
    """The names of the images the trial validates on (its fold, its reshuffled split or the dataset's), comma-separated."""
    return ",".join(s.name for s in fold_of(params, data).val)[:5000]


def run_trial(config: dict[str, Any], data: SegmentationData, ctx: SearchContext) -> None:
    """The Tune function trainable (use with tune.with_parameters(run_trial, data=..., ctx=...)).

    A trial's own error (bad configuration, diverged loss) is recorded as a FAILED run and ends the trial
    without raising: retrying it would fail the same way. Only a lost process or node reaches Tune, whose
    FailureConfig retries the trial elsewhere.
    """
    from ray import tune  # deferred: imports Ray; importing the trainable (the driver, tests) goes without it

    release_memory()  # what the previous trial of this reused process left (here, not at its end: a stopped trial must exit fast)
    sys.unraisablehook = quiet_exit_hook
    trial_id = tune.get_context().get_trial_id() or "local"
    try:
        name = config_run_name(config) + ("" if ctx.role == schema.TRIAL else f"-{ctx.role}")
    except (TypeError, ValueError):
        name = f"invalid-{trial_id}"
    run = TrialRun(ctx, trial_id, config, name)
    if run.finished_before:  # finished before a driver crash was recorded: report it, do not retrain
        tune.report({**run.previous_metrics, "mlflow_run_id": run.run_id, "restored": 1})
        return
    try:
        run.outbox.tags(where_am_i())
        params = TrialParams.from_config(config)
        precision = trial_precision(params)
        run.outbox.params({k: v for k, v in params.to_dict().items() if k not in config} | {"run_name": params.run_name, "precision_used": precision.name,
                                                                                         "train_seed": params.train_seed})
        if precision.note:
            run.outbox.tags({schema.PRECISION_NOTE_TAG: precision.note})
        run.outbox.dataset(data.name, data.source, ctx.data_digest)
        run.outbox.tags({schema.VAL_IMAGES_TAG: val_names(params, data)})
        best = train_and_report(params, data, ctx.recipe, lambda m: tune.report({**m, "mlflow_run_id": run.run_id}), run)
    except Exception as exc:  # the trial's own failure; Tune stopping the trial (SystemExit) is closed by the driver's callback
        run.fail(exc)
        return
    run.finish({schema.STOPPED_EARLY_TAG: "false", schema.BEST_EPOCH_TAG: str(int(best.get("epoch", 0)))})


