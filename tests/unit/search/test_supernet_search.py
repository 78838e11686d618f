"""`--strategy supernet`: supernets per depth and fold, every pattern's estimate an MLflow run marked as an estimate,
the best estimates trained stand-alone at the final budget, and the report showing estimates beside stand-alone results."""


from tests.helpers.search import dry_run


def test_the_dry_run_lists_one_supernet_per_depth_and_fold_with_the_patterns_it_estimates(tmp_path):
    lines = dry_run(tmp_path, "--space", "arch", "--strategy", "supernet", "--depths", "1,3", "--folds", "2", "--supernet-sampling", "uniform")
    assert [(c["run_name"], c["fold"]) for c in lines] == [("supernet-d1-dice_bce-p64-f0", 0), ("supernet-d1-dice_bce-p64-f1", 1),
                                                          ("supernet-d3-dice_bce-p64-f0", 0), ("supernet-d3-dice_bce-p64-f1", 1)]
    assert lines[2]["estimates"] == ["000", "001", "010", "011", "100", "101", "110", "111"]
    assert {c["sampling"] for c in lines} == {"uniform"} and {c["recalibrate_batches"] for c in lines} == {0}


