"""Reliability arithmetic checked by hand, and planted rankings recovered through folds and seeds."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.reliability import (
    config_means,
    disattenuate,
    indistinguishable_from_best,
    ranking_settling,
    settled_verdict,
    spearman_brown,
    split_half_reliability,
)
from analysis.report import build_report
from unet_core import all_patterns

CONFIGS = [(d, p) for d in range(1, 5) for p in all_patterns(d)]


def study(truth, seeds=2, folds=3, fold_shift=0.1, noise=0.005, rng_seed=0, name="planted"):
    """Trials of every configuration x seed x fold: the planted score, a large per-fold shift every configuration shares
    (hard and easy folds), and independent noise per trial."""
    rng = np.random.default_rng(rng_seed)
    shifts = rng.normal(0, fold_shift, folds)
    rows = []
    for (d, p), t in zip(CONFIGS, truth):
        for seed in range(seeds):
            for fold in range(folds):
                bits = [int(c) for c in p] + [0] * (5 - d)
                rows.append({"dataset": name, "run_name": f"d{d}-s{p}", "depth": d, "skips": p, "seed": seed, "fold": fold, "folds": folds,
                             "loss": "dice_bce", "dice": t + shifts[fold] + rng.normal(0, noise), "accuracy": 0.9, "dice_with_background": 0.95,
                             "train_time_s": 10.0, "num_params": 1000 * 4**d, "n_skips": sum(bits),
                             **{f"s{i + 1}": (float(bits[i]) if i < d else np.nan) for i in range(5)}})
    return pd.DataFrame(rows)


def test_split_half_and_spearman_brown_by_hand():
    # two replicates, four configurations: the halves rank them 1,2,3,4 and 2,1,3,4: rho = 1 - 6*2/(4*15) = 0.8
    rows = [{"depth": 1, "skips": s, "seed": seed, "dice": v} for seed, values in ((0, [0.1, 0.2, 0.3, 0.4]), (1, [0.2, 0.1, 0.3, 0.4]))
            for s, v in zip(["a", "b", "c", "d"], values)]
    half = split_half_reliability(pd.DataFrame(rows))
    assert half["replicates"] == 2 and half["splits"] == 1
    assert half["half_spearman"] == pytest.approx(0.8)
    assert half["reliability"] == pytest.approx(2 * 0.8 / 1.8)
    assert spearman_brown(0.5, 3) == pytest.approx(1.5 / 2.0)
    assert np.isnan(split_half_reliability(pd.DataFrame(rows[:4]))["reliability"])  # one replicate: unknown


def test_disattenuation_by_hand():
    assert disattenuate(0.3, 0.5, 0.8) == pytest.approx(0.3 / np.sqrt(0.4))
    assert disattenuate(0.9, 0.81, 0.81) == pytest.approx(0.9 / 0.81)  # above 1: as high as the noise allows
    assert np.isnan(disattenuate(0.3, -0.1, 0.8)) and np.isnan(disattenuate(0.3, float("nan"), 0.8))


def test_a_planted_ranking_is_recovered_through_folds_and_seeds_and_noise_lowers_reliability():
    truth = np.linspace(0.6, 0.8, len(CONFIGS))[np.random.default_rng(1).permutation(len(CONFIGS))]
    clean = study(truth)  # the folds shift every configuration by up to ~0.2, ten times the gap between neighbours
    means = config_means(clean)
    order = [truth[CONFIGS.index(c)] for c in means.index]
    assert sps.spearmanr(means, order).statistic > 0.98
    assert split_half_reliability(clean)["reliability"] > 0.95
    noisy = study(truth, noise=0.08, rng_seed=2)
    assert split_half_reliability(noisy)["reliability"] < split_half_reliability(clean)["reliability"] - 0.1


def test_the_configurations_indistinguishable_from_the_best():
    truth = np.full(len(CONFIGS), 0.6)
    truth[CONFIGS.index((4, "1111"))] = 0.80
    truth[CONFIGS.index((4, "1110"))] = 0.799  # a tie within the noise
    truth[CONFIGS.index((2, "11"))] = 0.70
    df = study(truth, noise=0.01)
    overall = indistinguishable_from_best(df)
    assert set(overall[overall.indistinguishable].skips) == {"1111", "1110"}
    assert overall[overall.best].skips.tolist() in (["1111"], ["1110"])
    per_depth = indistinguishable_from_best(df, per_depth=True)
    d2 = per_depth[per_depth.group == 2]
    assert d2[d2.best].skips.tolist() == ["11"] and d2.indistinguishable.sum() == 1


def curves_of(order_by_epoch):
    """Per-epoch curves whose ranking at each epoch is given (a list of 30 scores per epoch), three replicates each."""
    rows = []
    for epoch, scores in enumerate(order_by_epoch, start=1):
        for (d, p), v in zip(CONFIGS, scores):
            for seed in range(3):
                rows.append({"depth": d, "skips": p, "seed": seed, "fold": 0, "epoch": epoch, "val_dice": v * epoch / len(order_by_epoch)})
    return pd.DataFrame(rows)


def test_a_ranking_that_settled_early_and_one_that_still_moves_at_the_end():
    rank = np.arange(len(CONFIGS)) / 100
    settled = settled_verdict(ranking_settling(curves_of([rank] * 8)))
    assert settled["settled"] and settled["settled_from_epoch"] == 1 and settled["spearman_at_check"] == pytest.approx(1.0)
    # the order reverses in the last two epochs: the best-so-far ranking at 75% disagrees with the end
    moving = ranking_settling(curves_of([rank] * 6 + [rank[::-1] * 10, rank[::-1] * 10]))
    verdict = settled_verdict(moving)
    assert not verdict["settled"] and verdict["spearman_at_check"] < 0.9
    assert moving.spearman_to_final.iloc[-1] == pytest.approx(1.0)


def test_report_prints_reliability_settling_and_disattenuated_agreement(tmp_path):
    truth = np.linspace(0.6, 0.8, len(CONFIGS))
    a, b = study(truth, name="a"), study(truth[::-1], name="b", noise=0.05, rng_seed=3)
    rank = np.arange(len(CONFIGS)) / 100
    curves = {"a": curves_of([rank] * 8), "b": curves_of([rank] * 6 + [rank[::-1] * 10, rank[::-1] * 10])}
    build_report({"a": a, "b": b}, tmp_path, "t", curves=curves)
    text = (tmp_path / "report.md").read_text()
    assert "Split-half reliability" in text and "stepped up to the whole study (Spearman-Brown)" in text
    assert "The ranking had settled" in text and "The ranking was still moving at the end of training" in text
    assert "disattenuated_rho" in text and "reliability_a" in text
    assert "3-fold cross-validation" in text
    assert (tmp_path / "a_settling.png").stat().st_size > 0


def test_the_rerun_reliability_resamples_seeds_and_is_not_fooled_by_luck_every_fold_of_a_seed_shares():
    from analysis.reliability import rerun_reliability

    rng = np.random.default_rng(3)
    truth = np.linspace(0.6, 0.8, len(CONFIGS))
    df = study(truth, seeds=4, folds=3, fold_shift=0.0, noise=0.002)
    luck = {(d, p, s): rng.normal(0, 0.08) for (d, p) in CONFIGS for s in range(4)}  # a configuration's initial weights: shared by its folds
    df["dice"] = df.dice + [luck[(r.depth, r.skips, r.seed)] for r in df.itertuples()]
    one_seed = rerun_reliability(df[df.seed == 0])
    assert one_seed["seeds"] == 1 and np.isnan(one_seed["reliability"]) and one_seed["within_seed"] > 0.95  # folds agree: they share the luck
    rerun = rerun_reliability(df)
    # two independent 2-seed halves: what a rerun of a 2-seed study agrees at, by simulation of the same planted model
    sims = []
    for k in range(200):
        r = np.random.default_rng(100 + k)
        a = truth + r.normal(0, 0.08, (2, len(truth))).mean(0)
        b = truth + r.normal(0, 0.08, (2, len(truth))).mean(0)
        sims.append(sps.spearmanr(a, b).statistic)
    assert rerun["seeds"] == 4 and rerun["reliability"] < one_seed["within_seed"] - 0.2
    assert abs(rerun["half_spearman"] - np.mean(sims)) < 0.12


def test_with_each_fold_its_own_draw_one_seed_predicts_a_rerun_and_the_report_says_so(tmp_path):
    from analysis.reliability import folds_draw_their_own

    truth = np.linspace(0.6, 0.8, len(CONFIGS))
    rng = np.random.default_rng(5)
    df = study(truth, seeds=3, folds=3, fold_shift=0.0, noise=0.002)
    df["dice"] = df.dice + rng.normal(0, 0.06, len(df))  # each trial's own draw: no luck its folds share
    df["train_seed"] = df.seed * 10 + df.fold
    one = df[df.seed == 0]
    assert folds_draw_their_own(one) and not folds_draw_their_own(one.assign(train_seed=0)) and not folds_draw_their_own(one.drop(columns="train_seed"))
    predicted = split_half_reliability(one)["reliability"]
    observed = np.mean([sps.spearmanr(config_means(df[df.seed == a]), config_means(df[df.seed == b])).statistic for a, b in ((0, 1), (0, 2), (1, 2))])
    assert abs(predicted - observed) < 0.1, (predicted, observed)
    build_report({"planted": one}, tmp_path, "t")
    text = (tmp_path / "report.md").read_text()
    assert "each fold its own draw" in text and "is the predicted agreement of a rerun" in text and "upper bound" not in text
    build_report({"planted": one.drop(columns="train_seed")}, tmp_path / "old", "t")
    assert "upper bound" in (tmp_path / "old" / "report.md").read_text()
    build_report({"planted": df}, tmp_path / "three", "t")  # three runs pooled: each run's prediction beside what the runs showed
    text = (tmp_path / "three" / "report.md").read_text()
    assert f"the seeds' rankings agree at Spearman {sps.spearmanr(config_means(df[df.seed == 0]), config_means(df[df.seed == 1])).statistic:.3f} (0-1)" in text
    assert f"{predicted:.3f} (seed 0)" in text and "each fold its own draw" in text
