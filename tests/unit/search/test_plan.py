"""A search planned to a budget: the plan a planted cost model gives, a budget too small for any plan, the plans file's
checks, and the budget's clock across a resumed search."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from search.errors import ConfigError
from search.config import SearchConfig
from search.plan import Budget, Plan, PlanInputs, PlantedCost, asha_epochs, minimum_seconds, parse_budget, plan_defaults, plan_for_budget
from search.plan.planner import MIN_FINAL_STEPS, MODELS_S, PHASE_S, SETUP_S
from search.plan.resolution import geometry, sides

KVASIR = PlanInputs("folder", "k1", 1000, 704, 176, 120, 32, (530, 620), (332, 487), 136.0)
DRIVE = PlanInputs("drive", "k2", 40, 16, 4, 20, 4, (584, 565), (584, 565), 6.0)
COST = PlantedCost(per_megapixel_step=1.4, per_megapixel_predict=0.3)


@pytest.mark.parametrize("text, seconds", [("45m", 2700), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("0.5h", 1800)])
def test_a_budget_is_read_as_users_write_it(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["0", "1x", "", "0m", "-5m", "ten minutes"])
def test_a_budget_that_is_no_duration_is_one_line(text):
    with pytest.raises(ConfigError, match="--budget") as raised:
        parse_budget(text)
    assert "\n" not in str(raised.value)


def test_large_objects_train_at_a_reduced_resolution_and_thin_ones_keep_the_original():
    assert sides(DRIVE) == [0]  # 6-px vessels would vanish below the original
    assert 0 not in sides(KVASIR) and max(sides(KVASIR)) == 224  # 136-px polyps exceed a quarter of a depth-4 receptive field at 620 px
    hour = plan_for_budget(KVASIR, COST, 3600)
    assert hour.image_side in sides(KVASIR) and hour.whole_image and hour.patch_size == hour.image_side  # 3 polyp widths: most of the image
    assert hour.epoch_patches == KVASIR.train_images  # an epoch is every training image once
    assert hour.final_budget * hour.epoch_patches / hour.batch_size >= MIN_FINAL_STEPS
    drive = plan_for_budget(DRIVE, COST, 1800)
    assert drive.image_side == 0 and not drive.whole_image and drive.patch_size < min(DRIVE.median_shape) // 2


def test_a_longer_budget_buys_resolution_trials_and_epochs_and_every_plan_fits_its_budget():
    plans = [plan_for_budget(KVASIR, COST, b) for b in (600, 3600, 8 * 3600)]
    assert [p.image_side for p in plans] == sorted(p.image_side for p in plans)
    assert plans[0].final_budget <= plans[1].final_budget
    for budget, p in zip((600, 3600, 8 * 3600), plans):
        assert p.predicted_s["total"] <= budget
        assert p.predicted_s["total"] == pytest.approx(sum(v for k, v in p.predicted_s.items() if k != "total"), abs=0.2)


def test_a_plan_gives_up_resolution_before_width_and_a_long_budget_buys_both():
    widths = replace(KVASIR, widths=(16, 8))
    short, mid, day = (plan_for_budget(widths, COST, b) for b in (3000, 3.5 * 3600, 8 * 3600))
    assert (short.image_side, short.base_channels) == (128, 8)  # 16 wide holds the minimum steps at no resolution in 50 minutes
    assert (mid.image_side, mid.base_channels) == (128, 16)  # 8 wide at 224 px would hold them too: the width is kept first
    assert plan_for_budget(KVASIR, COST, 3.5 * 3600).image_side == 224  # (as the 8-wide plan shows)
    assert (day.image_side, day.base_channels) == (224, 16)
    assert day.final_budget * day.epoch_patches / day.batch_size >= MIN_FINAL_STEPS
    assert plan_for_budget(KVASIR, COST, 8 * 3600).base_channels == 8  # a space that samples its width, or a user's: kept


def test_a_budget_the_smallest_plan_cannot_meet_is_refused_with_its_minimum():
    least = minimum_seconds(KVASIR, COST)
    with pytest.raises(ConfigError, match=r"--budget 30s is below the smallest plan's \d+m\d+s .*give at least that"):
        plan_for_budget(KVASIR, COST, 30)
    plan_for_budget(KVASIR, COST, least)  # the minimum itself is a plan, and two seconds less none
    with pytest.raises(ConfigError, match="below the smallest plan's"):
        plan_for_budget(KVASIR, COST, least - 2)


def test_the_time_spent_reading_the_data_and_timing_the_machine_comes_off_the_budget():
    fresh, later = plan_for_budget(KVASIR, COST, 3600), plan_for_budget(KVASIR, COST, 3600, spent_s=300)
    assert later.budget_s == 3600 and later.predicted_s["prepared"] == 300  # the user's budget, with what it already spent
    assert later.predicted_s["total"] <= 3600 and later.predicted_s["total"] == pytest.approx(sum(
        v for k, v in later.predicted_s.items() if k != "total"), abs=0.2)
    assert later.predicted_s["search"] + later.predicted_s["final"] < fresh.predicted_s["search"] + fresh.predicted_s["final"]
    assert "prepared 5.0 min" in later.lines()[1]
    least = minimum_seconds(KVASIR, COST)
    with pytest.raises(ConfigError, match=r"after 5m00s of reading the data and timing this machine"):
        plan_for_budget(KVASIR, COST, least + 298, spent_s=300)


def test_asha_epochs_by_hand():
    assert asha_epochs(8, 2, 2) == pytest.approx(2 + 2 / 2 + 4 / 4)  # rungs 2, 4, 8
    assert asha_epochs(1, 1, 2) == 1
    assert asha_epochs(8, 2, 2, 1) == 8  # one trial trains to max_t: no peer at any rung
    # two: the first trains 8; the second beats it at rung 2 half the time, and then at rung 4 too (scores keep their order)
    assert asha_epochs(8, 2, 2, 2) == pytest.approx((8 + 2 + 0.5 * 6) / 2, rel=0.03)
    assert asha_epochs(8, 2, 2, 48) == pytest.approx(asha_epochs(8, 2, 2), rel=0.2)  # many: near the 1/rf limit


def test_asha_counts_every_trial_the_search_would_run_against_a_real_ray_bracket():
    """The expected epochs match Ray's own ASHA bracket run on random scores, trials arriving in turn."""
    import numpy as np
    from ray.tune.schedulers.async_hyperband import _Bracket

    class Trial:
        def __init__(self, i):
            self.trial_id = str(i)

    rng, runs, n = np.random.default_rng(1), 1000, 8
    total = 0
    for _ in range(runs):
        bracket = _Bracket(7, 29, 2, 0)
        for i in range(n):
            trial, score = Trial(i), rng.random()
            for epoch in range(1, 30):
                total += 1
                if bracket.on_result(trial, epoch, score) == "STOP":
                    break
    assert total / runs / n == pytest.approx(asha_epochs(29, 7, 2, n), rel=0.04)
    assert total / runs / n > 1.15 * asha_epochs(29, 7, 2)  # the many-trials limit undercounts a search of 8 by a fifth


