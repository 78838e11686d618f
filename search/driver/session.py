"""One search session: its settings, data, tracking store, parent run and Tune folder, opened once and handed to every
phase (the search's trials, its final round), and the writes it owes the store when it ends."""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from datasets import SegmentationData
from search.config import SearchConfig
from search.errors import ConfigError, SearchStopped
from search.spaces import Space, SpaceLimits, create_space
from search.strategies import Strategy, create_strategy
from search.tracking import client as tracking
from search.tracking import outbox, schema
from search.trainable.context import SearchContext, data_digest

from . import state as search_state
from .cluster import start_cluster
from .quiet import quiet_libraries

OUTBOX = "unet-outbox"  # in the search's Tune folder: the trials' MLflow writes the store did not take (search.tracking.outbox)
# a trial run left RUNNING once every phase has ended: the driver died while it trained and Tune's restored state no longer
# held its trial (the searcher proposed a new one instead)
ORPHAN_ERROR = "attempt lost (process or node died); the resumed search did not take it up"
# how long the driver waits, after Tune ends, for a tracking store that is down, full or read-only to take the kept writes
TRACKING_WAIT_S = float(os.environ.get("UNET_SEARCH_TRACKING_WAIT_S", 300))


@dataclass
class SearchSession:
    """What every phase of one search shares.

    Attributes:
        cfg: the search's settings (patch settled); space / strategy: its registered space and strategy.
        data / limits: the dataset and what it allows the space.
        client: the MLflow client of the tracking store; ctx: what every trial gets (ids, outbox, validation settings).
        search_name: the search's Tune folder and parent run name; state_path / state: its resume state file.
        echo: where the search's lines go.
        plan / budget: the search's plan (search.plan) and, with a budget, the time it has used and has left.
    """

    cfg: SearchConfig
    space: Space
    strategy: Strategy
    data: SegmentationData
    limits: SpaceLimits
    client: Any
    ctx: SearchContext
    search_name: str
    state_path: Path
    state: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = print
    plan: Any = None
    budget: Any = None
    deadline_reached: bool = False  # set by the Tune phase's Deadline (search.driver.live) when it ended the phase
    ctrl_c: bool = False  # Tune caught Ctrl-C (or SIGTERM, raised as one) during a Tune phase (search.driver.interrupt)
    final_time_limit_s: float | None = None  # a budgeted final round's seconds a training (search.driver.budgeting)
    final_epochs_by_trial: dict[str, int] = field(default_factory=dict)  # a budgeted one-wave final round: the finalists that fit
    # more epochs than the default U-Net in the same time, by search trial id (search.driver.budgeting.own_final_epochs)

    def note_time(self) -> None:
        """Keep the budget's used seconds in the state file, so a resumed search goes on with the time it has left."""
        if self.budget is not None:
            self.state["budget_used_s"] = round(self.budget.used_s, 1)
            search_state.write_state(self.state_path, self.state)

    @property
    def resume(self) -> str:
        """The command that continues this search."""
        return search_state.resume_command(self.cfg)

    @property
    def outbox_dir(self) -> Path:
        """Where the trials keep the writes the store did not take."""
        return Path(self.ctx.outbox_dir)

    def send_kept_writes(self) -> None:
        """Send the trial writes kept while the store was unreachable; stop the search, resumable, if it still takes none."""
        try:
            left = outbox.drain_folder(self.client, self.outbox_dir, TRACKING_WAIT_S, self.echo)
        except Exception as exc:  # noqa: BLE001 - the driver's own reads of an unreachable store
            if not outbox.is_transient(exc):
                raise
            left = ["?"]
        if left:
            raise SearchStopped(f"the tracking store {self.ctx.tracking_uri} did not take writes for {TRACKING_WAIT_S:.0f} s (down, full or "
                                f"read-only). Tune's results and the trials' unsent writes are kept in {self.outbox_dir.parent}; once the store "
                                f"takes writes again, continue with: {self.resume}")

    def kill_unfinished(self) -> None:
        """Mark an interrupted search's parent run and its still-running trial runs KILLED (--resume starts those trials
        again). A store that cannot be reached or written is left as it is (the state file still says how to resume)."""
        try:
            with outbox.failing_fast():
                self._end_running_trials("KILLED", "search interrupted; --resume trains this trial again")
                self.client.set_terminated(self.ctx.parent_run_id, "KILLED")
        except Exception as exc:  # noqa: BLE001
            if not outbox.is_transient(exc):
                raise

    def finish(self) -> None:
        """Close the parent run and mark the state file finished; a trial run still RUNNING then belongs to no live trial
        (an attempt a crash cut short that the resumed search never took up) and is marked FAILED."""
        self._end_running_trials("FAILED", ORPHAN_ERROR)
        self.client.set_terminated(self.ctx.parent_run_id, "FINISHED")
        search_state.write_state(self.state_path, {**self.state, "status": "finished"})

    def _end_running_trials(self, status: str, error: str) -> None:
        """End every trial run of this search still marked RUNNING with `status`, `error` saying why."""
        for run in tracking.child_runs(self.client, self.ctx.experiment_id, self.ctx.parent_run_id):
            if tracking.is_running(run):
                tracking.end_run(self.client, run.info.run_id, status, {schema.ERROR_TAG: error})


