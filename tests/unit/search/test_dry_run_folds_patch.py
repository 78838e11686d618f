"""Trial precision, common random numbers across configurations, and k-fold splits."""



from tests.helpers.search import dry_run


def test_ablation_dry_run_with_folds_lists_every_configuration_seed_and_fold(tmp_path):
    configs = dry_run(tmp_path, "--space", "ablation", "--depths", "1,2", "--folds", "3", "--repeats", "2", "--seed", "10")
    assert len(configs) == 6 * 2 * 3
    assert {(c["seed"], c["fold"]) for c in configs} == {(s, f) for s in (10, 11) for f in range(3)}
    assert all(c["folds"] == 3 and c["split_seed"] == 10 and c["precision"] == "auto" for c in configs)


def test_patch_size_auto_follows_the_fingerprint_and_a_number_overrides_it(tmp_path):
    def patches(*args):
        return {c["patch_size"] for c in dry_run(tmp_path, "--space", "ablation", "--depths", "2", *args)}

    assert patches() == {64}  # thin synthetic vessels
    assert patches("--dataset", "synthetic_lesions") == {96}  # blobs about 22 px wide
    assert patches("--dataset", "synthetic_lesions", "--patch-size", "48") == {48}