def test_a_plans_file_round_trips_and_refuses_other_data_and_infeasible_edits(tmp_path):
    plan = plan_for_budget(KVASIR, COST, 3600)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    assert Plan.read(path) == plan
    Plan.read(path).check(path, "folder", "k1", (1, 2, 3, 4))
    with pytest.raises(ConfigError, match="was made for another dataset"):
        Plan.read(path).check(path, "folder", "other", (1, 2))
    path.write_text(json.dumps({**json.loads(plan.to_json()), "patch_size": 100}))
    with pytest.raises(ConfigError, match=r"patch_size 100 .*depth 3"):
        Plan.read(path).check(path, "folder", "k1", (1, 2, 3))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        Plan.read(path)


def test_the_budget_clock_goes_on_with_the_time_an_interrupted_search_left():
    now = [100.0]
    first = Budget(600, clock=lambda: now[0])
    now[0] += 250  # the first session ran 250 s, then was interrupted
    used = first.used_s
    now[0] += 1000  # the machine stood still before --resume: that time is not the search's
    resumed = Budget(600, used_before_s=used, clock=lambda: now[0])
    assert (resumed.used_s, resumed.left_s) == (250, 350)
    now[0] += 400
    assert resumed.left_s == 0 and resumed.line() == "10m50s of 10m00s"


