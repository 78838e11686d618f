"""Noise-aware search (search.noise): racing keeps a true best that one lucky split would displace, reshuffled splits differ
between trials and are recorded, and the final round names the default U-Net unless a finalist beats it beyond the noise."""
import math

import numpy as np
import pandas as pd
import pytest

from datasets import load_dataset
from recipes.params import TrialParams
from recipes.train import fold_of
from search.config import ConfigError, SearchConfig
from search.driver.rerank import FixedConfigs, raced_candidates
from search.noise import (
    Intensifier,
    Reshuffled,
    choose_best,
    choose_final,
    configuration_key,
)
from search.noise.reshuffle import VAL_SEED
from search.trainable.trial import val_names

FULL = 4  # epochs a trial trains unstopped


def race(intensifier: Intensifier, score, trials: int, epochs=lambda key, n: FULL) -> list[tuple[str, int, float]]:
    """Drive the intensifier as Tune's controller does, one trial at a time: `score(name, fold, n)` is the planted score of
    a configuration's n-th evaluation on `fold`; returns (name, fold, score) per evaluation."""
    seen: dict[str, int] = {}
    log = []
    for i in range(trials):
        config = intensifier.suggest(f"t{i}")
        if config is None or config == FixedConfigs.FINISHED:
            break
        name = f"d{config['depth']}-s{config['skips']}"
        n = seen[name] = seen.get(name, 0) + 1
        value = score(name, config["fold"], n)
        for epoch in range(1, epochs(name, n) + 1):
            intensifier.on_trial_result(f"t{i}", {"val_dice": value, "training_iteration": epoch})
        intensifier.on_trial_complete(f"t{i}", {"val_dice": value, "training_iteration": epochs(name, n)})
        log.append((name, config["fold"], value))
    return log


def configs(*names: str) -> list[dict]:
    return [{"depth": len(n.split("-s")[1]), "skips": n.split("-s")[1], "epochs": FULL} for n in names]


def incumbent_name(intensifier: Intensifier) -> str:
    c = intensifier.incumbent_config
    return f"d{c['depth']}-s{c['skips']}"


def test_the_race_keeps_the_true_best_that_one_lucky_split_would_have_displaced():
    # d2-s11 is truly best (0.80 on every fold); d2-s10 is 0.74 on every fold except its first evaluation, a lucky 0.86
    def score(name, fold, n):
        return {"d2-s11": 0.80, "d2-s10": 0.86 if n == 1 else 0.74, "d2-s01": 0.70}[name]

    intensifier = Intensifier(FixedConfigs(configs("d2-s11", "d2-s10", "d2-s01")), folds=5, race_folds=3, full_epochs=FULL, seed=0, split_seed=0)
    log = race(intensifier, score, trials=12)
    firsts = {}
    for name, _, value in log:
        firsts.setdefault(name, value)
    one_split = max(firsts, key=firsts.get)  # a search that trusts each configuration's one split
    assert one_split == "d2-s10"
    assert incumbent_name(intensifier) == "d2-s11"
    raced = [e for e in log if e[0] == "d2-s10"]
    assert len(raced) >= 2  # the lucky one was scored on another of the incumbent's folds before it could take over
    assert {f for n, f, _ in log if n == "d2-s10"} <= {f for n, f, _ in log if n == "d2-s11"}  # paired: on the incumbent's folds
    assert "lost to" in " ".join(intensifier.history)


def test_a_challenger_better_on_every_fold_replaces_the_incumbent_and_the_incumbent_grows_to_race_folds():
    def score(name, fold, n):
        return {"d1-s1": 0.70, "d1-s0": 0.60, "d2-s11": 0.82}[name] + 0.01 * fold

    intensifier = Intensifier(FixedConfigs(configs("d1-s1", "d1-s0", "d2-s11")), folds=5, race_folds=3, full_epochs=FULL, seed=1, split_seed=0)
    race(intensifier, score, trials=20)
    assert incumbent_name(intensifier) == "d2-s11"
    assert len(intensifier.scores[intensifier.incumbent]) == 3
    assert any("replaced" in h for h in intensifier.history)


