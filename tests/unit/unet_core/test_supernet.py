"""The skip supernet: each pattern computes exactly its stand-alone U-Net, every pattern is trained, and its
estimates rank configurations (analysis.supernet)."""
import pandas as pd
import pytest
import torch

from analysis.supernet import rank_agreement, top_k_pick, top_k_regret
from unet_core import UNet, all_patterns, seeded_init
from unet_core.supernet import PatternSampler, SkipSupernet, recalibrate_batch_norm


def trained_a_little(net, steps=3, size=32):
    """A few SGD steps with patterns drawn per batch, so weights and batch-norm statistics are not the initial ones."""
    net.sampler = PatternSampler(net.patterns, "fair", seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(4, net.in_channels, size, size)).mean().backward()
        opt.step()
    net.sampler = None
    return net.eval()


@pytest.mark.parametrize("block,upsample,padding", [("plain", "transpose", "same"), ("attention", "bilinear", "same"),
                                                    ("plain", "unpool", "same"), ("plain", "transpose", "valid")])
def test_a_masked_pattern_computes_what_the_standalone_unet_with_copied_weights_computes(block, upsample, padding):
    net = trained_a_little(seeded_init(SkipSupernet(depth=3, in_channels=2, base_channels=4, block=block, upsample=upsample, padding=padding), 3),
                           size=92 if padding == "valid" else 32)
    x = torch.randn(2, 2, 92 if padding == "valid" else 32, 92 if padding == "valid" else 32)
    outputs = {}
    for pattern in all_patterns(3):
        standalone = net.set_pattern(pattern).to_standalone()
        assert isinstance(standalone, UNet) and standalone.skips == pattern and not isinstance(standalone, SkipSupernet)
        # the stand-alone net has the channel counts of a U-Net built with that pattern: nothing of the supernet's left over
        assert sum(p.numel() for p in standalone.parameters()) == sum(p.numel() for p in UNet(
            in_channels=2, depth=3, skips=pattern, base_channels=4, block=block, upsample=upsample, padding=padding).parameters())
        with torch.no_grad():
            torch.testing.assert_close(net(x), standalone.eval()(x), rtol=1e-5, atol=1e-5)
            outputs[pattern] = net(x)
    # the patterns really differ: the mask is not a no-op
    assert not torch.allclose(outputs["000"], outputs["111"])


def test_a_residual_supernet_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="residual decoder's shortcut"):
        SkipSupernet(depth=2, block="residual")


@pytest.mark.parametrize("rule", ["fair", "uniform"])
def test_every_pattern_is_sampled_and_fair_sampling_gives_each_the_same_batches(rule):
    patterns = all_patterns(4)
    draw = PatternSampler(patterns, rule, seed=1)
    seen = [draw() for _ in range(16 * 20)]
    assert set(seen) == set(patterns)
    if rule == "fair":
        assert set(draw.counts.values()) == {20}
        assert seen[:16] != seen[16:32]  # a fresh order each cycle
    assert PatternSampler(patterns, rule, seed=1)() == seen[0]  # reproducible from the seed


def test_training_with_a_sampler_updates_the_decoder_weights_of_every_skip():
    net = seeded_init(SkipSupernet(depth=2, in_channels=1, base_channels=4), 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trained_a_little(net, steps=8)
    after = net.state_dict()
    for level in range(2):  # the skip channels of each decoder's first convolution learned (their skip was on in some batches)
        key = f"decoders.{level}.0.weight"
        width = after[key].shape[1] // 2
        assert not torch.equal(before[key][:, :width], after[key][:, :width]), key


def test_recalibration_gives_the_batch_norm_statistics_of_the_pattern_alone():
    net = trained_a_little(seeded_init(SkipSupernet(depth=2, in_channels=1, base_channels=4), 0), steps=4)
    batches = [torch.randn(4, 1, 32, 32) for _ in range(3)]
    net.set_pattern("01")
    assert recalibrate_batch_norm(net, batches) == 3
    assert not net.training
    # the same as one pass in training mode over all the batches at once (a cumulative mean of the per-batch means)
    ref = net.set_pattern("01").to_standalone()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    ref.train()
    with torch.no_grad():
        for b in batches:
            ref(b)
    ref_means = [m.running_mean for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    net_means = [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for a, b in zip(net_means, ref_means):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(m.momentum == 0.1 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))  # restored


def test_rank_agreement_and_top_k_regret_by_hand():
    truth = pd.Series({"d1-s0": 0.60, "d1-s1": 0.70, "d2-s00": 0.50, "d2-s01": 0.65, "d2-s10": 0.72, "d2-s11": 0.80})
    assert rank_agreement(truth, truth)["spearman"] == pytest.approx(1.0)
    flipped = truth.copy()
    flipped[["d2-s10", "d2-s11"]] = [0.80, 0.72]  # one swapped pair of 15
    agreement = rank_agreement(flipped, truth)
    assert agreement["kendall"] == pytest.approx((14 - 1) / 15)
    assert agreement["spearman"] == pytest.approx(1 - 6 * 2 / (6 * 35))
    # within depth: depth 1 has too few configurations to rank; depth 2's 4 have one swapped pair of 6
    assert agreement["kendall_within_depth"] == pytest.approx((5 - 1) / 6)
    # the top 2 by estimate are d2-s10 and d2-s11; retrained stand-alone, the better (d2-s11) is kept: regret 0,
    # while the supernet's own pick (top 1) loses the true best by 0.08
    assert top_k_pick(flipped, truth, 2) == (["d2-s10", "d2-s11"], "d2-s11")
    assert top_k_regret(flipped, truth, truth, 2)["regret"] == 0.0
    assert top_k_regret(flipped, truth, truth, 1)["regret"] == pytest.approx(0.08)