def test_plan_inputs_respect_a_users_final_round():
    plan = plan_for_budget(replace(KVASIR, rerank_top=3, final_folds=2), COST, 8 * 3600)
    assert (plan.rerank_top, plan.final_folds) == (3, 2)


def test_one_small_image_among_larger_ones_is_padded_instead_of_refusing_the_dataset():
    from datasets.fingerprint import Fingerprint
    from search.spaces import SpaceLimits

    fp = Fingerprint("folder", 11, 8, 2, 1, [96, 80], [16, 16], [96, 80], 3, [0.5] * 3, [0.2] * 3, ["bg", "fg"], {"fg": 0.2}, 1.0,
                     [], [], 10.0, 64)
    limits = SpaceLimits.from_fingerprint(fp)
    assert limits.max_patch == 80 and limits.depths == (1, 2, 3, 4)


def test_an_ablation_is_planned_without_a_final_round_and_its_every_configuration_fits():
    plan = plan_for_budget(replace(KVASIR, sampled=False, fixed_trials=30, rerank_top=0), COST, 8 * 3600)
    assert plan.rerank_top == 0 and plan.predicted_s["final"] == 0 and plan.num_samples == 30
    assert plan.predicted_s["total"] <= 8 * 3600


def test_a_plans_file_edited_to_text_where_a_number_belongs_is_one_line(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**json.loads(plan_for_budget(KVASIR, COST, 3600).to_json()), "image_side": "256"}))
    with pytest.raises(ConfigError, match="image_side must be a number, got '256'"):
        Plan.read(path)


def test_the_supernet_strategy_is_not_planned_and_says_so():
    from search.config import SearchConfig

    with pytest.raises(ConfigError, match="--budget, --plan and --image-side apply to --strategy trials"):
        SearchConfig(space="arch", strategy="supernet", budget=600)


def test_a_search_on_a_cluster_plans_trials_at_a_time_by_the_clusters_cpus_not_the_drivers(tmp_path, monkeypatch):
    import search.driver.planning as planning
    from search.driver.data import load_data, space_limits
    from search.run import parse_args

    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(planning, "cost_model", lambda cfg, echo=None: COST)
    monkeypatch.setattr(planning, "cluster_capacity", lambda cfg: (16.0, 0.0))
    local = parse_args(["--space", "arch", "--budget", "20m", "--storage", str(tmp_path / "ray")])
    data = load_data(local)
    on_cluster = replace(local, address="10.0.0.1:6379")
    assert planning.make_plan(on_cluster, data, space_limits(on_cluster, data))[1].parallel == 16
    assert planning.make_plan(local, data, space_limits(local, data))[1].parallel == (os.cpu_count() or 1)  # no --address: this machine


def test_a_search_plans_what_is_left_of_its_budget_once_its_data_is_read_and_its_machine_timed(tmp_path, monkeypatch):
    import time

    import search.driver.planning as planning
    from search.driver.data import load_data, space_limits
    from search.run import parse_args

    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(planning, "cost_model", lambda cfg, echo=None: COST)
    cfg = parse_args(["--space", "arch", "--budget", "20m", "--storage", str(tmp_path / "ray")])
    data = load_data(cfg)
    _, plan = planning.make_plan(cfg, data, space_limits(cfg, data), started=time.monotonic() - 120)  # two minutes ago
    assert plan.budget_s == 1200 and 120 <= plan.predicted_s["prepared"] < 180 and plan.predicted_s["total"] <= 1200
    assert "prepared" not in planning.make_plan(cfg, data, space_limits(cfg, data))[1].predicted_s  # a dry run: nothing spent


