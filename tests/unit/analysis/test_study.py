"""The analysis recovers planted effects, and the report is written from MLflow runs."""
import numpy as np
import pandas as pd

from analysis.report import build_report
from analysis.study import (
    bit_effects,
    cross_dataset,
    pareto_front,
    study_table,
    tradeoff_regression,
)
from unet_core import all_patterns


def planted(bit1=0.05, noise=0.01, seeds=3, interaction=0.0, rng_seed=0, name="planted"):
    """Runs of every depth 1..4 x pattern x seed: bit 1 adds `bit1` Dice at every depth, bit 3 adds nothing,
    bit 2 adds 0.02, depth adds 0.01 per level; optional depth x skips interaction."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for depth in range(1, 5):
        for p in all_patterns(depth):
            for seed in range(seeds):
                bits = [int(c) for c in p] + [0] * (5 - depth)
                dice = 0.6 + 0.01 * depth + bit1 * bits[0] + 0.02 * bits[1] + interaction * (depth - 2.5) * sum(bits) + rng.normal(0, noise)
                rows.append({"dataset": name, "run_name": f"d{depth}-s{p}", "depth": depth, "skips": p, "seed": seed, "loss": "dice_bce",
                             "dice": dice, "accuracy": 0.9, "dice_with_background": 0.95, "train_time_s": 10.0 * depth, "num_params": 1000 * 4**depth,
                             "n_skips": sum(bits), **{f"s{i + 1}": (float(bits[i]) if i < depth else np.nan) for i in range(5)}})
    return pd.DataFrame(rows)


def test_report_recovers_planted_bit_effects_inside_their_intervals():
    effects = bit_effects(planted())
    s1 = effects[effects.bit == "s1"]
    assert len(s1) == 5  # depths 1..4 and pooled
    for r in s1.itertuples():
        assert r.ci_low <= 0.05 <= r.ci_high and r.significant, r
    s3 = effects[effects.bit == "s3"]
    assert len(s3) == 3
    for r in s3.itertuples():
        assert r.ci_low <= 0.0 <= r.ci_high and not r.significant, r
    pooled_s2 = effects[(effects.bit == "s2") & (effects.depth == "all")].iloc[0]
    assert pooled_s2.ci_low <= 0.02 <= pooled_s2.ci_high and pooled_s2.significant


def test_regression_calls_a_planted_interaction_and_no_interaction():
    none = tradeoff_regression(planted())
    assert not none["significant"]
    assert none["bits"]["s1"]["ci_low"] <= 0.05 <= none["bits"]["s1"]["ci_high"]
    assert none["bits"]["s3"]["p"] > 0.05
    some = tradeoff_regression(planted(interaction=-0.01))
    assert some["significant"] and some["interaction"]["ci_low"] <= -0.01 <= some["interaction"]["ci_high"]


def test_study_table_marks_the_best_pattern_per_depth_and_averages_seeds():
    table = study_table(planted())
    assert len(table) == 30 and set(table.seeds) == {3}
    best = table[table.best_at_depth]
    assert list(best.depth) == [1, 2, 3, 4]
    assert all(s.startswith("11") or d == 1 for d, s in zip(best.depth, best.skips))  # bits 1 and 2 help
    assert table[table.all_skips].depth.tolist() == [1, 2, 3, 4]


def test_cross_dataset_agreement_and_shared_top_patterns():
    a, b = planted(name="a"), planted(rng_seed=1, name="b")
    ranks, shared = cross_dataset({"a": a, "b": b})
    assert ranks.spearman_rho.iloc[0] > 0.8
    assert shared and all(p.startswith("d") for p in shared)


def test_pareto_front_is_non_dominated():
    df = planted()
    front = pareto_front(df, "num_params")
    assert front.dice.is_monotonic_increasing and front.num_params.is_monotonic_increasing
    for r in front.itertuples():
        assert not ((df.num_params <= r.num_params) & (df.dice > r.dice)).any()


def test_build_report_writes_markdown_html_and_pictures(tmp_path):
    files = build_report({"a": planted(name="a"), "b": planted(rng_seed=2, name="b")}, tmp_path, "test report")
    text = (tmp_path / "report.md").read_text()
    assert "## a" in text and "## Across datasets" in text and "Depth x skips trade-off" in text
    assert "s3" in text and "Not significant on a: " in text
    assert (tmp_path / "report.html").read_text().count("<img") >= 6
    assert all(f.exists() and f.stat().st_size > 0 for f in files)


def test_importance_finds_the_dimension_that_moves_dice_and_reads_skip_bits_as_conditional():
    from analysis.importance import dimensions, param_importance

    rng = np.random.default_rng(0)
    n = 80
    depth = rng.integers(1, 4, n)
    skips = ["".join(str(b) for b in rng.integers(0, 2, d)) for d in depth]
    loss = rng.choice(["dice", "dice_bce"], n)
    lr = 10 ** rng.uniform(-4, -2, n)
    df = pd.DataFrame({"depth": depth, "skips": skips, "loss": loss, "lr": lr, "patch_size": 64.0,
                       "dice": 0.5 + 0.2 * (loss == "dice_bce") + rng.normal(0, 0.01, n)})
    for i in range(1, 6):
        df[f"s{i}"] = [float(s[i - 1]) if len(s) >= i else np.nan for s in skips]
    dims = dimensions(df)
    assert "patch_size" not in dims  # constant: not a searched dimension here
    assert set(dims.s3.unique()) == {"on", "off", "absent"}  # depth-1/2 nets have no s3
    table = param_importance(df)
    assert table.dimension.iloc[0] == "loss" and table.fanova.iloc[0] > 0.5
    assert abs(table.fanova.sum() - 1) < 1e-6


def test_a_full_space_report_ranks_dimensions_and_does_not_call_pooled_trials_replicates(tmp_path):
    rng = np.random.default_rng(1)
    df = planted(seeds=2).sample(frac=1.0, random_state=0).reset_index(drop=True)
    df["loss"] = rng.choice(["dice", "dice_bce"], len(df))
    df["patch_size"] = rng.choice([48.0, 64.0, 96.0], len(df))
    df["lr"] = 10 ** rng.uniform(-4, -2, len(df))
    df["dice"] += 0.15 * (df.loss == "dice_bce")  # the loss matters most here
    searches = pd.DataFrame([{"experiment": "e", "search": "full-x", "dataset": "planted", "space": "full", "max_epochs": "4", "patches_per_epoch": "96",
                              "base_channels": "8", "patch_size": "64", "lr": "0.003", "loss": "dice_bce", "repeats": "1", "folds": "", "seed": "0",
                              "precision": "auto", "status": "FINISHED", "best_trial": "", "best_val_dice": 0.8, "test_dice": 0.7, "test_iou": 0.5,
                              "test_auc": 0.9, "test_accuracy": 0.9, "test_dice_with_background": 0.9}])
    files = build_report({"planted": df}, tmp_path, "full", searches)
    text = (tmp_path / "report.md").read_text()
    assert "Which dimension matters" in text and "fanova" in text and "ped_anova" in text
    table = text.split("Which dimension matters")[1].split("![slices]")[0]
    assert [ln for ln in table.splitlines() if ln.startswith("| ") and "dimension" not in ln and "---" not in ln][0].startswith("| loss |")
    assert (tmp_path / "planted_slices.png").exists() and tmp_path / "planted_slices.png" in files
    assert "not replicates" in text and "split-half reliability" not in text.lower().split("## planted")[1].split("### every skip")[0]
    assert "| searched | searched | searched | searched |" in text  # width, patch, lr and loss of a full-space search
