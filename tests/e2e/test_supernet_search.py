"""`--strategy supernet`: supernets per depth and fold, every pattern's estimate an MLflow run marked as an estimate,
the best estimates trained stand-alone at the final budget, and the report showing estimates beside stand-alone results."""
import json

import pytest

from tests.helpers.search import run_search, runs


@pytest.mark.slow
def test_a_supernet_search_logs_estimates_as_estimates_trains_the_best_stand_alone_and_the_report_shows_both(tmp_path):
    proc = run_search(tmp_path, "--space", "arch", "--strategy", "supernet", "--depths", "1,2", "--folds", "2", "--max-epochs", "2",
                      "--patches-per-epoch", "48", "--rerank-top", "2", "--final-budget", "2", "--experiment", "sn", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 skip supernets (one per depth and fold)" in proc.stdout
    client, parents, _ = runs(tmp_path, "sn")
    children = client.search_runs([client.get_experiment_by_name("sn").experiment_id], max_results=1000)
    by_role = {}
    for r in children:
        by_role.setdefault(r.data.tags.get("unet.role"), []).append(r)
    supernets, estimates, finals = by_role["supernet"], by_role["estimate"], by_role["final"]
    assert sorted(r.info.run_name for r in supernets) == ["supernet-d1-dice_bce-p64-f0", "supernet-d1-dice_bce-p64-f1",
                                                          "supernet-d2-dice_bce-p64-f0", "supernet-d2-dice_bce-p64-f1"]
    assert "trial" not in by_role  # no configuration was trained one by one in the search phase
    # every pattern of every depth: one estimate run, marked as an estimate, the mean of its folds' estimates
    assert sorted((r.data.params["depth"], r.data.params["skips"]) for r in estimates) == [("1", "0"), ("1", "1"), ("2", "00"), ("2", "01"), ("2", "10"), ("2", "11")]
    for r in estimates:
        assert r.data.tags["unet.estimate"] == "true" and r.info.run_name.endswith("-estimate") and r.info.status == "FINISHED"
        folds = [r.data.metrics[f"estimate_val_dice_f{f}"] for f in (0, 1)]
        assert r.data.metrics["estimate_val_dice"] == pytest.approx(sum(folds) / 2)
        sources = r.data.tags["unet.supernet_run_id"].split(",")
        assert len(sources) == 2 and {s.data.params["depth"] for s in supernets if s.info.run_id in sources} == {r.data.params["depth"]}
    # the best two estimates were trained stand-alone at the final budget, and the winner is one of them
    best2 = sorted(estimates, key=lambda r: (-r.data.metrics["estimate_val_dice"], int(r.data.params["depth"]), r.data.params["skips"]))[:2]
    assert {r.info.run_name.removesuffix("-estimate") + "-final" for r in best2} == {r.info.run_name for r in finals}
    for r in finals:
        assert r.data.params["epochs"] == "2" and r.data.params["folds"] == "1"
    parent = parents[0].data.tags
    assert [r["run_name"] for r in json.loads(parent["unet.supernet_ranking"])] == [r.info.run_name.removesuffix("-estimate") for r in best2]
    assert parent["unet.best_run_id"] in {r.info.run_id for r in finals}
    assert "best estimates (weight-sharing, not trained stand-alone)" in proc.stdout

    from analysis.report import main as report

    assert report(["--experiment", "sn", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "supernet estimates (weight-sharing, not stand-alone training)" in text
    rows = [line for line in text.splitlines() if line.startswith("| 2 | ")]
    assert len(rows) == 4
    trained = {r.info.run_name.split("-")[1][1:] for r in finals if r.info.run_name.startswith("d2-")}
    for row in rows:  # a stand-alone Dice only where the pattern was trained stand-alone
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert (cells[7] != "") == (cells[1] in trained), row