class DepthCost(PlantedCost):
    """A planted cost whose step grows with depth as a U-Net's does (each level costs about as much as the first)."""

    def step_s(self, depth, width, patch, batch):
        return super().step_s(depth, width, patch, batch) * (depth + 1) / 5


def test_a_sampled_search_is_timed_at_the_mean_of_the_depths_it_draws_and_its_final_round_at_the_deepest():
    cost = DepthCost(per_megapixel_step=1.4, per_megapixel_predict=0.0)
    deepest = plan_for_budget(KVASIR, cost, 3600)
    mixed = plan_for_budget(replace(KVASIR, depths=(1, 2, 3, 4)), cost, 3600)
    assert deepest.search_epoch_s == deepest.epoch_s  # no depths given: the deepest net's epoch
    steps = mixed.epoch_patches / mixed.batch_size
    assert mixed.search_epoch_s == pytest.approx(0.3 + steps * (2 + 3 + 4 + 5) / 4 * mixed.step_s / 5, rel=1e-3)  # step_s: the deepest's
    assert mixed.epoch_s == pytest.approx(0.3 + steps * mixed.step_s, rel=1e-3)  # the final round's: the default U-Net is the deepest
    waves = -(-mixed.num_samples // mixed.parallel)
    epochs = asha_epochs(mixed.max_epochs, mixed.grace_period, 2, mixed.num_samples)
    # every trial's epochs to the first rung at the depths' mean, the survivors' beyond it at the deepest's
    per_trial = mixed.grace_period * mixed.search_epoch_s + (epochs - mixed.grace_period) * mixed.epoch_s + 8
    assert mixed.predicted_s["search"] == pytest.approx(waves * per_trial + PHASE_S, abs=0.5)  # and the phase's start and stop
    ablation = plan_for_budget(replace(KVASIR, depths=(1, 2, 3, 4), sampled=False, fixed_trials=30, rerank_top=0), cost, 8 * 3600)
    assert ablation.search_epoch_s == ablation.epoch_s  # an enumerated ablation keeps the conservative deepest


def test_several_final_folds_are_planned_only_where_each_final_training_still_holds_enough_steps():
    hour, day = plan_for_budget(KVASIR, COST, 3600), plan_for_budget(KVASIR, COST, 24 * 3600)
    steps = lambda p: p.final_budget * p.epoch_patches // p.batch_size  # noqa: E731
    assert hour.final_folds == 1 and steps(hour) >= MIN_FINAL_STEPS  # two folds would halve the take-home model's training
    assert day.final_folds == 2 and steps(day) >= MIN_FINAL_STEPS
    asked = plan_for_budget(replace(KVASIR, rerank_top=1), COST, 3600)  # the user's --rerank-top: two folds, at the usual minimum
    assert asked.final_folds == 2


def test_a_budgets_plan_trains_with_a_cosine_schedule_and_a_plans_file_edited_to_another_is_refused(tmp_path):
    plan = plan_for_budget(KVASIR, COST, 3600)
    assert plan.schedule == "cosine" and any("cosine" in w for w in plan.why) and "cosine learning-rate schedule from 0.001" in plan.lines()[0]
    cfg = plan.apply(SearchConfig(space="arch", budget=3600))
    assert (cfg.lr, cfg.schedule) == (1e-3, "cosine")  # the fixed recipe trains at the plan's rate, not --lr's 3e-3
    assert plan_defaults(KVASIR, COST, SearchConfig(space="arch"), 8, 64).apply(SearchConfig(space="arch", lr=5e-3)).lr == 5e-3  # no budget: --lr stands
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**json.loads(plan.to_json()), "schedule": "linear"}))
    with pytest.raises(ConfigError, match="schedule must be one of plateau, cosine, got 'linear'"):
        Plan.read(path).check(path, plan.dataset, plan.data_key, (4,))
    path.write_text(json.dumps({**json.loads(plan.to_json()), "lr": 2}))
    with pytest.raises(ConfigError, match="lr must be 0 .the --lr setting. or a learning rate below 1, got 2"):
        Plan.read(path).check(path, plan.dataset, plan.data_key, (4,))
    old = {k: v for k, v in json.loads(plan.to_json()).items() if k not in ("schedule", "search_epoch_s", "lr")}
    path.write_text(json.dumps(old))
    assert Plan.read(path).schedule == "plateau"  # a plans file from before the field: today's schedule
    assert Plan.read(path).apply(SearchConfig(space="arch", lr=3e-3)).lr == 3e-3  # and the --lr setting