def test_a_trial_asha_stopped_is_no_challenger_however_well_it_scored_early():
    stopped = lambda name, n: 2 if name == "d1-s0" else FULL  # noqa: E731
    intensifier = Intensifier(FixedConfigs(configs("d1-s1", "d1-s0")), folds=5, race_folds=2, full_epochs=FULL, seed=0, split_seed=0)
    race(intensifier, lambda name, fold, n: {"d1-s1": 0.6, "d1-s0": 0.9}[name], trials=6, epochs=stopped)
    assert incumbent_name(intensifier) == "d1-s1"


def test_the_default_u_net_is_the_first_incumbent_and_stays_unless_beaten_on_its_folds():
    default = {"depth": 2, "skips": "11", "epochs": FULL}
    intensifier = Intensifier(FixedConfigs(configs("d2-s10")), folds=5, race_folds=2, full_epochs=FULL, seed=0, split_seed=7, first=default)
    first = intensifier.suggest("t0")
    assert (first["depth"], first["skips"], first["folds"], first["split_seed"]) == (2, "11", 5, 7)
    intensifier.on_trial_complete("t0", {"val_dice": 0.7, "training_iteration": FULL})
    assert incumbent_name(intensifier) == "d2-s11"


def test_the_race_state_survives_a_resume():
    def score(name, fold, n):
        return {"d2-s11": 0.80, "d2-s10": 0.86 if n == 1 else 0.74, "d2-s01": 0.70}[name]

    a = Intensifier(FixedConfigs(configs("d2-s11", "d2-s10", "d2-s01")), folds=5, race_folds=3, full_epochs=FULL, seed=0, split_seed=0)
    race(a, score, trials=3)
    b = Intensifier(FixedConfigs([]), folds=5, race_folds=3, full_epochs=FULL, seed=0, split_seed=0)
    b.set_state(a.get_state())
    assert (b.incumbent, b.scores, b.queue, b.draws) == (a.incumbent, a.scores, a.queue, a.draws)
    assert a.queue  # the next suggestion is a race evaluation: the resumed race makes the same one
    assert b.suggest("next") == a.suggest("next")


def test_reshuffled_splits_differ_between_trials_are_reproducible_and_keep_the_validation_size():
    searcher = Reshuffled(FixedConfigs([{"depth": 2, "skips": "11"}] * 4), seed=3)
    seeds = [searcher.suggest(f"t{i}")[VAL_SEED] for i in range(4)]
    again = Reshuffled(FixedConfigs([{"depth": 2, "skips": "11"}] * 4), seed=3)
    assert seeds == [again.suggest(f"t{i}")[VAL_SEED] for i in range(4)]
    assert len(set(seeds)) == 4
    data = load_dataset("synthetic", n_train=12, n_test=2, size=32)
    splits = [val_names(TrialParams(depth=2, skips="11", patch_size=32, patch_stride=16, val_seed=s), data) for s in seeds]
    assert len(set(splits)) == 4  # each trial its own validation images, recorded on its run as unet.val_images
    assert all(len(s.split(",")) == len(data.val) for s in splits)
    held = fold_of(TrialParams(depth=2, skips="11", patch_size=32, patch_stride=16, val_seed=seeds[0]), data)
    assert sorted(s.name for s in held.train + held.val) == sorted(s.name for s in data.train + data.val)
    assert val_names(TrialParams(depth=2, skips="11", patch_size=32, patch_stride=16), data) == ",".join(s.name for s in data.val)


def test_the_final_choice_names_the_default_on_a_planted_tie():
    default = {0: 0.71, 1: 0.69, 2: 0.73}
    tie = {0: 0.72, 1: 0.68, 2: 0.73}  # +0.01, -0.01, 0: mean margin 0
    choice = choose_final({"d3-s011": tie, "d4-s1111-default": default}, "d4-s1111-default")
    assert choice.winner == "d4-s1111-default" and choice.named_default
    assert choice.pairs == 3 and choice.low < 0 < choice.high
    noisy = {0: 0.76, 1: 0.66, 2: 0.74}  # leads by 0.01 on average, but the pairs disagree
    assert choose_final({"a": noisy, "d": default}, "d").winner == "d"


def test_the_final_choice_names_a_finalist_that_beats_the_default_beyond_the_noise_and_records_why():
    default = {0: 0.71, 1: 0.69, 2: 0.73}
    better = {k: v + 0.03 + 0.002 * k for k, v in default.items()}
    choice = choose_final({"d3-s011": better, "d4-s1111-default": default}, "d4-s1111-default")
    assert choice.winner == "d3-s011" and not choice.named_default
    assert choice.low > 0 and math.isclose(choice.margin, 0.032, abs_tol=1e-9)
    tags = choice.tags()
    assert tags["unet.final_choice"] == "d3-s011" and tags["unet.final_margin"] == "0.0320" and tags["unet.final_margin_pairs"] == "3"
    assert choose_final({"a": {0: 0.9}, "d": {0: 0.5}}, "d").winner == "d"  # one pair: no noise estimate, the default stays


