"""Run a search: data and tracking checks, Ray Tune with ASHA and Optuna, resume, and the final test evaluation."""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from datasets import SegmentationData, compute_fingerprint, feasible, full_images, load_dataset
from datasets.weights import with_border_weights
from unet_core.losses import PIXEL_WEIGHTED

from . import outbox, tracking
from .interrupt import own_process_group, sigterm_as_ctrl_c
from .config import ConfigError, SearchConfig, SearchInterrupted, SearchStopped
from .params import TrialParams, supernet_run_name, trial_name
from .quiet import quiet_libraries
from .spaces import DefineByRun, SpaceLimits, ablation_configs, ablation_patterns, describe_full
from .stopping import StopAtDice
from .trial import SearchContext, data_digest, run_trial

STATE_SUFFIX = ".search.json"
OUTBOX = "unet-outbox"  # in the search's Tune folder: the trials' MLflow writes the store did not take (search.outbox)
# how long the driver waits, after Tune ends, for a tracking store that is down, full or read-only to take the kept writes
TRACKING_WAIT_S = float(os.environ.get("UNET_SEARCH_TRACKING_WAIT_S", 300))
# what workers of a remote cluster do not need from the project folder (virtual environments, stores, results)
RUNTIME_EXCLUDES = [".venv*/", ".git/", "mlflow/*.db", "mlflow/artifacts/", "ray_results/", "runs/", "bench/results/", "reports/", "*.pt", "__pycache__/"]


def kill_unfinished(client, experiment_id: str, parent_id: str) -> None:
    """Mark an interrupted search's parent run and its still-running trial runs KILLED (--resume starts those trials again).
    A store that cannot be reached or written is left as it is (the search's state file still says how to resume)."""
    try:
        with outbox.failing_fast():
            for run in tracking.child_runs(client, experiment_id, parent_id):
                if tracking.is_running(run):
                    tracking.end_run(client, run.info.run_id, "KILLED", {"unet.error": "search interrupted; --resume trains this trial again"})
            client.set_terminated(parent_id, "KILLED")
    except Exception as exc:  # noqa: BLE001
        if not outbox.is_transient(exc):
            raise


def send_kept_writes(client, folder: Path, uri: str, resume: str, echo: Callable[[str], None]) -> None:
    """Send the trial writes kept while the store was unreachable; stop the search, resumable, if it still takes none."""
    try:
        left = outbox.drain_folder(client, folder, TRACKING_WAIT_S, echo)
    except Exception as exc:  # noqa: BLE001 - the driver's own reads of an unreachable store
        if not outbox.is_transient(exc):
            raise
        left = ["?"]
    if left:
        raise SearchStopped(f"the tracking store {uri} did not take writes for {TRACKING_WAIT_S:.0f} s (down, full or read-only). "
                            f"Tune's results and the trials' unsent writes are kept in {folder.parent}; once the store takes writes again, "
                            f"continue with: {resume}")


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
    estimates: pd.DataFrame | None = None  # a supernet search's estimate of every skip pattern (search.supernet_search)


def load_data(cfg: SearchConfig) -> SegmentationData:
    """The dataset of the search, decoded once (DatasetError on bad input); with border weight maps where a
    border-weighted loss can be tried, computed once here for every trial."""
    data = load_dataset(cfg.dataset, cfg.data_root, seed=cfg.seed, **cfg.dataset_options)
    pool = len(data.train) + len(data.val)
    if cfg.folds > pool:
        raise ConfigError(f"--folds {cfg.folds}: {data.name} has {pool} training images (validation included); use at most {pool} folds")
    if data.objects is not None and (cfg.space == "full" or cfg.loss in PIXEL_WEIGHTED):
        data = with_border_weights(data)
    return data


def settle_patch(cfg: SearchConfig, data: SegmentationData) -> SearchConfig:
    """`cfg` with an auto patch size (0) replaced by the dataset fingerprint's recommendation (ConfigError where a
    requested depth cannot use it)."""
    if cfg.patch_size:
        return cfg
    return replace(cfg, patch_size=compute_fingerprint(data).recommended_patch)