def _open_store(cfg: SearchConfig):
    """The tracking store's client, with Ray started (or reached) in between: a remote store is checked before Ray
    starts, a local one is opened while it does; a failure leaves no store behind."""
    uri = cfg.tracking_uri or tracking.default_tracking_uri()
    local = tracking.is_local_sqlite(uri)
    if not local:
        tracking.check_tracking(uri)  # a remote server: fail in seconds, before Ray starts
    opener = tracking.LocalStoreOpener(uri) if local else None  # opened while Ray starts
    quiet_libraries(local_ray=cfg.address is None)
    try:
        start_cluster(cfg, local, uri)
    except BaseException:
        if opener is not None:
            opener.discard()
        raise
    return uri, opener.client() if opener is not None else tracking.check_tracking(uri)


def _resumed_ids(cfg: SearchConfig, client, echo) -> tuple[str, str, str, Path, dict[str, Any]]:
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    path = search_state.unfinished_state(cfg)
    state = search_state.read_state(path)
    if not tune.Tuner.can_restore(str(cfg.storage_path / state["search_name"])):
        raise ConfigError(f"the search at {cfg.storage_path / state['search_name']} has no Tune state to resume from")
    client.update_run(state["parent_run_id"], status="RUNNING")
    echo(f"resuming search {state['search_name']} (parent run {state['parent_run_id']})")
    return state["experiment_id"], state["parent_run_id"], state["search_name"], path, state


def _new_ids(cfg: SearchConfig, client, uri: str) -> tuple[str, str, str, Path, dict[str, Any]]:
    experiment_id = tracking.get_or_create_experiment(client, cfg.experiment, uri)
    # the suffix keeps two searches started in the same second apart (their Tune folders and state files)
    search_name = f"{cfg.space}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    parent_id = tracking.start_parent(client, experiment_id, search_name, cfg.to_params()).run_id
    cfg.storage_path.mkdir(parents=True, exist_ok=True)
    path = search_state.state_path(cfg, search_name)
    state = {"search_name": search_name, "experiment_id": experiment_id, "parent_run_id": parent_id, "tracking_uri": uri,
             "config": asdict(cfg), "status": "running"}
    search_state.write_state(path, state)
    return experiment_id, parent_id, search_name, path, state


def open_session(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits, echo: Callable[[str], None]) -> SearchSession:
    """Start (or reach) Ray and the tracking store, then open the search's parent run and state file, or those of the
    search being resumed."""
    uri, client = _open_store(cfg)
    ids = _resumed_ids(cfg, client, echo) if cfg.resume else _new_ids(cfg, client, uri)
    experiment_id, parent_id, search_name, path, state = ids
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")  # record finished trials promptly, so a crash loses none
    # a trial that fails on its own error ends without a final val_dice (its MLflow run says FAILED); Tune's
    # strict check would turn that into an error, and an error into a retry that fails the same way
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    digest = data_digest(data)
    tracking.log_dataset(client, parent_id, data.name, data.source, digest)
    strategy = create_strategy(cfg.strategy)
    ctx = SearchContext(uri, experiment_id, parent_id, cfg.cpus_per_trial, digest, cfg.eval_tile, role=strategy.role,
                        outbox_dir=str(cfg.storage_path / search_name / OUTBOX), val_images=cfg.val_images)
    return SearchSession(cfg, create_space(cfg.space), strategy, data, limits, client, ctx, search_name, path, state, echo)
