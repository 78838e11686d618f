"""The seeds' variants: residual and attention blocks, unpooling, valid padding with overlap-tile, border weights."""

import numpy as np
import pytest
import torch

from datasets.patching import PatchDataset
from datasets.types import Sample
from datasets.weights import border_weight_map
from recipes.params import TrialParams
from tests.helpers.search import dry_run
from unet_core import UNet, all_patterns, sliding_window_predict
from unet_core.layers import BLOCK_TYPES, UPSAMPLE_MODES, AttentionGate

COMBOS = [(b, u, p) for b in BLOCK_TYPES for u in UPSAMPLE_MODES for p in ("same", "valid") if not (u == "unpool" and p == "valid")]


@pytest.mark.parametrize("block, upsample, padding", COMBOS)
def test_every_block_and_upsampling_builds_for_every_depth_and_skip_pattern(block, upsample, padding):
    torch.manual_seed(0)
    for depth in (1, 2, 3, 4):
        for skips in all_patterns(depth):
            model = UNet(1, 1, depth=depth, skips=skips, base_channels=2, block=block, upsample=upsample, padding=padding).eval()
            size = 32 if padding == "same" else model.valid_input_size(8)
            with torch.no_grad():
                out = model(torch.randn(1, 1, size, size))
            expected = size if padding == "same" else model.output_size(size)
            assert out.shape == (1, 1, expected, expected), (depth, skips)
            if padding == "valid":
                assert expected < size  # the documented smaller output
            assert len(model.gates) == (skips.count("1") if block == "attention" else 0)


def test_valid_padding_reproduces_the_papers_sizes_and_rejects_sizes_that_do_not_fit():
    model = UNet(1, 2, depth=4, base_channels=2, padding="valid")
    assert model.output_size(572) == 388 and model.valid_input_size(388) == 572
    with pytest.raises(ValueError, match="the next size that does is 572"):
        model(torch.zeros(1, 1, 570, 570))
    with pytest.raises(ValueError, match="unpool up-sampling needs padding='same'"):
        UNet(1, 1, depth=2, upsample="unpool", padding="valid")


def test_residual_blocks_train_backward_with_a_shortcut():
    model = UNet(1, 1, depth=2, base_channels=4, block="residual")
    assert any(type(m).__name__ == "ResidualBlock" for m in model.modules())
    model(torch.randn(2, 1, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_attention_gate_scales_its_input_by_a_map_in_zero_one():
    torch.manual_seed(0)
    gate = AttentionGate(skip_channels=4, gate_channels=8)
    x, g = torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8)
    alpha = gate.attention(x, g)
    assert alpha.shape == (2, 1, 16, 16) and alpha.min() >= 0 and alpha.max() <= 1
    assert torch.allclose(gate(x, g), x * alpha)
    assert not torch.allclose(alpha, gate.attention(x, torch.randn(2, 8, 8, 8)))  # the coarser level decides the weighting


def test_unpool_puts_values_back_where_the_encoder_pooled_them():
    model = UNet(1, 1, depth=1, skips="0", base_channels=2, upsample="unpool").eval()
    x = torch.randn(1, 1, 16, 16)
    features = model.encoders[0](x)
    _, indices = model.pool(features)
    up = model.ups[0](model.bottleneck(model.pool(features)[0]), indices)
    nonzero = (up != 0).float().view(2, -1).sum(1)
    assert up.shape == features.shape and (nonzero <= 64).all()  # one value per 2x2 window, at the encoder's argmax


def test_border_weight_map_of_two_touching_squares_peaks_on_the_gap():
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 8:28] = 1
    mask[10:30, 30:50] = 1  # a 2-pixel gap at columns 28-29
    w = border_weight_map(mask, object_class=1, class_weights=np.array([1.0, 1.0], np.float32), w0=10, sigma=5)
    gap = w[10:30, 28:30]
    assert np.isclose(w.max(), gap.max()) and gap.min() > 9  # w0 * exp(-(1 + 2)^2 / 50) + 1 = 9.35
    assert np.allclose(w[20, 10:26], 1.0) and np.allclose(w[36:, 54:], 1.0, atol=1e-3)  # inside objects and far away: w_c alone
    lone = border_weight_map(mask * 0 + (np.arange(60)[None, :] < 20).astype(np.uint8), 1, np.array([1.0, 2.0], np.float32))
    assert set(np.unique(lone)) == {1.0, 2.0}  # one object: class weights only


def test_valid_padding_overlap_tile_prediction_has_the_image_size_and_no_seams():
    torch.manual_seed(0)
    for depth in (1, 2, 3):
        model = UNet(1, 1, depth=depth, base_channels=2, padding="valid").eval()
        tile = model.valid_input_size(24)
        for h, w in ((101, 67), (30, 20), (584, 565)):
            probs = sliding_window_predict(model, torch.rand(1, h, w), tile, overlap=0.25)
            assert probs.shape == (1, h, w) and torch.isfinite(probs).all()
        # nearest up-sampling maps a constant image to a constant (a 2x2 transposed convolution leaves a period-2 pattern)
        flat = UNet(1, 1, depth=depth, base_channels=2, padding="valid", upsample="nearest").eval()
        const = sliding_window_predict(flat, torch.full((1, 90, 90), 0.5), tile, overlap=0.5)
        assert float(const.std()) < 1e-5  # so any variation would be a seam between tiles or a border artefact


def test_valid_padding_patches_make_every_pixel_a_training_target():
    sample = Sample("a", np.random.rand(1, 50, 70).astype(np.float32), (np.random.rand(50, 70) > 0.5).astype(np.int64), np.ones((50, 70), bool))
    model = UNet(1, 1, depth=2, base_channels=2, padding="valid")
    size = model.valid_input_size(16)
    out = model.output_size(size)
    ds = PatchDataset([sample], size, out, margin=(size - out) // 2)
    covered = np.zeros((50, 70), int)
    for _, y, x in ds.index:
        covered[y : y + out, x : x + out] += 1
    assert (covered > 0).all() and ds[0][0].shape == (1, size, size)


def test_weight_maps_ride_through_patches_in_the_valid_slot():
    mask = np.zeros((32, 32), np.int64)
    weight = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    s = Sample("a", np.zeros((1, 32, 32), np.float32), mask, np.ones((32, 32), bool), weight)
    _, _, valid = PatchDataset([s], 16, 16)[1]
    assert valid.dtype == torch.float32 and torch.equal(valid, torch.from_numpy(weight[0:16, 16:32]))


def test_trial_params_name_and_check_the_new_dimensions():
    p = TrialParams(depth=2, skips="10", block="residual", padding="valid", patch_size=50)
    assert p.run_name == "d2-s10-dice_bce-p50-residual-valid"  # valid padding: any output window size
    with pytest.raises(ValueError, match="unpool up-sampling needs same padding"):
        TrialParams(upsample="unpool", padding="valid")
    with pytest.raises(ValueError, match="unknown block"):
        TrialParams(block="dense")


def test_full_space_offers_blocks_padding_unpool_and_border_weights_only_with_objects(tmp_path):
    def loss_choices(dataset):
        dims = {d.get("name"): d for d in dry_run(tmp_path, "--space", "full", "--dataset", dataset)}
        assert dims["block"]["choices"] == ["plain", "residual", "attention"] and "unpool" in dims["upsample"]["choices"]
        assert dims["padding"]["choices"] == ["same", "valid"]
        return dims["loss"]["choices"]

    assert "border_ce" in loss_choices("synthetic_lesions")
    assert "border_ce" not in loss_choices("synthetic")