def space_limits(cfg: SearchConfig, data: SegmentationData) -> SpaceLimits:
    """The depths and patches this dataset allows for this search (ConfigError when --depths/--skips ask too much)."""
    try:
        limits = SpaceLimits.from_fingerprint(compute_fingerprint(data), requested=cfg.ablation_depths if cfg.skips else cfg.depths)
        return replace(limits, border_weights=data.objects is not None)
    except ValueError as exc:
        raise ConfigError(f"{data.name}: {exc}") from None


def fixed_params(cfg: SearchConfig) -> dict[str, Any]:
    """Values every trial of the space shares."""
    base = {"epochs": cfg.max_epochs, "patches_per_epoch": cfg.patches_per_epoch, "seed": cfg.seed, "precision": cfg.precision}
    if cfg.space == "full":
        return {**base, "saliency_epochs": max(1, cfg.max_epochs // 2)}
    if cfg.space in ("ablation", "arch"):
        return {**base, "loss": cfg.loss, "base_channels": cfg.base_channels, "patch_size": cfg.patch_size,
                "patch_stride": cfg.patch_size // 2, "lr": cfg.lr, "augment": "light", "batch_size": cfg.batch_size,
                **({"folds": cfg.folds, "split_seed": cfg.seed} if cfg.folds > 1 else {})}
    return base


def max_trial_epochs(cfg: SearchConfig) -> int:
    """The most epochs any trial of the space can report (ASHA's max_t)."""
    return cfg.max_epochs + (2 * max(1, cfg.max_epochs // 2) if cfg.space == "full" else 0)


def define_by_run(cfg: SearchConfig, limits: SpaceLimits) -> DefineByRun:
    """The Optuna define-by-run function of a quick/full search, fixed values included."""
    return DefineByRun(cfg.space, limits, tuple(sorted(fixed_params(cfg).items())))


def dry_run_lines(cfg: SearchConfig, limits: SpaceLimits) -> list[dict[str, Any]]:
    """What --dry-run prints: every ablation configuration, the first sampled quick configurations, the full space, or
    a supernet search's supernets (with the patterns each estimates)."""
    if cfg.strategy == "supernet":
        from unet_core import all_patterns

        lines = []
        for depth in limits.depths:
            for fold in range(cfg.folds):
                params = TrialParams.from_config({**fixed_params(cfg), "depth": depth, "fold": fold})
                lines.append(params.to_dict() | {"run_name": supernet_run_name(params), "estimates": all_patterns(depth), **asdict(supernet_settings(cfg))})
        return lines
    if cfg.space == "ablation":
        configs = ablation_configs(cfg.repeats, limits.depths, cfg.skips, cfg.folds, cfg.seed)
        trials = [TrialParams.from_config({**fixed_params(cfg), **c}) for c in configs]
        return [t.to_dict() | {"run_name": t.run_name} for t in trials]
    if cfg.space == "full":
        return describe_full(limits) + [{"constraints": "infeasible (patch, depth) pairs are never proposed; depths "
                                         f"{list(limits.depths)}; patch <= {limits.max_patch}", "fixed": fixed_params(cfg)}]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.optuna_seed))
    space, lines = define_by_run(cfg, limits), []
    for _ in range(cfg.num_samples):
        trial = study.ask()
        constants = space(trial)
        params = TrialParams.from_config({**trial.params, **constants})
        lines.append(params.to_dict() | {"run_name": params.run_name})
        study.tell(trial, 0.0)
    return lines


def start_line(cfg: SearchConfig, search_name: str, total: int) -> str:
    """What the search is about to run, and how its --seed decides the trials."""
    import ray

    parallel = max(1, int(ray.cluster_resources().get("CPU", 1) // cfg.cpus_per_trial))
    if cfg.gpus_per_trial:
        parallel = min(parallel, int(ray.cluster_resources().get("GPU", 0) // cfg.gpus_per_trial) or 1)
    if cfg.strategy == "supernet":
        return (f"search {search_name}: {total} skip supernets (one per depth{' and fold' if cfg.folds > 1 else ''}) of {cfg.max_epochs} epochs, "
                f"{min(parallel, total)} at a time, each estimating every skip pattern of its depth; then the best {cfg.rerank_k} estimates "
                f"trained stand-alone at {cfg.final_epochs} epochs")
    line = f"search {search_name}: {total} trials of up to {max_trial_epochs(cfg)} epochs, {min(parallel, total)} at a time"
    if cfg.space != "ablation":
        line += (f"; Optuna seed {cfg.optuna_seed}: the same command samples the same configurations again, "
                 "--seed (or --searcher-seed) draws others")
    return line


def dry_run_compute(cfg: SearchConfig, data: SegmentationData, limits: SpaceLimits):
    """What --dry-run says the search will cost (search.compute), for the CPUs of this machine or of --address's cluster."""
    from .compute import expected_compute

    cpus = float(os.cpu_count() or 1)
    if cfg.address:
        start_ray(cfg)
        import ray

        cpus = ray.cluster_resources().get("CPU", cpus)
    return expected_compute(cfg, data, trial_count(cfg, limits), max_trial_epochs(cfg), cpus)


def _state_files(cfg: SearchConfig) -> list[Path]:
    return sorted(cfg.storage_path.glob(f"*{STATE_SUFFIX}"), key=lambda p: p.stat().st_mtime)


def resume_command(cfg: SearchConfig) -> str:
    """The command line that continues this search (its other settings come from its state file)."""
    return (f"python -m search.run --resume --experiment {cfg.experiment}" + (f" --storage {cfg.storage}" if cfg.storage != "ray_results" else "")
            + (f" --tracking-uri {cfg.tracking_uri}" if cfg.tracking_uri else ""))


def unfinished_state(cfg: SearchConfig) -> Path:
    """The state file of the newest unfinished search of cfg's experiment (ConfigError if there is none)."""
    candidates = [p for p in _state_files(cfg) if json.loads(p.read_text()).get("status") != "finished"]
    if not candidates:
        raise ConfigError(f"nothing to resume: no unfinished search of experiment {cfg.experiment!r} under {cfg.storage_path}")
    return candidates[-1]


def resumed_config(cfg: SearchConfig) -> SearchConfig:
    """The settings of the newest unfinished search of cfg's experiment (so `--resume --experiment NAME` alone trains
    its trials on the same data and budget); an explicit --tracking-uri or --address of this call is kept."""
    state = json.loads(unfinished_state(cfg).read_text())
    known = {k: v for k, v in (state.get("config") or {}).items() if k in SearchConfig.__dataclass_fields__}
    known.update(resume=True, dry_run=False, storage=cfg.storage, experiment=cfg.experiment,
                 tracking_uri=cfg.tracking_uri or state.get("tracking_uri"), address=cfg.address or known.get("address"))
    return SearchConfig(**known)


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, path)


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Raise ConfigError (one line, within seconds) unless something listens at --address (host:port, ray://host:port or auto)."""
    import socket

    target = address
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:
            target = canonicalize_bootstrap_address_or_die("auto")
        except Exception as exc:  # noqa: BLE001 - no cluster to find is the user's --address
            raise ConfigError(f"--address auto: no running Ray cluster found on this machine ({str(exc).splitlines()[0][:120]})") from None
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at --address {address}: {exc.strerror or exc}") from None


def start_ray(cfg: SearchConfig) -> None:
    """Connect to --address or start a local Ray; check that the GPUs asked for exist."""
    import ray

    if cfg.address:
        check_address(cfg.address)
    elif not ray.is_initialized():  # a local Ray gets this machine's GPUs: check before starting it
        import torch

        local = torch.cuda.device_count()
        if cfg.gpus_per_trial > local:
            raise ConfigError(f"--gpus-per-trial {cfg.gpus_per_trial:g} but the cluster has {local} GPU(s) (a local Ray on this machine)")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
        if cfg.address:
            repo = Path(__file__).resolve().parents[1]
            kwargs["runtime_env"] = {"working_dir": str(repo), "excludes": RUNTIME_EXCLUDES,
                                     "env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S", "30")}}
            try:
                ray.init(address=cfg.address, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any connection failure is the user's --address
                raise ConfigError(f"cannot reach the Ray cluster at --address {cfg.address}: {str(exc).splitlines()[0][:200]}") from None
        else:
            with own_process_group():
                ray.init(**kwargs)
    gpus = ray.cluster_resources().get("GPU", 0)
    if cfg.gpus_per_trial > gpus:
        raise ConfigError(f"--gpus-per-trial {cfg.gpus_per_trial:g} but the cluster has {gpus:g} GPU(s)")
    cpus = ray.cluster_resources().get("CPU", 0)
    if cfg.cpus_per_trial > cpus:
        raise ConfigError(f"--cpus-per-trial {cfg.cpus_per_trial:g} but the cluster has {cpus:g} CPU(s)")


def cluster_hosts() -> set[str]:
    """The IP addresses of the live nodes of the connected Ray cluster."""
    import ray

    return {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}


def make_searcher(cfg: SearchConfig, limits: SpaceLimits, sampler=None):
    """The searcher of a quick/arch/full search: Optuna (TPE unless `sampler` is given) over the space's define-by-run function."""
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(space=define_by_run(cfg, limits), metric="val_dice", mode="max", sampler=sampler,
                        seed=cfg.optuna_seed if sampler is None else None,  # a given sampler carries its own seed
                        points_to_evaluate=cfg.points_to_evaluate or None)


def make_scheduler(cfg: SearchConfig):
    """The scheduler of a quick/arch/full search: ASHA over epochs with the search's grace period and reduction factor."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", metric="val_dice", mode="max", max_t=max_trial_epochs(cfg),
                         grace_period=min(cfg.grace_period, max_trial_epochs(cfg)),  # a 1-epoch search must not trip ASHA's assertion
                         reduction_factor=cfg.reduction_factor)


def build_tuner(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext, limits: SpaceLimits, search_name: str, callbacks: list, restore_path: Path | None):
    """A new Tuner for the space, or one restored from `restore_path` (searcher and scheduler state kept)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    trainable = trial_trainable(cfg, data, ctx)
    if restore_path is not None:
        return restored_tuner(restore_path, trainable)
    if cfg.strategy == "supernet":
        from .supernet_search import param_space as supernet_grid

        param_space = supernet_grid(fixed_params(cfg), limits.depths, cfg.folds, supernet_settings(cfg))
        tune_config = tune.TuneConfig(metric="val_dice", mode="max", scheduler=FIFOScheduler(), num_samples=1, trial_name_creator=trial_name, reuse_actors=True,
                                      trial_dirname_creator=lambda t: f"{trial_name(t)}_{t.trial_id}")
    elif cfg.space == "ablation":
        param_space = {**fixed_params(cfg), "skips": tune.grid_search(ablation_patterns(limits.depths, cfg.skips)),
                       "seed": tune.grid_search(list(range(cfg.seed, cfg.seed + cfg.repeats)))}
        if cfg.folds > 1:
            param_space["fold"] = tune.grid_search(list(range(cfg.folds)))
        tune_config = tune.TuneConfig(metric="val_dice", mode="max", scheduler=FIFOScheduler(), num_samples=1, trial_name_creator=trial_name, reuse_actors=True,
                                      trial_dirname_creator=lambda t: f"{trial_name(t)}_{t.trial_id}")
    else:
        param_space = {}
        tune_config = tune.TuneConfig(search_alg=make_searcher(cfg, limits), scheduler=make_scheduler(cfg), num_samples=cfg.num_samples, trial_name_creator=trial_name, reuse_actors=True,
                                      trial_dirname_creator=lambda t: f"{trial_name(t)}_{t.trial_id}")
    stop = StopAtDice(cfg.stop_at) if cfg.stop_at is not None else None
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config(cfg, search_name, callbacks, stop))


def trial_trainable(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext):
    """run_trial (a supernet search's first phase: run_supernet_trial) with the search's data and context, at each
    trial's CPUs and GPUs."""
    from ray import tune

    function = run_trial
    if ctx.role == "supernet":
        from .supernet_search import run_supernet_trial as function
    return tune.with_resources(tune.with_parameters(function, data=data, ctx=ctx), {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})


def supernet_settings(cfg: SearchConfig):
    """The supernet settings of a --strategy supernet search."""
    from .supernet import SupernetSettings

    return SupernetSettings(sampling=cfg.supernet_sampling, warmup_epochs=cfg.supernet_warmup, recalibrate_batches=cfg.supernet_recalibrate)


def restored_tuner(path: Path, trainable):
    """The Tuner saved at `path`, continuing its unfinished trials. An errored trial is one whose process died
    max_failures + 1 times or that never reached the tracking store (a trial's own error ends it normally, with a FAILED
    run): it trains again from the start."""
    from ray import tune

    return tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=False, restart_errored=True)


def run_config(cfg: SearchConfig, name: str, callbacks: list, stop=None):
    """Tune's run settings of a search phase: its folder under the search's storage, callbacks, quiet output, retries."""
    from ray import tune

    return tune.RunConfig(name=name, storage_path=str(cfg.storage_path), callbacks=callbacks, verbose=0, stop=stop,
                          failure_config=tune.FailureConfig(max_failures=cfg.max_failures))


def trials_table(client, experiment_id: str, parent_run_id: str, role: str = "trial") -> pd.DataFrame:
    """One row per trial run of the search (role "trial"), or of its re-ranking (role "final"): name, status,
    architecture, best validation Dice."""
    rows = []
    for run in tracking.child_runs(client, experiment_id, parent_run_id):
        p, m, t = run.data.params, run.data.metrics, run.data.tags
        if t.get(tracking.ROLE_TAG, "trial") != role:
            continue
        rows.append({
            "run_name": run.info.run_name, "run_id": run.info.run_id, "status": run.info.status,
            "stopped_early": t.get("unet.stopped_early") == "true", "depth": p.get("depth"), "skips": p.get("skips"),
            "loss": p.get("loss"), "patch_size": p.get("patch_size"), "best_val_dice": m.get("best_val_dice"),
            "epochs_trained": m.get("epoch"), "epoch_budget": _epoch_budget(p), "error": t.get("unet.error", ""), "trial_id": t.get(tracking.TRIAL_TAG, ""),
            "attempt": int(t.get("unet.attempt", "1")), "node_id": t.get("unet.node_id", ""), "start_time": run.info.start_time,
            "tracking_delayed": int(t.get(outbox.DELAYED_TAG, "0")),
        })
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def _epoch_budget(params: dict[str, str]) -> int | None:
    """The epochs a trial would train unstopped, saliency retraining rounds included (its --max-epochs plus those rounds)."""
    try:
        return TrialParams(epochs=int(params["epochs"]), saliency_percentile=float(params.get("saliency_percentile", 0)),
                           saliency_iterations=int(params.get("saliency_iterations", 0)), saliency_epochs=int(params.get("saliency_epochs", 2))).total_epochs
    except (KeyError, TypeError, ValueError):
        return None


# epochs_trained counts every round a trial trained (a saliency trial's retraining rounds too); epoch_budget is what it would train unstopped
TRIAL_COLUMNS = ["run_name", "run_id", "status", "stopped_early", "depth", "skips", "loss", "patch_size", "best_val_dice", "epochs_trained", "epoch_budget", "error",
                 "trial_id", "attempt", "node_id", "start_time", "tracking_delayed"]


def final_attempts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: its last attempt (a retried trial's lost attempts are left out)."""
    if table.empty:
        return table
    return table.sort_values(["attempt", "start_time"]).groupby("trial_id", sort=False).tail(1).sort_values("start_time")


def final_tuner(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext, name: str, candidates: list[dict[str, Any]], callbacks: list):
    """The re-ranking Tuner: each candidate's config once, at the final budget, no early stopping (restored if a
    previous session of this search started it)."""
    from ray import tune

    from .rerank import FixedConfigs, final_config

    trainable = trial_trainable(cfg, data, ctx)
    path = cfg.storage_path / name
    if tune.Tuner.can_restore(str(path)):
        return restored_tuner(path, trainable)
    points = [final_config(c["config"], cfg.final_epochs) for c in candidates]
    tune_config = tune.TuneConfig(metric="val_dice", mode="max", search_alg=FixedConfigs(points), num_samples=len(points),
                                  trial_name_creator=trial_name, reuse_actors=True, trial_dirname_creator=lambda t: f"{trial_name(t)}_{t.trial_id}")
    return tune.Tuner(trainable, param_space={}, tune_config=tune_config, run_config=run_config(cfg, name, callbacks))


def default_unet_config(cfg: SearchConfig, limits: SpaceLimits) -> dict[str, Any]:
    """The default U-Net's Tune config: depth 4 (or the deepest that `limits` and the settled patch allow) with every skip, at the
    arch space's fixed recipe."""
    fits = [d for d in limits.depths if d <= 4 and feasible(cfg.patch_size, d)]
    depth = max(fits) if fits else min(limits.depths)
    return {**fixed_params(replace(cfg, space="arch", folds=1, depths=(depth,), skips=())), "depth": depth, "skips": "1" * depth}


def rerank_at_final_budget(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext, search_name: str, results, table: pd.DataFrame,
                           client, echo: Callable[[str], None], resume: str, limits: SpaceLimits) -> pd.DataFrame:
    """Train the search's best cfg.rerank_k configurations (and, with cfg.final_baseline, the default U-Net) at
    cfg.final_epochs; their trial table (role "final"). Both rankings go on the parent run as tags (search.rerank)."""
    from .rerank import SEARCH_RANKING_TAG, top_candidates, with_baseline

    configs = {(r.metrics or {}).get("trial_id"): r.config for r in results if (r.metrics or {}).get("trial_id")}
    candidates = top_candidates(final_attempts(table), configs, cfg.rerank_k)
    if candidates:
        searched = len(candidates)
        if cfg.final_baseline:
            candidates = with_baseline(candidates, default_unet_config(cfg, limits), cfg.final_epochs)
        beside = f", beside the default U-Net {candidates[-1]['run_name']}" if candidates[-1].get("baseline") else ""
        echo(f"re-ranking the best {searched} at the final budget ({cfg.final_epochs} epochs){beside}: "
             + ", ".join(c["run_name"] for c in candidates[:searched]))
    return train_at_final_budget(cfg, data, ctx, search_name, candidates, SEARCH_RANKING_TAG, client, echo, resume)


def train_at_final_budget(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext, search_name: str, candidates: list[dict[str, Any]],
                          ranking_tag: str, client, echo: Callable[[str], None], resume: str) -> pd.DataFrame:
    """Train `candidates` ([{"run_name", "best_val_dice", "config"}], best first) at cfg.final_epochs; their trial table
    (role "final"). The candidates' ranking goes on the parent run as `ranking_tag`, the final budget's as unet.final_ranking."""
    from .callbacks import CloseTrialRuns
    from .progress import ProgressLines
    from .rerank import FINAL_RANKING_TAG, ROLE, ranking

    if not candidates:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    client.set_tag(ctx.parent_run_id, ranking_tag, ranking([c for c in candidates if not c.get("baseline")]))
    final_ctx = replace(ctx, role=ROLE)
    progress = ProgressLines(len(candidates), cfg.final_epochs, early_stopping=False, echo=lambda line: echo(f"final budget {line}"))
    closer = CloseTrialRuns(ctx.tracking_uri, ctx.experiment_id, ctx.parent_run_id, ctx.outbox_dir)
    final_results = final_tuner(cfg, data, final_ctx, f"{search_name}-final", candidates, [closer, progress]).fit()
    send_kept_writes(client, Path(ctx.outbox_dir), ctx.tracking_uri, resume, echo)
    closer.settle(final_results)
    final = trials_table(client, ctx.experiment_id, ctx.parent_run_id, role=ROLE)
    ended = int(final_attempts(final).status.isin(["FINISHED", "FAILED"]).sum()) if not final.empty else 0
    if ended < len(candidates):
        raise SearchInterrupted(f"interrupted while training at the final budget: {ended} of {len(candidates)} done. Continue with: {resume}")
    final = final_attempts(final)
    client.set_tag(ctx.parent_run_id, FINAL_RANKING_TAG, ranking([{"run_name": r.run_name, "best_val_dice": r.best_val_dice}
                                                                  for r in final.itertuples(index=False) if pd.notna(r.best_val_dice)]))
    return final


def evaluate_best(client, table: pd.DataFrame, data: SegmentationData) -> tuple[pd.Series | None, dict[str, float]]:
    """Load the best finished trial's checkpoint and score it on the test split with overlap-tile inference."""
    import torch

    from unet_core import UNet, evaluate_images, load_checkpoint

    done = table[(table.status == "FINISHED") & table.best_val_dice.notna()]
    if done.empty or not data.test:
        return None, {}
    best = done.loc[done.best_val_dice.idxmax()]
    with tracking.temp_dir() as tmp:
        path = client.download_artifacts(best.run_id, "checkpoints/best.pt", tmp)
        state, meta = load_checkpoint(path)
    model = UNet(**meta["model"])
    model.load_state_dict(state)
    with torch.no_grad():
        metrics = evaluate_images(model, full_images(data.test), data.num_classes, meta["eval_tile"], 0.5, data.background)
    return best, metrics


def say(line: str) -> None:
    """Print a line at once (progress reaches a log file or pipe as it happens, not at exit)."""
    print(line, flush=True)


def trial_count(cfg: SearchConfig, limits: SpaceLimits) -> int:
    """How many trials the search runs (its Optuna samples, or every ablation configuration x seed x fold)."""
    if cfg.space == "ablation":
        return len(ablation_patterns(limits.depths, cfg.skips)) * cfg.repeats * cfg.folds
    if cfg.strategy == "supernet":  # one supernet per depth and fold
        return len(limits.depths) * cfg.folds
    return cfg.num_samples


def run_search(cfg: SearchConfig, echo: Callable[[str], None] = say, callbacks: tuple = ()) -> SearchOutcome:
    """Run (or resume) a search end to end and return where its results are; `callbacks`: extra Tune callbacks (e.g. to record every result)."""
    if cfg.resume:
        cfg = resumed_config(cfg)
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    limits = space_limits(cfg, data)
    uri = cfg.tracking_uri or tracking.default_tracking_uri()
    local = tracking.is_local_sqlite(uri)
    if not local:
        tracking.check_tracking(uri)  # a remote server: fail in seconds, before Ray starts
    opener = tracking.LocalStoreOpener(uri) if local else None  # opened while Ray starts
    quiet_libraries(local_ray=cfg.address is None)
    try:
        start_ray(cfg)  # a bad --address or too many GPUs: fail before anything is written
        sigterm_as_ctrl_c()  # Ray's core worker took SIGTERM over
        hosts = cluster_hosts()
        if local and len(hosts) > 1:
            raise ConfigError(f"the Ray cluster spans {len(hosts)} machines but {uri} is a file on this one: start a tracking server "
                              "every node reaches (mlflow/server.sh) and pass --tracking-uri http://HOST:PORT (docs/cluster.md)")
    except BaseException:
        if opener is not None:
            opener.discard()
        raise
    client = opener.client() if opener is not None else tracking.check_tracking(uri)
    restore_path, state_path = None, None
    if cfg.resume:
        from ray import tune

        state_path = unfinished_state(cfg)
        state = json.loads(state_path.read_text())
        restore_path = cfg.storage_path / state["search_name"]
        if not tune.Tuner.can_restore(str(restore_path)):
            raise ConfigError(f"the search at {restore_path} has no Tune state to resume from")
        experiment_id, parent_id, search_name = state["experiment_id"], state["parent_run_id"], state["search_name"]
        client.update_run(parent_id, status="RUNNING")
        echo(f"resuming search {search_name} (parent run {parent_id})")
    else:
        experiment_id = tracking.get_or_create_experiment(client, cfg.experiment, uri)
        # the suffix keeps two searches started in the same second apart (their Tune folders and state files)
        search_name = f"{cfg.space}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        parent = tracking.start_parent(client, experiment_id, search_name, cfg.to_params())
        parent_id = parent.run_id
        cfg.storage_path.mkdir(parents=True, exist_ok=True)
        state_path = cfg.storage_path / f"{search_name}{STATE_SUFFIX}"
        state = {"search_name": search_name, "experiment_id": experiment_id, "parent_run_id": parent_id, "tracking_uri": uri,
                 "config": asdict(cfg), "status": "running"}
        _write_state(state_path, state)
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")  # record finished trials promptly, so a crash loses none
    # a trial that fails on its own error ends without a final val_dice (its MLflow run says FAILED); Tune's
    # strict check would turn that into an error, and an error into a retry that fails the same way
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    digest = data_digest(data)
    tracking.log_dataset(client, parent_id, data.name, data.source, digest)
    outbox_dir = cfg.storage_path / search_name / OUTBOX
    ctx = SearchContext(uri, experiment_id, parent_id, cfg.cpus_per_trial, digest, cfg.eval_tile, outbox_dir=str(outbox_dir), val_images=cfg.val_images,
                        role="supernet" if cfg.strategy == "supernet" else "trial")
    from .callbacks import CloseTrialRuns
    from .progress import ProgressLines

    total = trial_count(cfg, limits)
    if not cfg.resume:
        echo(start_line(cfg, search_name, total))
    progress = ProgressLines(total, max_trial_epochs(cfg), early_stopping=cfg.space != "ablation" and cfg.strategy != "supernet", echo=echo)
    closer = CloseTrialRuns(uri, experiment_id, parent_id, outbox_dir)
    try:
        tuner = build_tuner(cfg, data, ctx, limits, search_name, [closer, progress, *callbacks], restore_path)
        resume = resume_command(cfg)
        if cfg.resume:  # what the last session's trials could not send
            send_kept_writes(client, outbox_dir, uri, resume, echo)
        try:
            results = tuner.fit()
        except Exception as exc:  # noqa: BLE001 - Ray failing under the search (e.g. its memory monitor killed a trial's process)
            done = int(final_attempts(trials_table(client, experiment_id, parent_id)).status.isin(["FINISHED", "FAILED"]).sum())
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300].rstrip(".")
            raise SearchStopped(f"the search stopped: {cause}. Its {done} finished trials are kept; continue with: {resume}") from None
        send_kept_writes(client, outbox_dir, uri, resume, echo)
        unopened = [r.error for r in results if r.error is not None and "TrackingUnavailable" in f"{type(r.error).__name__} {r.error}"]
        if unopened:  # trials that could not even open their run: they never trained
            cause = str(unopened[0]).strip().splitlines()[-1].split("TrackingUnavailable: ")[-1]
            raise SearchStopped(f"{len(unopened)} trials could not start: {cause.rstrip('.')}. Finished trials are kept; once the store takes "
                                f"writes again (a server back, space freed, write access), continue with: {resume}")
        closer.settle(results)  # trials that ended while the store was unreachable
        table = trials_table(client, experiment_id, parent_id, role="supernet" if cfg.strategy == "supernet" else "trial")
        ended = int(final_attempts(table).status.isin(["FINISHED", "FAILED"]).sum())
        reached = cfg.stop_at is not None and bool((table.best_val_dice >= cfg.stop_at).any())  # --stop-at ended it early
        if ended < total and not reached:  # Tune returns normally after Ctrl-C, with trials cut short or never started
            raise SearchInterrupted(f"interrupted: {ended} of {total} trials done, the rest marked KILLED or not started. "
                                    f"Continue with: {resume}")
        estimates = None
        if cfg.strategy == "supernet":
            from .supernet_search import ESTIMATE_RANKING_TAG, candidates, record_estimates

            estimates = record_estimates(client, experiment_id, parent_id, fixed_params(cfg))
            top = candidates(estimates, fixed_params(cfg), cfg.rerank_k)
            if top:
                echo(f"supernets estimated {len(estimates)} skip patterns; training the best {len(top)} stand-alone at the final budget "
                     f"({cfg.final_epochs} epochs): " + ", ".join(f"{c['run_name']} (estimate {c['best_val_dice']:.4f})" for c in top))
            final = train_at_final_budget(cfg, data, ctx, search_name, top, ESTIMATE_RANKING_TAG, client, echo, resume)
        else:
            final = rerank_at_final_budget(cfg, data, ctx, search_name, results, table, client, echo, resume, limits) if cfg.rerank_k else None
        best, test_metrics = evaluate_best(client, final if final is not None and not final.empty else table, data)
    except BaseException:
        kill_unfinished(client, experiment_id, parent_id)
        raise
    outcome = SearchOutcome(experiment_id, parent_id, uri, str(cfg.storage_path / search_name), table, final=final,
                            final_epochs=cfg.final_epochs if final is not None else None, estimates=estimates)
    with tracking.temp_dir() as tmp:
        for name, frame in (("trials.csv", table), ("final.csv", final), ("estimates.csv", estimates)):
            if frame is not None:
                frame.to_csv(Path(tmp) / name, index=False)
                tracking.log_file(client, parent_id, Path(tmp) / name, "summary")
    if best is not None:
        outcome.best_run_id, outcome.best_run_name, outcome.best_val_dice = best.run_id, best.run_name, float(best.best_val_dice)
        outcome.test_metrics = test_metrics
        tracking.log_metrics(client, parent_id, {"best_val_dice": outcome.best_val_dice, **{f"test_{k}": v for k, v in test_metrics.items()}}, 0)
        tracking.log_metrics(client, best.run_id, {f"test_{k}": v for k, v in test_metrics.items()}, 0)
        client.set_tag(parent_id, "unet.best_run_id", best.run_id)
        client.set_tag(parent_id, "unet.best_run_name", best.run_name)
    client.set_terminated(parent_id, "FINISHED")
    _write_state(state_path, {**state, "status": "finished"})
    return outcome
