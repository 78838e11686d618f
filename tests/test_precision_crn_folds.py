"""Trial precision, common random numbers across configurations, and k-fold splits."""

import numpy as np

import pytest
import torch

from datasets import load_dataset
from datasets.splits import with_fold
from datasets.types import DatasetError
from recipes.params import TrialParams
from tests.search_helpers import dry_run
from unet_core import UNet, resolve_precision, seeded_init


def test_bf16_on_a_cpu_without_native_bf16_falls_back_to_fp32_and_says_so():
    p = resolve_precision("bf16", "cpu", native_bf16=False)
    assert p.name == "fp32" and not p.bf16 and not p.channels_last
    assert "no native bf16" in p.note and "fp32" in p.note
    auto = resolve_precision("auto", "cpu", native_bf16=False)
    assert auto.name == "fp32" and auto.note == ""  # auto is allowed to choose without a complaint


def test_auto_means_bf16_and_channels_last_where_bf16_is_native():
    for requested in ("auto", "bf16"):
        p = resolve_precision(requested, "cpu", native_bf16=True)
        assert p.bf16 and p.channels_last and p.note == ""
    assert resolve_precision("fp32", "cpu", native_bf16=True).name == "fp32"
    assert resolve_precision("auto", "cuda").bf16
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp16")


def test_same_seed_gives_every_skip_pattern_the_same_weights_wherever_the_layers_agree():
    torch.manual_seed(123)  # the global stream before construction must not matter
    a = seeded_init(UNet(3, 1, depth=3, skips="111", base_channels=4), seed=7).state_dict()
    torch.manual_seed(999)
    b = seeded_init(UNet(3, 1, depth=3, skips="010", base_channels=4), seed=7).state_dict()
    encoder = [k for k in a if k.startswith(("encoders.", "bottleneck.", "ups."))]
    assert len(encoder) > 10 and all(torch.equal(a[k], b[k]) for k in encoder)
    assert torch.equal(a["decoders.1.0.weight"], b["decoders.1.0.weight"])  # level 2: skip on in both
    assert a["decoders.0.0.weight"].shape != b["decoders.0.0.weight"].shape  # level 3: on against off
    assert not torch.equal(a["encoders.0.0.weight"], seeded_init(UNet(3, 1, depth=3, base_channels=4), seed=8).state_dict()["encoders.0.0.weight"])
    deeper = seeded_init(UNet(3, 1, depth=4, base_channels=4), seed=7).state_dict()
    assert torch.equal(a["encoders.2.0.weight"], deeper["encoders.2.0.weight"])  # a deeper net shares its first levels


