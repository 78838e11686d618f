"""Ray Tune's parts of a search, built in one place: the trainable, Optuna's searcher, ASHA, run settings and Tuners."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import SegmentationData
from recipes.params import TrialParams, config_run_name, supernet_run_name
from search.config import SearchConfig
from search.spaces import SpaceLimits, create_space
from search.spaces import define_by_run
from search.trainable.context import SearchContext

METRIC, MODE = "val_dice", "max"


def trial_name(trial) -> str:
    """A Tune trial's name and folder prefix, as its MLflow run is named (a supernet search's supernets: supernet-d3-...);
    trial_<id> when its config is not valid."""
    try:
        params = TrialParams.from_config(trial.config)
    except (TypeError, ValueError):
        return f"trial_{trial.trial_id}"
    return supernet_run_name(params) if "supernet_sampling" in trial.config else config_run_name(trial.config)


def trial_dirname(trial) -> str:
    """A trial's folder under the search's Tune folder: its name and Tune id."""
    return f"{trial_name(trial)}_{trial.trial_id}"


def make_searcher(cfg: SearchConfig, limits: SpaceLimits, sampler=None):
    """The searcher of a quick/arch/full search: Optuna (TPE unless `sampler` is given) over the space's define-by-run function."""
    from .searcher import RestorableOptunaSearch  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return RestorableOptunaSearch(space=define_by_run(cfg, limits), metric=METRIC, mode=MODE, sampler=sampler,
                        seed=cfg.optuna_seed if sampler is None else None,  # a given sampler carries its own seed
                        points_to_evaluate=cfg.points_to_evaluate or None)


def make_scheduler(cfg: SearchConfig):
    """The scheduler of a quick/arch/full search: ASHA over epochs with the search's grace period and reduction factor."""
    from ray.tune.schedulers import ASHAScheduler  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    max_t = create_space(cfg.space).max_trial_epochs(cfg)
    return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode=MODE, max_t=max_t,
                         grace_period=min(cfg.grace_period, max_t),  # a 1-epoch search must not trip ASHA's assertion
                         reduction_factor=cfg.reduction_factor)


def tune_config(search_alg=None, scheduler=None, num_samples: int = 1):
    """Tune's settings of a search phase; a scheduler that carries its own metric (ASHA) is given none here."""
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)
    from ray.tune.schedulers import FIFOScheduler  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    own_metric = {} if scheduler is not None else {"metric": METRIC, "mode": MODE}
    return tune.TuneConfig(**own_metric, search_alg=search_alg, scheduler=scheduler or FIFOScheduler(), num_samples=num_samples,
                           trial_name_creator=trial_name, trial_dirname_creator=trial_dirname, reuse_actors=True)


def trainable(cfg: SearchConfig, data: SegmentationData, ctx: SearchContext, function):
    """`function` (a Tune function trainable) with the search's data and context, at each trial's CPUs and GPUs."""
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return tune.with_resources(tune.with_parameters(function, data=data, ctx=ctx), {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})


def restored_tuner(path: Path, trainable, errored: str = "restart"):
    """The Tuner saved at `path`, continuing its unfinished trials. An errored trial is one whose process died
    max_failures + 1 times or that never reached the tracking store (a trial's own error ends it normally, with a FAILED
    run): it trains again from the start, as a new Tune trial (errored="restart", --resume) or under its own trial id,
    so its runs count as attempts of one trial (errored="resume": the trials a search trains again in the same session;
    this trainable keeps no Tune checkpoint to resume from)."""
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=errored == "resume",
                              restart_errored=errored == "restart")


def run_config(cfg: SearchConfig, name: str, callbacks: list, stop=None):
    """Tune's run settings of a search phase: its folder under the search's storage, callbacks, quiet output, retries."""
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return tune.RunConfig(name=name, storage_path=str(cfg.storage_path), callbacks=callbacks, verbose=0, stop=stop,
                          failure_config=tune.FailureConfig(max_failures=cfg.max_failures))


def tuner(cfg: SearchConfig, name: str, trainable, param_space: dict[str, Any], config, callbacks: list, stop=None):
    """The Tuner of search phase `name`, or the one a previous session of it saved (restored, its trials kept)."""
    from ray import tune  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    path = cfg.storage_path / name
    if tune.Tuner.can_restore(str(path)):
        return restored_tuner(path, trainable)
    return tune.Tuner(trainable, param_space=param_space, tune_config=config, run_config=run_config(cfg, name, callbacks, stop))