def test_with_one_fold_the_final_round_keeps_the_best_and_records_the_margin():
    choice = choose_best({"a": {0: 0.74}, "d": {0: 0.72}}, "d")
    assert choice.winner == "a" and math.isclose(choice.margin, 0.02) and choice.pairs == 1


def test_raced_candidates_rank_the_raced_configurations_first_by_their_mean():
    trial_configs = {"t0": {"depth": 2, "skips": "11", "fold": 0, "folds": 5}, "t1": {"depth": 2, "skips": "11", "fold": 3, "folds": 5},
                     "t2": {"depth": 2, "skips": "10", "fold": 0, "folds": 5}, "t3": {"depth": 2, "skips": "01", "fold": 0, "folds": 5},
                     "t4": {"depth": 2, "skips": "01", "fold": 3, "folds": 5}}
    dice = {"t0": 0.80, "t1": 0.78, "t2": 0.90, "t3": 0.76, "t4": 0.75}
    table = pd.DataFrame([{"trial_id": t, "status": "FINISHED", "best_val_dice": d, "run_name": t, "start_time": i} for i, (t, d) in enumerate(dice.items())])
    top = raced_candidates(table, trial_configs, 3)
    assert [c["run_name"] for c in top] == ["d2-s11-dice_bce-p48", "d2-s01-dice_bce-p48", "d2-s10-dice_bce-p48"]
    assert np.isclose(top[0]["best_val_dice"], 0.79) and top[0]["folds_raced"] == 2
    assert "fold" not in top[0]["config"] and configuration_key(top[0]["config"]) == configuration_key(trial_configs["t1"])


@pytest.mark.parametrize("flags, message", [
    ({"space": "ablation", "validation": "race"}, "applies to the sampled spaces"),
    ({"space": "arch", "validation": "cv"}, "unknown validation 'cv'"),
    ({"space": "arch", "validation": "race", "race_folds": 6}, "--race-folds must be in 1..--race-partition"),
    ({"space": "arch", "final_folds": 0}, "--final-folds must be in"),
    ({"space": "arch", "default_margin": -1}, "--default-margin"),
])
def test_noise_settings_are_checked_at_the_edge(flags, message):
    with pytest.raises(ConfigError, match=message):
        SearchConfig(**flags)


def test_a_relative_sqlite_store_is_made_absolute_at_the_edge_so_trials_in_their_own_folders_find_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = SearchConfig(tracking_uri="sqlite:///runs/mlflow.db")
    assert cfg.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'runs' / 'mlflow.db'}"
    assert SearchConfig(tracking_uri="sqlite:////abs/mlflow.db").tracking_uri == "sqlite:////abs/mlflow.db"


def test_a_configuration_sampled_while_its_first_evaluation_runs_is_scored_on_another_fold():
    default = {"depth": 2, "skips": "11", "epochs": FULL}
    intensifier = Intensifier(FixedConfigs(configs("d2-s11", "d2-s11")), folds=3, race_folds=2, full_epochs=FULL, seed=0, split_seed=0, first=default)
    first, again, third = (intensifier.suggest(f"t{i}") for i in range(3))  # three trials start before any ends (2 at a time and more)
    folds = [first["fold"], again["fold"], third["fold"]]
    assert len(set(folds)) == 3, folds  # the same training twice would be wasted compute


def test_the_supernet_strategy_keeps_one_final_fold_by_default_and_the_trials_strategy_takes_two():
    assert SearchConfig(space="arch").final_folds == 2 and SearchConfig(space="full").final_folds == 2
    assert SearchConfig(space="arch", strategy="supernet").final_folds == 1 and SearchConfig(space="quick").final_folds == 1
    assert SearchConfig(space="arch", final_folds=1).final_folds == 1


