"""The search CLI: dry runs, bad input at the edge, and a real quick search on Ray Tune + MLflow."""
import json

from tests.helpers.search import dry_run


def test_quick_dry_run_prints_feasible_configurations(tmp_path):
    configs = dry_run(tmp_path, "--num-samples", "5")
    assert len(configs) == 5
    for c in configs:
        assert len(c["skips"]) == c["depth"] and c["patch_size"] % 2 ** c["depth"] == 0 and c["patch_size"] // 2 ** c["depth"] >= 4


def test_full_dry_run_prints_the_space_and_constraints(tmp_path):
    lines = dry_run(tmp_path, "--space", "full")
    names = [line.get("name") for line in lines]
    assert {"depth", "s1..s{depth}", "patch_size", "stride_ratio", "saliency_percentile", "loss"} <= set(names)
    assert "constraints" in lines[-1]


def test_arch_dry_run_samples_the_ablation_space_and_only_optuna_follows_the_searcher_seed(tmp_path):
    ablation = {json.dumps({k: v for k, v in line.items() if k not in ("depth", "skips", "run_name")}, sort_keys=True)
                for line in dry_run(tmp_path, "--space", "ablation")}
    samples = {}
    for seed in ("1", "2"):
        configs = dry_run(tmp_path, "--space", "arch", "--num-samples", "12", "--searcher-seed", seed)
        assert all(len(c["skips"]) == c["depth"] and 1 <= c["depth"] <= 4 and c["seed"] == 0 for c in configs)
        # everything but depth and skips is the ablation's fixed setting
        assert {json.dumps({k: v for k, v in c.items() if k not in ("depth", "skips", "run_name")}, sort_keys=True) for c in configs} == ablation
        samples[seed] = [(c["depth"], c["skips"]) for c in configs]
    assert samples["1"] != samples["2"]


def test_depths_and_skips_narrow_the_ablation(tmp_path):
    configs = dry_run(tmp_path, "--space", "ablation", "--depths", "2,3")
    assert sorted({c["skips"] for c in configs}) == sorted(format(i, f"0{d}b") for d in (2, 3) for i in range(2**d))
    assert [(c["depth"], c["skips"], c["seed"]) for c in dry_run(tmp_path, "--space", "ablation", "--skips", "1001,11", "--repeats", "2")] == [
        (2, "11", 0), (2, "11", 1), (4, "1001", 0), (4, "1001", 1)]
    assert {c["depth"] for c in dry_run(tmp_path, "--depths", "3", "--num-samples", "4")} == {3}


def test_batch_size_sets_the_ablation_and_arch_trials_batch(tmp_path):
    assert {c["batch_size"] for c in dry_run(tmp_path, "--space", "ablation", "--depths", "1", "--batch-size", "4")} == {4}
    assert {c["batch_size"] for c in dry_run(tmp_path, "--space", "ablation", "--depths", "1")} == {16}  # the default


def test_arch_defaults_and_the_dry_run_compute_count_the_re_ranking(tmp_path):
    from search.driver.data import load_data, settle_patch, space_limits
    from search.driver.dry_run import dry_run_compute
    from search.run import parse_args

    cfg = parse_args(["--space", "arch", "--max-epochs", "4", "--patches-per-epoch", "50", "--dry-run"])
    assert (cfg.num_samples, cfg.rerank_k, cfg.final_folds, cfg.final_epochs, cfg.grace_period, cfg.reduction_factor) == (16, 2, 2, 8, 2, 2)
    assert (parse_args([]).num_samples, parse_args([]).rerank_k, parse_args([]).final_folds) == (8, 0, 1)  # the newcomer's quick search stays short
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    compute = dry_run_compute(cfg, data, space_limits(cfg, data))
    assert compute.patches == (16 * 4 + 3 * 2 * 8) * 50  # the best 2 and the default U-Net on 2 folds at the final budget
    assert "(16 trials x at most 4 epochs + 2 re-ranking trials and the default U-Net x 2 folds x 8 epochs) x 50 patches" in compute.line()
    alone = settle_patch(parse_args(["--space", "arch", "--max-epochs", "4", "--patches-per-epoch", "50", "--no-final-baseline", "--final-folds", "1"]), data)
    assert dry_run_compute(alone, data, space_limits(alone, data)).patches == (16 * 4 + 2 * 8) * 50


def test_a_plans_dry_run_compute_counts_the_plans_epochs_at_its_working_resolution():
    from types import SimpleNamespace

    from search.driver.data import load_data, settle_patch, space_limits
    from search.driver.dry_run import dry_run_compute
    from search.run import parse_args

    cfg = parse_args(["--space", "arch", "--max-epochs", "4", "--dry-run"])
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    plan = SimpleNamespace(epoch_patches=704, step_s=0.2, batch_size=8, depth=4, base_channels=16)  # whole images: one patch each an epoch
    compute = dry_run_compute(cfg, data, space_limits(cfg, data), plan)
    assert compute.patches_per_epoch == 704 and compute.seconds_per_patch == 0.025  # the plan's epoch and measured step
    assert compute.patches == (16 * 4 + 3 * 2 * 8) * 704 and "25.0 ms per patch (the plan's step: depth 4, width 16, batch 8)" in compute.line()


def test_a_budgets_dry_run_writes_its_plan_and_counts_the_plans_epochs_and_trials(tmp_path, monkeypatch):
    import search.driver.planning as planning
    from search.driver.dry_run import dry_run as plan_dry_run
    from search.plan import Plan, PlantedCost
    from search.run import parse_args

    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(planning, "cost_model", lambda cfg, echo=None: PlantedCost(per_megapixel_step=1.4, per_megapixel_predict=0.3))
    cfg = parse_args(["--space", "arch", "--budget", "20m", "--dry-run", "--storage", str(tmp_path / "ray")])
    lines, compute, plan, path = plan_dry_run(cfg)
    assert Plan.read(path) == plan and plan.budget_s == 1200  # written where --plan FILE reads it back
    assert compute.patches_per_epoch == plan.epoch_patches and compute.seconds_per_patch == plan.step_s / plan.batch_size
    assert compute.trials == plan.num_samples and compute.epochs_per_trial == plan.max_epochs
    assert len(lines) == plan.num_samples  # the configurations the plan's search would sample


def test_the_default_unet_joins_the_final_round_once_and_not_when_the_search_already_holds_it():
    from search.driver.data import load_data, settle_patch, space_limits
    from search.driver.final import default_unet_config
    from search.driver.rerank import with_baseline
    from search.run import parse_args

    cfg = parse_args(["--space", "full"])
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    default = default_unet_config(cfg, space_limits(cfg, data))
    assert (default["depth"], default["skips"], default["patches_per_epoch"]) == (4, "1111", 1024)  # the full search's patches an epoch
    other = {**default, "lr": 1e-3}
    shortlist = [{"run_name": "a", "best_val_dice": 0.8, "config": other}]
    final = with_baseline(shortlist, default, cfg.final_epochs)
    assert [c.get("baseline", False) for c in final] == [False, True] and final[1]["run_name"].endswith("-default")
    held = [{"run_name": "b", "best_val_dice": 0.8, "config": {**default, "epochs": 2}}]  # the same net, searched at fewer epochs
    assert with_baseline(held, default, cfg.final_epochs) == [{**held[0], "is_default": True}]  # it stands as the default in the final choice


