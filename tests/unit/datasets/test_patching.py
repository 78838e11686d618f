import numpy as np
import pytest
import torch
from torch import nn

from datasets import (
    PatchDataset,
    RandomPatchDataset,
    Sample,
    build_augmentation,
    extract_patches,
    stitch_patches,
)
from datasets.synthetic import make_sample
from unet_core import UNet, sliding_window_predict


@pytest.mark.parametrize("size, stride", [(16, 16), (16, 8), (24, 10), (32, 5)])
def test_patch_then_stitch_reproduces_the_image_exactly(size, stride):
    image = np.random.default_rng(0).random((3, 50, 37)).astype(np.float32)
    patches, positions = extract_patches(image, size, stride)
    assert patches.shape[1:] == (3, size, size)
    assert np.array_equal(stitch_patches(patches, positions, 50, 37), image)


def test_patch_dataset_covers_every_valid_pixel_and_skips_empty_patches():
    s = make_sample(0, 64)
    ds = PatchDataset([s], 8, 8)
    covered = np.zeros((64, 64), bool)
    for i, y, x in ds.index:
        covered[y : y + 8, x : x + 8] = True
    assert covered[s.valid].all()
    assert len(ds) < 64  # corner patches outside the circular field of view are skipped
    image, mask, valid = ds[0]
    assert image.shape == (1, 8, 8) and mask.dtype == torch.int64 and valid.dtype == torch.bool


def test_small_images_are_padded_to_the_patch():
    s = make_sample(0, 32)
    ds = PatchDataset([s], 48, 48)
    image, mask, valid = ds[0]
    assert image.shape == (1, 48, 48) and valid[32:].sum() == 0  # padding never counts


def test_random_patches_are_seeded():
    s = [make_sample(i, 64) for i in range(2)]
    a = [RandomPatchDataset(s, 32, 5, seed=3)[i][0] for i in range(5)]
    b = [RandomPatchDataset(s, 32, 5, seed=3)[i][0] for i in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


class Constant(nn.Module):
    """Returns the same logit everywhere: any seam in blending would show as a non-constant output."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full((x.shape[0], 1, *x.shape[-2:]), 0.3) + 0 * self.p


def test_overlap_blending_has_no_seams_on_a_constant_image():
    probs = sliding_window_predict(Constant(), torch.full((1, 100, 77), 0.5), tile=32, overlap=0.5)
    assert probs.shape == (1, 100, 77)
    assert torch.allclose(probs, torch.full_like(probs, torch.sigmoid(torch.tensor(0.3)).item()), atol=1e-6)


def test_overlap_tile_equals_whole_image_prediction_for_a_pointwise_model():
    model = nn.Sequential(nn.Conv2d(1, 1, 1))
    image = torch.rand(1, 70, 90)
    expected = torch.sigmoid(model(image[None]))[0]
    assert torch.allclose(sliding_window_predict(model, image, tile=32, overlap=0.25), expected, atol=1e-5)


def test_overlap_tile_predicts_images_smaller_than_a_tile_and_of_odd_size():
    probs = sliding_window_predict(UNet(1, 1, 3, base_channels=4), torch.rand(1, 20, 29), tile=32)
    assert probs.shape == (1, 20, 29)


@pytest.mark.parametrize("preset", ["flips", "light", "strong"])
def test_augmentation_moves_mask_and_valid_with_the_image(preset):
    image = np.zeros((1, 32, 32), np.float32)
    image[0, :8, :4] = 1.0
    mask = (image[0] > 0.5).astype(np.uint8)
    valid = image[0] > 0.5
    aug = build_augmentation(preset, seed=0)
    for _ in range(10):
        im, m, v, _ = aug(image, mask, valid)
        assert im.shape == (1, 32, 32) and m.shape == (32, 32) and v.dtype == bool
        if preset in ("flips", "light"):  # geometric only: the mask still sits exactly under the bright pixels
            assert np.array_equal(im[0] > 0.5, m.astype(bool)) and np.array_equal(m.astype(bool), v)


def test_flips_never_turn_the_image_a_quarter():
    image = np.zeros((1, 32, 32), np.float32)
    image[0, :8, :4] = 1.0  # 8 rows by 4 columns: a quarter turn makes it 4 by 8
    shapes = {}
    for preset in ("flips", "light"):
        aug = build_augmentation(preset, seed=0)
        rows, cols = zip(*(np.nonzero(aug(image, image[0].astype(np.uint8), image[0] > 0.5)[0][0]) for _ in range(20)))
        shapes[preset] = {(len(np.unique(r)), len(np.unique(c))) for r, c in zip(rows, cols)}
    assert shapes["flips"] == {(8, 4)} and (4, 8) in shapes["light"]


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown augmentation preset 'wild'"):
        build_augmentation("wild")


def test_strong_preset_changes_rgb_images():
    aug = build_augmentation("strong", seed=1)
    s = Sample("x", np.random.default_rng(0).random((3, 32, 32)).astype(np.float32), np.zeros((32, 32), np.uint8), np.ones((32, 32), bool))
    outs = [aug(s.image, s.mask, s.valid)[0] for _ in range(5)]
    assert any(not np.allclose(o, s.image) for o in outs) and all(o.shape == (3, 32, 32) for o in outs)
