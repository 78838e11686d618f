"""Trial precision, common random numbers across configurations, and k-fold splits."""


import pytest
import torch

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


