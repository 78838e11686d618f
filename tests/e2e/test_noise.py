"""Noise-aware search (search.noise): racing keeps a true best that one lucky split would displace, reshuffled splits differ
between trials and are recorded, and the final round names the default U-Net unless a finalist beats it beyond the noise."""

import pytest

FULL = 4  # epochs a trial trains unstopped


@pytest.mark.slow
def test_a_reshuffled_search_records_each_trials_split_and_its_final_choice_on_the_parent_run(tmp_path):
    from tests.helpers.search import run_search, runs

    proc = run_search(tmp_path, "--space", "arch", "--validation", "reshuffle", "--num-samples", "3", "--max-epochs", "1", "--patches-per-epoch", "16",
                      "--depths", "1,2", "--rerank-top", "2", "--final-budget", "1", "--final-folds", "2", "--experiment", "reshuffled")
    assert proc.returncode == 0, proc.stderr[-2000:]
    client, parents, children = runs(tmp_path, "reshuffled")
    seeds = [c.data.params["val_seed"] for c in children]
    names = [c.data.tags["unet.val_images"] for c in children]
    assert len(children) == 3 and len(set(seeds)) == 3 and len(set(names)) == 3 and all(int(s) >= 0 for s in seeds)
    tags = parents[0].data.tags
    assert tags["unet.final_margin_pairs"] == "2", tags
    assert tags["unet.final_choice"] and tags["unet.final_choice_reason"]
    assert tags["unet.final_choice_default"] in ("true", "false") and tags["unet.final_margin_ci95"].startswith("[")
    assert "final choice:" in proc.stdout


@pytest.mark.slow
def test_a_raced_search_starts_from_the_default_u_net_trains_no_fold_twice_and_records_the_race(tmp_path):
    import json
    import re

    from tests.helpers.search import run_search, runs

    proc = run_search(tmp_path, "--space", "arch", "--validation", "race", "--race-partition", "3", "--race-folds", "2", "--num-samples", "6",
                      "--max-epochs", "1", "--patches-per-epoch", "16", "--depths", "1,2", "--rerank-top", "2", "--final-budget", "1",
                      "--experiment", "raced")
    assert proc.returncode == 0, proc.stderr[-2000:]
    client, parents, children = runs(tmp_path, "raced")
    children.sort(key=lambda r: r.info.start_time)
    evaluations = [(r.info.run_name, r.data.params["fold"]) for r in children]
    assert len(children) == 6 and len(set(evaluations)) == 6, evaluations  # every evaluation a new (configuration, fold)
    assert children[0].info.run_name.startswith("d2-s11-") and all(r.data.params["folds"] == "3" for r in children)
    assert all(r.info.run_name.endswith(f"-f{r.data.params['fold']}") for r in children)
    ranked = json.loads(parents[0].data.tags["unet.search_ranking"])
    assert ranked and all(row["folds"] >= 1 for row in ranked)
    assert re.search(r"re-ranking the best 2 .*\(0\.\d{4} over [12] folds?\)", proc.stdout), proc.stdout


@pytest.mark.slow
def test_checking_the_noise_settings_does_not_load_ray_before_the_search_quiets_it():
    import subprocess
    import sys

    code = "import sys; from search.config import SearchConfig; SearchConfig(space='arch', validation='race'); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]  # an early Ray import printed a token-authentication warning in every search




@pytest.mark.slow
def test_a_one_fold_final_round_weighs_the_default_against_the_finalist_over_the_validation_images(tmp_path):
    import json
    from pathlib import Path

    from tests.helpers.search import run_search, runs

    proc = run_search(tmp_path, "--space", "arch", "--num-samples", "3", "--max-epochs", "1", "--patches-per-epoch", "16", "--depths", "1,3",
                      "--rerank-top", "1", "--final-budget", "1", "--final-folds", "1", "--experiment", "one-fold")
    assert proc.returncode == 0, proc.stderr[-2000:]
    client, parents, _ = runs(tmp_path, "one-fold")
    exp = client.get_experiment_by_name("one-fold")
    finals = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("unet.role") == "final"]
    assert len(finals) == 2  # the finalist and the default U-Net
    for run in finals:
        (tmp_path / run.info.run_id).mkdir()
        scores = json.loads(Path(client.download_artifacts(run.info.run_id, "validation/image_dice.json", str(tmp_path / run.info.run_id))).read_text())
        assert list(scores) == run.data.tags["unet.val_images"].split(",") and all(0 <= v <= 1 for v in scores.values())
    tags = parents[0].data.tags
    assert tags["unet.final_margin_pairs"] == str(len(scores)) and "validation images" in tags["unet.final_choice_reason"]
