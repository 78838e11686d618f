"""Working resolution: a stored dataset's resized copy is a store of its own, uint8 stays uint8, and a model trained at
the reduced scale is scored at the original resolution."""
from __future__ import annotations

import numpy as np
import torch

from datasets import load_dataset
from datasets.resize import at_side, resize_sample
from datasets.types import Sample
from tests.helpers import layouts
from unet_core.inference import predict_image
from unet_core.rescale import scaled_shape, to_original


def test_a_stored_dataset_resizes_into_its_own_uint8_store_once_and_keeps_names_and_order(tmp_path):
    data = load_dataset("folder", layouts.write_folder(tmp_path / "f", n=6, size=64), seed=0)
    small = at_side(data.train, 32)
    assert [s.name for s in small] == [s.name for s in data.train]
    assert all(s.image.dtype == np.uint8 and s.image.shape[1:] == (32, 32) == s.mask.shape for s in small)
    assert type(small[0].image).__name__ == "StoredArray"  # memory-mapped from the resized store, not decoded in RAM
    again = at_side(data.train, 32)
    assert np.array_equal(np.asarray(again[0].image), np.asarray(small[0].image))
    assert at_side(data.train, 0) is data.train
    assert set(np.unique(np.asarray(small[0].mask))) <= set(np.unique(np.asarray(data.train[0].mask)))  # labels stay labels


def test_resizing_keeps_the_aspect_and_a_mask_is_resized_by_nearest_neighbour():
    assert scaled_shape(300, 600, 200) == (100, 200) and scaled_shape(300, 600, 0) == (300, 600)
    mask = np.zeros((40, 80), np.uint8)
    mask[:, 40:] = 1
    s = resize_sample(Sample("a", np.full((3, 40, 80), 200, np.uint8), mask, np.ones((40, 80), bool)), 20)
    assert s.mask.shape == (10, 20) and s.mask[:, :10].max() == 0 and s.mask[:, 10:].min() == 1 and s.image.dtype == np.uint8


class Bright(torch.nn.Module):
    """A 'model' whose foreground is where the image is bright."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return (x[:, :1] - 0.5) * 16


def test_a_model_at_a_working_resolution_predicts_the_original_size():
    image = torch.zeros(3, 90, 120)
    image[:, :, 60:] = 1.0  # bright right half
    probs = predict_image(Bright(), image, tile=64, overlap=0.5, side=40)
    assert probs.shape[-2:] == (90, 120)
    assert probs[-1, :, :55].max() < 0.05 and probs[-1, :, 65:].min() > 0.95  # the right half, upsampled back
    assert to_original(torch.ones(2, 5, 5) / 2, 10, 10).sum(0).allclose(torch.ones(10, 10))


def test_a_border_weight_map_keeps_its_fractions_when_resized():
    weight = np.full((40, 80), 0.64, np.float32)
    s = resize_sample(Sample("a", np.zeros((1, 40, 80), np.uint8), np.zeros((40, 80), np.uint8), np.ones((40, 80), bool), weight), 20)
    assert s.weight.dtype == np.float32 and np.allclose(s.weight, 0.64)