def test_seeded_init_leaves_the_global_random_stream_alone():
    model = UNet(1, 1, depth=2, base_channels=4)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    seeded_init(model, seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_folds_cover_every_training_image_once_and_keep_the_test_split():
    data = load_dataset("synthetic", n_train=10, n_test=2, size=64)
    pool = sorted(s.name for s in data.train + data.val)
    held_out = []
    for k in range(3):
        fold = with_fold(data, k, 3, seed=4)
        assert sorted(s.name for s in fold.train + fold.val) == pool
        assert not {s.name for s in fold.train} & {s.name for s in fold.val}
        assert [s.name for s in fold.test] == [s.name for s in data.test]
        held_out += [s.name for s in fold.val]
    assert sorted(held_out) == pool
    assert [[s.name for s in with_fold(data, k, 3, seed=5).val] for k in range(3)] != [[s.name for s in with_fold(data, k, 3, seed=4).val] for k in range(3)]
    with pytest.raises(DatasetError, match="only 10 training images"):
        with_fold(data, 0, 11, seed=0)


def test_trial_params_validate_fold_and_precision():
    assert TrialParams(depth=2, skips="11", fold=2, folds=3).run_name.endswith("-f2")
    with pytest.raises(ValueError, match="fold must be"):
        TrialParams(fold=3, folds=3)
    with pytest.raises(ValueError, match="unknown precision"):
        TrialParams(precision="half")


def test_ablation_dry_run_with_folds_lists_every_configuration_seed_and_fold(tmp_path):
    configs = dry_run(tmp_path, "--space", "ablation", "--depths", "1,2", "--folds", "3", "--repeats", "2", "--seed", "10")
    assert len(configs) == 6 * 2 * 3
    assert {(c["seed"], c["fold"]) for c in configs} == {(s, f) for s in (10, 11) for f in range(3)}
    assert all(c["folds"] == 3 and c["split_seed"] == 10 and c["precision"] == "auto" for c in configs)


def test_fingerprint_measures_structure_width_and_recommends_a_patch_that_holds_it():
    import numpy as np

    from datasets.fingerprint import recommend_patch, structure_width
    from datasets.types import Sample

    yy, xx = np.mgrid[:256, :256]
    disk = ((yy - 128) ** 2 + (xx - 128) ** 2 <= 40**2).astype(np.uint8)  # an 80-px lesion
    line = np.zeros((256, 256), np.uint8)
    line[:, 100:104] = 1  # a 4-px vessel
    image = np.zeros((1, 256, 256), np.float32)
    valid = np.ones((256, 256), bool)
    assert 60 <= structure_width([Sample("d", image, disk, valid)], 0) <= 80
    assert 3 <= structure_width([Sample("l", image, line, valid)], 0) <= 5
    assert recommend_patch(4, 584) == 64  # thin structures: the 64-px floor
    assert recommend_patch(45, 256) == 192  # three widths of 45 px
    assert recommend_patch(300, 256) == 256  # never larger than the images


def test_patch_size_auto_follows_the_fingerprint_and_a_number_overrides_it(tmp_path):
    def patches(*args):
        return {c["patch_size"] for c in dry_run(tmp_path, "--space", "ablation", "--depths", "2", *args)}

    assert patches() == {64}  # thin synthetic vessels
    assert patches("--dataset", "synthetic_lesions") == {96}  # blobs about 22 px wide
    assert patches("--dataset", "synthetic_lesions", "--patch-size", "48") == {48}


def test_prior_bias_makes_the_untrained_network_predict_the_class_frequencies():
    from unet_core import prior_bias_init

    model = UNet(3, 1, depth=2, base_channels=4)
    prior_bias_init(model.head, [0.875, 0.125])
    model.head.weight.data.zero_()  # isolate the bias: every pixel then predicts it
    probs = torch.sigmoid(model(torch.rand(1, 3, 32, 32)))
    assert torch.allclose(probs, torch.full_like(probs, 0.125), atol=1e-6)
    multi = UNet(3, 3, depth=2, base_channels=4)
    prior_bias_init(multi.head, [0.7, 0.2, 0.1])
    multi.head.weight.data.zero_()
    soft = torch.softmax(multi(torch.rand(1, 3, 32, 32)), dim=1)[0, :, 0, 0]
    assert torch.allclose(soft, torch.tensor([0.7, 0.2, 0.1]), atol=1e-6)
    with pytest.raises(ValueError, match="needs 3 class fractions"):
        prior_bias_init(multi.head, [0.5, 0.5])


def test_a_trial_starts_from_the_training_masks_class_frequencies():
    import recipes.train as trial

    data = load_dataset("synthetic", n_train=6, n_test=1, size=64)
    counts = with_fold(data, 0, 2, seed=0).class_counts()
    seen = {}

    class Stop(Exception):
        pass

    def report(metrics):
        raise Stop

    original = trial.Trainer.__init__

    def capture(self, model, *args, **kwargs):
        seen["bias"] = float(model.head.bias.detach())
        original(self, model, *args, **kwargs)

    trial.Trainer.__init__ = capture
    try:
        with pytest.raises(Stop):
            trial.train_and_report(TrialParams(depth=1, skips="1", patch_size=32, patch_stride=32, epochs=1, patches_per_epoch=8, fold=0, folds=2),
                                   data, report=report)
    finally:
        trial.Trainer.__init__ = original
    assert seen["bias"] == pytest.approx(float(np.log(counts[1] / counts[0])), rel=1e-5)


def test_each_fold_draws_its_own_initial_weights_and_configurations_on_one_fold_share_them():
    from recipes.model import initialised

    data = load_dataset("synthetic", n_train=6, n_test=1, size=64)

    def first_layer(skips: str, fold: int, folds: int = 3, seed: int = 0) -> torch.Tensor:
        params = TrialParams(depth=2, skips=skips, patch_size=64, fold=fold, folds=folds, seed=seed)
        return initialised(UNet(3, 1, depth=2, skips=skips, base_channels=4), params, data).state_dict()["encoders.0.0.weight"]

    assert torch.equal(first_layer("11", 1), first_layer("01", 1))  # paired on a fold
    assert not torch.equal(first_layer("11", 0), first_layer("11", 1))  # a fold's draw is its own, as a rerun's is
    assert not torch.equal(first_layer("11", 0), first_layer("11", 0, seed=1))
    seeds = {TrialParams(depth=1, skips="1", patch_size=64, fold=f, folds=3, seed=s).train_seed for f in range(3) for s in range(3)}
    assert len(seeds) == 9 and TrialParams(depth=1, skips="1", patch_size=64, seed=5).train_seed == 5  # no folds: the seed itself