def test_the_cost_model_times_steps_in_the_precision_the_trials_train_in(tmp_path, monkeypatch):
    import search.plan.cost as cost

    timed = []
    monkeypatch.setattr(cost, "time_steps", lambda *args: timed.append(args) or (0.2 if args[4] else 0.3))
    fp32, bf16 = cost.MeasuredCost(tmp_path / "a.json"), cost.MeasuredCost(tmp_path / "b.json", bf16=True)
    assert fp32.step_s(4, 16, 160, 8) == 0.2 and not any(a[-1] for a in timed)
    timed.clear()
    assert bf16.step_s(4, 16, 160, 8) == 0.2 and bf16.channels_last(4, 16, 160, 8)
    assert [(a[4], a[-1]) for a in timed] == [(True, True)]  # bf16 trains channels_last only: one measurement, in bf16
    assert json.loads((tmp_path / "b.json").read_text()) == {"step-d4-w16-p160-b8-cl1-bf16": 0.2}


def test_two_cpus_of_one_model_name_but_other_instruction_sets_keep_separate_timings():
    from search.plan.cost import cpu_identity

    avx2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n" * 2
    bf16 = avx2.replace("fma", "fma avx512f avx512_bf16")
    assert cpu_identity(avx2) != cpu_identity(bf16)  # a cloud's "AMD EPYC" with and without native bf16: not one cache
    assert cpu_identity(avx2) == cpu_identity(avx2.replace("sse2 avx2", "avx2 sse2"))  # the flags' order is no new machine
    assert cpu_identity("", "x86_64") == "x86_64"  # no /proc/cpuinfo (macOS): the platform's name


def test_trials_are_shortened_before_the_search_falls_below_its_least_trial_count():
    from search.plan.planner import MIN_EPOCHS, MIN_TRIALS

    for budget in (600, 3600, 8 * 3600):
        plan = plan_for_budget(KVASIR, COST, budget)
        assert plan.max_epochs <= plan.final_budget // 2  # a trial is at most half a final training
        # fewer trials only where they are already as short as ASHA allows (10 minutes: 6 trials of 4 epochs fit)
        assert plan.num_samples >= MIN_TRIALS or plan.max_epochs == MIN_EPOCHS, (budget, plan.num_samples, plan.max_epochs)
    hour = plan_for_budget(KVASIR, COST, 3600)
    assert hour.predicted_s["final"] > 2 * hour.predicted_s["search"]  # the final round's share: what the take-home model trains in


