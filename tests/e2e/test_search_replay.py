"""Search replays on recorded learning curves: the replay reports exactly what was recorded, Tune's own controller makes
the same decisions as the replay loop, regret arithmetic, and re-ranking at the final budget."""
from __future__ import annotations

import pytest

from analysis.curves import replicate_curves
from bench.replay import replay_search
from tests.helpers.replay import planted_table


@pytest.mark.slow
def test_tunes_own_controller_makes_the_same_decisions_as_the_replay_loop(tmp_path):
    """ASHA + Optuna TPE, built by the product's factories, under a real tune.Tuner with one trial at a time: the same
    trials, the same configurations and the same epochs at which ASHA stopped each."""
    import ray
    from ray import tune

    from bench.replay import Numbered, replay_trainable
    from search.config import SearchConfig
    from search.driver.tuner import make_scheduler, make_searcher
    from search.spaces import SpaceLimits

    curves = replicate_curves(planted_table(epochs=6))
    cfg = SearchConfig(space="arch", max_epochs=6, patch_size=64, grace_period=1, reduction_factor=2, seed=5)
    limits = SpaceLimits(depths=(1, 2), max_patch=64)
    loop = replay_search(curves, make_searcher(cfg, limits), make_scheduler(cfg), seed=5, budget_s=1e9, max_epochs=6, max_trials=12)
    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        tuner = tune.Tuner(replay_trainable(curves, seed=5, max_epochs=6), tune_config=tune.TuneConfig(
            search_alg=Numbered(make_searcher(cfg, limits)), scheduler=make_scheduler(cfg), num_samples=12, max_concurrent_trials=1, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), name="replay", verbose=0))
        results = tuner.fit()
    finally:
        ray.shutdown()
    real = sorted((int(r.metrics["replay_index"]), r.metrics["config_key"], int(r.metrics["training_iteration"]),
                   round(float(r.metrics["val_dice"]), 6)) for r in results)
    looped = sorted({(t, c, max(e for tt, e in zip(loop.trial, loop.epoch) if tt == t),
                      round(next(d for tt, e2, d in zip(loop.trial[::-1], loop.epoch[::-1], loop.dice[::-1]) if tt == t), 6))
                     for t, c in zip(loop.trial, loop.config)})
    assert real == looped


