import pytest
import torch

from unet_core import UNet, all_patterns, parse_skips


def conv3x3(cin, cout, bn):
    return 9 * cin * cout + (2 * cout if bn else cout)


def block(cin, cout, bn):
    return conv3x3(cin, cout, bn) + conv3x3(cout, cout, bn)


def expected_params(in_ch, classes, depth, skips, base, upsample, bn):
    """Parameter count from the channel arithmetic, independent of the model code."""
    widths = [base * 2**i for i in range(depth + 1)]
    total, cin = 0, in_ch
    for level in range(depth):
        total += block(cin, widths[level], bn)
        cin = widths[level]
    total += block(widths[depth - 1], widths[depth], bn)
    for level in range(depth, 0, -1):
        up_in, out = widths[level], widths[level - 1]
        total += (4 * up_in * out + out) if upsample == "transpose" else (up_in * out + out)
        total += block(out * (2 if skips[level - 1] == "1" else 1), out, bn)
    return total + widths[0] * classes + classes


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_every_skip_variant_builds_runs_and_counts_its_parameters(depth):
    patterns = all_patterns(depth)
    assert len(set(patterns)) == 2**depth and all(len(p) == depth and set(p) <= {"0", "1"} for p in patterns)  # every pattern, once
    for pattern in patterns:
        model = UNet(in_channels=1, num_classes=1, depth=depth, skips=pattern, base_channels=4)
        x = torch.randn(2, 1, 64, 64, requires_grad=True)
        y = model(x)
        assert y.shape == (2, 1, 64, 64)
        y.mean().backward()
        assert x.grad is not None and model.head.weight.grad is not None
        assert model.skips == pattern
        n = sum(p.numel() for p in model.parameters())
        assert n == expected_params(1, 1, depth, pattern, 4, "transpose", True), pattern


@pytest.mark.parametrize("upsample", ["transpose", "bilinear", "nearest"])
@pytest.mark.parametrize("bn", [True, False])
def test_parameter_counts_for_other_options(upsample, bn):
    model = UNet(in_channels=3, num_classes=4, depth=3, skips="101", base_channels=8, upsample=upsample, batch_norm=bn)
    assert sum(p.numel() for p in model.parameters()) == expected_params(3, 4, 3, "101", 8, upsample, bn)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 4, 32, 32)


def test_classic_unet_size_matches_the_paper_widths():
    # 64 base channels, depth 4, all skips: the well-known ~31.0M parameter U-Net (with batch norm)
    model = UNet(in_channels=1, num_classes=1, depth=4, skips="1111", base_channels=64)
    assert sum(p.numel() for p in model.parameters()) == expected_params(1, 1, 4, "1111", 64, "transpose", True)
    assert 30e6 < sum(p.numel() for p in model.parameters()) < 32e6


def test_skip_off_shrinks_the_decoder_input():
    on = UNet(depth=2, skips="11", base_channels=8)
    off = UNet(depth=2, skips="01", base_channels=8)
    # decoders are stored deepest first: index 1 is level 1
    assert on.decoders[1][0].in_channels == 16 and off.decoders[1][0].in_channels == 8


def test_skips_accept_sequences_of_bools_and_ints():
    assert UNet(depth=3, skips=[True, False, True], base_channels=4).skips == "101"
    assert UNet(depth=2, skips=(0, 1), base_channels=4).skips == "01"
    assert UNet(depth=2, base_channels=4).skips == "11"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=4, skips="101"), "has 3 bits but depth is 4"),
        (dict(depth=0), "depth must be an integer from 1 to 5"),
        (dict(depth=6), "depth must be an integer from 1 to 5"),
        (dict(depth=2, skips="1x"), "string of 0/1"),
        (dict(depth=2, upsample="cubic"), "upsample mode must be one of"),
    ],
)
def test_bad_architecture_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNet(base_channels=4, **kwargs)


def test_input_not_divisible_by_two_to_the_depth_is_a_clear_error():
    model = UNet(depth=3, base_channels=4)
    with pytest.raises(ValueError, match="not divisible by 2\\*\\*depth = 8"):
        model(torch.randn(1, 1, 60, 64))


def test_depth_five_exists_for_large_inputs():
    model = UNet(depth=5, skips="10101", base_channels=2)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    assert parse_skips("10101", 5) == (True, False, True, False, True)