def test_a_final_round_on_folds_cut_short_halfway_is_an_interruption_not_a_choice(monkeypatch):
    """With --final-folds 2, three candidates are six trainings: three ended (Ctrl-C after half) must stop the search as
    interrupted (resumable), not pick a winner from one fold each."""
    from types import SimpleNamespace

    from search.driver import final
    from search.errors import SearchInterrupted

    cfg = SearchConfig(space="arch", final_folds=2, rerank_top=2)
    base = {"depth": 2, "skips": "11", "patch_size": 32, "patch_stride": 16, "loss": "dice", "lr": 1e-3}
    candidates = [{"run_name": f"c{i}", "best_val_dice": 0.7, "config": {**base, "depth": 1 + i, "skips": "1" * (1 + i)}} for i in range(3)]
    ended = pd.DataFrame([{**dict.fromkeys(final.TRIAL_COLUMNS), "run_name": f"c{i}-f0-final", "status": "FINISHED", "trial_id": f"t{i}",
                           "attempt": 1, "best_val_dice": 0.7, "start_time": i} for i in range(3)])
    monkeypatch.setattr(final, "final_tuner", lambda *a, **k: SimpleNamespace(fit=lambda: []))
    monkeypatch.setattr(final, "trials_table", lambda *a, **k: ended)
    session = SimpleNamespace(cfg=cfg, client=SimpleNamespace(set_tag=lambda *a: None), echo=lambda line: None, resume="python -m search.run --resume",
                              ctx=SimpleNamespace(tracking_uri="sqlite:///x.db", experiment_id="1", parent_run_id="p", outbox_dir="/nonexistent"),
                              send_kept_writes=lambda: None, search_name="s")
    with pytest.raises(SearchInterrupted, match="3 of 6 done"):
        final.train_at_final_budget(session, candidates, "unet.search_ranking")


def _one_fold_final(finalist_dice: list[float], default_dice: list[float], with_images: bool = True, finalist_images: str = "img"):
    """The final round's choice (search.driver.final.final_choice) of one finalist beside the default U-Net on one fold:
    split-level scores that favour the finalist, and each training's per-image validation Dice where `with_images`."""
    from recipes.params import config_run_name
    from search.driver.final import final_choice, final_points
    from search.driver.rerank import with_baseline

    base = {"patch_size": 64, "patch_stride": 32, "loss": "dice", "lr": 1e-3}
    cfg = SearchConfig(space="arch", rerank_top=1, final_budget=10, final_folds=1)
    candidates = with_baseline([{"trial_id": "t1", "run_name": "d3-s101", "config": {**base, "depth": 3, "skips": "101"}}],
                               {**base, "depth": 4, "skips": "1111"}, cfg.final_epochs)
    runs = [config_run_name(final_points(cfg, c)[0]) + "-final" for c in candidates]
    final = pd.DataFrame({"run_name": runs, "best_val_dice": [0.80, 0.79]})
    images = {run: {f"{prefix}{i}": d for i, d in enumerate(dice)}
              for run, dice, prefix in zip(runs, (finalist_dice, default_dice), (finalist_images, "img"))} if with_images else {}
    return final_choice(cfg, candidates, final, images), candidates


def test_a_one_fold_final_round_keeps_the_default_unless_the_finalist_leads_beyond_the_noise_of_its_validation_images():
    rng = np.random.default_rng(0)
    default = list(rng.uniform(0.5, 0.95, 40))
    noisy = [d + (0.085 if i % 2 else -0.075) for i, d in enumerate(default)]  # leads by 0.005 on average, the images disagree
    choice, candidates = _one_fold_final(noisy, default)
    assert choice.named_default and choice.winner == candidates[-1]["run_name"]
    assert choice.pairs == 40 and "over 40 validation images" in choice.reason and choice.low < 0 < choice.high
    better = [d + (0.04 if i % 2 else 0.02) for i, d in enumerate(default)]  # ahead on every image
    choice, candidates = _one_fold_final(better, default)
    assert choice.winner == "d3-s101" and not choice.named_default and choice.low > 0


def test_a_one_fold_final_round_without_per_image_scores_on_the_same_images_keeps_the_best_there():
    choice, _ = _one_fold_final([], [], with_images=False)  # runs logged before the per-image figures: the split-level best
    assert choice.winner == "d3-s101" and choice.pairs == 1 and "--final-folds 2" in choice.reason
    other, _ = _one_fold_final([0.9] * 5, [0.5] * 5, finalist_images="other")  # a finalist validated on other images: nothing to pair
    assert other.winner == "d3-s101" and other.pairs == 1
