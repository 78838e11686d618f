"""Search replays on recorded learning curves: the replay reports exactly what was recorded, Tune's own controller makes
the same decisions as the replay loop, regret arithmetic, and re-ranking at the final budget."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.curves import read_curves, replicate_curves, save_curves, true_scores
from analysis.regret import anytime_regret, grid_seconds, regret, summarise
from bench.replay import GridInRandomOrder, Reranked, Trace, config_key, replay_search
from tests.helpers.replay import planted_table


def test_a_curve_table_round_trips_and_a_table_of_mixed_budgets_is_refused(tmp_path):
    table = planted_table()
    path = save_curves(table, tmp_path / "curves.csv")
    back = read_curves(path)
    assert back.skips.tolist() == table.skips.tolist()  # "01" stays a string, not the number 1
    assert np.allclose(back.val_dice, table.val_dice, atol=1e-5)
    assert true_scores(back).index[0] == "d2-s11"
    table.drop(index=table.index[-1]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="different epochs"):
        read_curves(tmp_path / "short.csv")


def test_the_replay_reports_the_recorded_curve_exactly_and_charges_its_seconds():
    table = planted_table()
    curves = replicate_curves(table)
    configs = [{"depth": 2, "skips": "01"}, {"depth": 1, "skips": "1"}]
    trace = replay_search(curves, GridInRandomOrder(configs, seed=3), None, seed=7, budget_s=1e9, max_epochs=4)
    assert trace.trials == 2
    spent = 0.0
    for trial in range(2):
        rows = [i for i, t in enumerate(trace.trial) if t == trial]
        key = trace.config[rows[0]]
        recorded = [rep for rep in curves[key] if np.allclose(rep["dice"], [trace.dice[i] for i in rows])]
        assert len(recorded) == 1 and [trace.epoch[i] for i in rows] == [1, 2, 3, 4]  # one recorded fold, every epoch, as recorded
        for i, seconds in zip(rows, recorded[0]["seconds"]):
            spent += seconds
            assert trace.spent_s[i] == pytest.approx(spent)  # charged what the epoch took when it was recorded


def test_asha_stops_trials_in_the_replay_and_a_budget_ends_it():
    from search.config import SearchConfig
    from search.driver.tuner import make_scheduler, make_searcher
    from search.spaces import SpaceLimits

    curves = replicate_curves(planted_table(epochs=8))
    cfg = SearchConfig(space="arch", max_epochs=8, patch_size=64, grace_period=1, reduction_factor=2)
    limits = SpaceLimits(depths=(1, 2), max_patch=64)
    trace = replay_search(curves, make_searcher(cfg, limits), make_scheduler(cfg), seed=0, budget_s=200.0, max_epochs=8)
    epochs_run = pd.Series(trace.epoch).groupby(trace.trial).max()
    assert (epochs_run < 8).any() and (epochs_run == 8).any()  # ASHA stopped some trials at a rung, let others run
    assert trace.spent_s[-1] >= 200.0 and trace.spent_s[-2] < 200.0  # stopped at the first report past the budget


def test_regret_of_a_searcher_that_always_returns_the_true_best_is_zero():
    table = planted_table()
    curves, truth = replicate_curves(table), true_scores(table)
    best = truth.index[0]
    trace = replay_search(curves, GridInRandomOrder([{"depth": int(best[1]), "skips": best.split("-s")[1]}] * 20, seed=0), None,
                          seed=0, budget_s=1e9, max_epochs=4)
    grid_s = grid_seconds(curves)
    first = trace.spent_s[0] / grid_s
    assert anytime_regret(trace, truth, grid_s, [first, 0.25, 0.5, 1.0]) == [0.0, 0.0, 0.0, 0.0]
    assert regret(truth, None) == pytest.approx(truth.max() - truth.min())  # nothing returned yet: the worst regret
    assert regret(truth, "d1-s0") == pytest.approx(truth.max() - truth["d1-s0"])


def test_regret_summary_by_hand():
    rows = pd.DataFrame({"method": ["a"] * 4, "seed": [0, 1, 2, 3], "fraction": [0.25] * 4, "regret": [0.0, 0.01, 0.02, 0.1]})
    s = summarise(rows).iloc[0]
    assert s.seeds == 4 and s["median"] == pytest.approx(0.015) and s["found_best"] == 0.25
    assert s.p90 == pytest.approx(0.02 + 0.7 * 0.08)  # numpy's linear interpolation between the 3rd and 4th of 4
    assert grid_seconds({"x": [{"seconds": np.array([1.0, 2.0])}, {"seconds": np.array([3.0, 4.0])}]}) == 5.0


def test_config_key_reads_skips_or_skip_bits():
    assert config_key({"depth": 3, "s1": 1, "s2": 0, "s3": 1}) == "d3-s101"
    assert config_key({"depth": 2, "skips": "01"}) == "d2-s01"
    assert Trace().incumbent(10.0) is None


def test_re_ranking_picks_the_better_of_two_configurations_whose_order_flips_between_short_and_long_budgets():
    epochs = np.arange(1, 9)
    fast = np.minimum(0.70, 0.35 * epochs)  # learns in 2 epochs, ends at 0.70
    slow = np.where(epochs <= 2, 0.30, 0.30 + 0.08 * (epochs - 2))  # 0.30 at 2 epochs, ends at 0.78
    curves = {"d1-s1": [{"dice": fast, "seconds": np.ones(8)}], "d2-s11": [{"dice": slow, "seconds": np.ones(8)}]}
    truth = pd.Series({"d2-s11": 0.78, "d1-s1": 0.70})
    configs = [{"depth": 1, "skips": "1"}, {"depth": 2, "skips": "11"}]
    short = replay_search(curves, GridInRandomOrder(configs, seed=0), None, seed=0, budget_s=1e9, max_epochs=2)
    assert short.incumbent(1e9) == "d1-s1"  # at 2 epochs the fast learner looks best
    final = Reranked(short, curves, k=2, final_epochs=8, trial_s=8.0, seed=0)
    assert final.incumbent(4.0 + 16.0) == "d2-s11"  # retrained at 8 epochs, the slow one wins
    assert final.incumbent(15.0) is None  # the budget does not cover the re-ranking yet
    assert anytime_regret(final, truth, grid_s=16.0, fractions=[20 / 16]) == [0.0]
    assert anytime_regret(short, truth, grid_s=16.0, fractions=[1.0]) == [pytest.approx(0.08)]


def test_the_replayed_final_round_on_folds_keeps_the_default_unless_a_finalist_beats_it_beyond_the_paired_noise():
    from bench.replay import FinalRound

    flat = lambda v: {"dice": np.full(4, v), "seconds": np.ones(4)}  # noqa: E731
    curves = {"d1-s1": [flat(0.70), flat(0.74), flat(0.72)],  # the default: 0.72 on average
              "d1-s0": [flat(0.73), flat(0.71), flat(0.73)],  # leads by +0.0033 on average, but the folds disagree
              "d2-s11": [flat(0.75), flat(0.79), flat(0.77)]}  # +0.05 on every fold
    configs = [{"depth": 1, "skips": "0"}, {"depth": 2, "skips": "11"}]
    searched = replay_search(curves, GridInRandomOrder(configs[:1], seed=0), None, seed=0, budget_s=1e9, max_epochs=4, validation="reshuffle")
    rule = FinalRound(searched, curves, k=1, final_epochs=4, trial_s=4.0, seed=0, default="d1-s1", folds=3, margin_se=1.0)
    assert rule.incumbent(1e9) == "d1-s1"  # a near-tie: the default stays
    best_mean = FinalRound(searched, curves, k=1, final_epochs=4, trial_s=4.0, seed=0, default="d1-s1", folds=3)
    assert best_mean.incumbent(1e9) == "d1-s0"  # the best mean alone names the near-tie's luckier side
    better = replay_search(curves, GridInRandomOrder(configs[1:], seed=0), None, seed=0, budget_s=1e9, max_epochs=4)
    assert FinalRound(better, curves, k=1, final_epochs=4, trial_s=4.0, seed=0, default="d1-s1", folds=3, margin_se=1.0).incumbent(1e9) == "d2-s11"
    assert rule.incumbent(2 * 3 * 4.0 - 1) is None  # the round's 6 trainings (2 configurations x 3 folds) are charged first