def test_the_final_round_plans_its_closing_validation_on_the_split_each_training_closes_on():
    from search.plan.planner import closing_seconds
    from search.plan.resolution import geometry

    inp = replace(KVASIR, val_images=100, fold_val_images=(704 + 100) // 5)  # 704 training, 100 validation, 32 scored an epoch
    plan = plan_for_budget(inp, COST, 3600)
    g = geometry(inp, plan.image_side)
    one = closing_seconds(inp, COST, g)
    assert one > 0 and closing_seconds(inp, COST, g, folds=2) == pytest.approx(one * ((704 + 100) // 5) / 100)  # a fold's 160
    assert closing_seconds(replace(inp, val_per_epoch=100), COST, g) == 0  # every image scored an epoch: nothing to close
    assert plan.closing_s == pytest.approx(one, abs=0.1)


class RecordedCost(DepthCost):
    """DepthCost that records every step it is asked for, as MeasuredCost would time it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "asked", set())

    def step_s(self, depth, width, patch, batch):
        self.asked.add((depth, width, patch))
        return super().step_s(depth, width, patch, batch)


def test_a_geometry_whose_final_round_is_too_short_is_not_timed_at_the_searchs_other_depths_unless_chosen():
    inp = replace(KVASIR, depths=(1, 2, 3, 4), widths=(16, 8))
    cost = RecordedCost(per_megapixel_step=8.0, per_megapixel_predict=0.3)  # a slow machine: no plan in an hour holds the minimum
    plan = plan_for_budget(inp, cost, 3600)
    assert plan.why[0].startswith("no resolution gives")
    shallow = {(w, p) for d, w, p in cost.asked if d < 4}
    assert shallow == {(plan.base_channels, plan.patch_size)}  # the other depths: only where the search will run
    assert {(w, p) for d, w, p in cost.asked if d == 4} == {(w, geometry(replace(inp, base_channels=w), s).patch) for w in (16, 8) for s in sides(inp)}
    assert plan.search_epoch_s < plan.epoch_s  # its search timed where chosen: at the depths' mean, not the deepest's


def test_the_cost_model_says_which_steps_it_times_once(tmp_path, monkeypatch):
    import search.plan.cost as cost

    monkeypatch.setattr(cost, "time_steps", lambda *args: 0.2 if args[4] else 0.3)
    lines = []
    measured = cost.MeasuredCost(tmp_path / "c.json", echo=lines.append)
    measured.step_s(4, 16, 160, 8), measured.step_s(4, 16, 160, 8)
    assert lines == ["timed a training step on this machine (kept for later searches): depth 4, width 16, 160-px patches of 8: 0.20 s, channels_last"]
    cost.MeasuredCost(tmp_path / "c.json", echo=lines.append).step_s(4, 16, 160, 8)
    assert len(lines) == 1  # cached: a second search times nothing and says nothing


def test_the_test_score_is_planned_as_the_search_scores_its_test_split_the_choices_fold_models_at_the_original_size():
    drive = plan_for_budget(DRIVE, COST, 1800)
    scored = DRIVE.test_images * COST.score_s(4, drive.base_channels, 0, DRIVE.median_shape, drive.final_folds)
    assert drive.predicted_s["setup"] == pytest.approx(SETUP_S + MODELS_S + scored, abs=0.1)
    kvasir = plan_for_budget(KVASIR, COST, 3600)  # predicted at the working resolution: far less than at 620 px
    at_side = KVASIR.test_images * COST.score_s(4, kvasir.base_channels, kvasir.image_side, KVASIR.median_shape, kvasir.final_folds)
    assert kvasir.image_side and kvasir.predicted_s["setup"] == pytest.approx(SETUP_S + MODELS_S + at_side, abs=0.1)


def test_the_cost_model_times_a_test_images_score_once_on_the_drivers_threads(tmp_path, monkeypatch):
    import torch

    import search.plan.cost as cost

    seen = []
    monkeypatch.setattr(cost, "time_score", lambda *args, **kw: seen.append((args, torch.get_num_threads())) or 0.5)
    measured = cost.MeasuredCost(tmp_path / "c.json", threads=1)
    assert measured.score_s(4, 8, 0, (584, 565), 2) == measured.score_s(4, 8, 0, (584, 565), 2) == 0.5
    assert seen == [((4, 8, 0, (584, 565), 2), torch.get_num_threads())]  # once, and not on a trial's one thread
    assert cost.MeasuredCost(tmp_path / "c.json").score_s(4, 8, 0, (584, 565), 2) == 0.5 and len(seen) == 1  # kept for later searches
    measured.score_s(4, 8, 0, (584, 565), 1)
    assert len(seen) == 2  # one fold model is another measurement


def test_a_test_images_score_is_timed_through_the_searchs_own_scoring_at_a_working_resolution(monkeypatch):
    import unet_core
    from search.plan.cost import time_score

    assert time_score(2, 8, 32, (48, 40), 2, images=1) > 0  # upsampled from 32 px to 48 x 40 and scored, with two models
    calls = []
    monkeypatch.setattr(unet_core, "evaluate_images", lambda models, samples, *args, **kw: calls.append((models, list(samples), args, kw)))
    time_score(4, 8, 0, (700, 900), 1, images=2, tile=640)
    models, samples, args, kw = calls[-1]
    assert len(calls) == 2 and len(models) == 1 and len(samples) == 2  # a warm-up, then the images timed
    assert samples[0][0].shape == (3, 700, 900) and args[1] == 640 and args[2] == 0.5  # in 640-px tiles overlapping by half
    assert kw["tta"] == unet_core.TTA_DEFAULT and kw["side"] == 0 and kw["per_image"]  # the served views, each image's Dice


def test_a_test_image_is_planned_in_the_tile_the_search_scores_it_in():
    from search.plan.planner import scoring_tile

    assert scoring_tile(DRIVE, geometry(DRIVE, 0)) == 592  # the whole 584 x 565 image, rounded to a depth-4 net's 16
    large = replace(DRIVE, median_shape=(1000, 1200), min_shape=(1000, 1200))
    assert scoring_tile(large, geometry(large, 0)) == 640  # larger images: overlapping tiles of the recipe's eval_tile
    assert scoring_tile(KVASIR, geometry(KVASIR, 128)) == 128  # a working resolution: the resized image


class WidthOnlyShallowCost(PlantedCost):
    """The deepest net's step the same at both widths, the shallower nets' dearer at width 16: two widths whose final
    rounds tie exactly, the narrower one's search holding more trials."""

    def step_s(self, depth, width, patch, batch):
        return super().step_s(depth, 8, patch, batch) * (1.0 if depth == 4 or width == 16 else 0.1)

    def predict_s(self, depth, width, side):
        return super().predict_s(depth, 8, side)


def test_where_no_plan_holds_the_minimum_steps_ties_in_final_steps_go_to_the_search_with_more_trials():
    inp = replace(KVASIR, depths=(1, 2, 3, 4), widths=(16, 8))
    plan = plan_for_budget(inp, WidthOnlyShallowCost(per_megapixel_step=8.0, per_megapixel_predict=0.3), 2800)
    assert plan.why[0].startswith("no resolution gives") and plan.base_channels == 8  # 16 comes first, but its search holds fewer
    wide = plan_for_budget(replace(inp, widths=(16,)), WidthOnlyShallowCost(per_megapixel_step=8.0, per_megapixel_predict=0.3), 2800)
    assert (wide.final_budget, wide.image_side) == (plan.final_budget, plan.image_side) and wide.num_samples < plan.num_samples


def test_the_plan_hands_the_searchs_output_to_the_cost_model_so_its_timing_is_not_silent(tmp_path, monkeypatch):
    import search.driver.planning as planning
    from search.driver.data import load_data, space_limits
    from search.run import parse_args

    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    handed = []
    monkeypatch.setattr(planning, "cost_model", lambda cfg, echo=None: handed.append(echo) or COST)
    cfg = parse_args(["--space", "arch", "--budget", "20m", "--storage", str(tmp_path / "ray")])
    data = load_data(cfg)
    planning.make_plan(cfg, data, space_limits(cfg, data), echo=print)
    assert handed == [print]
    monkeypatch.undo()
    assert planning.cost_model(cfg, print).echo is print
