import numpy as np
import pytest

from datasets import PatchDataset, Sample
from datasets.synthetic import make_sample
from unet_core import (
    TrainConfig,
    Trainer,
    UNet,
    build_loss,
    evaluate_images,
    keep_mask,
    saliency_loop,
)


@pytest.mark.parametrize("percentile", [50, 75, 90, 99])
def test_keep_mask_keeps_the_requested_fraction(percentile):
    relevance = np.random.default_rng(percentile).random((40, 50))
    keep = keep_mask(relevance, percentile)
    assert keep.sum() == round(40 * 50 * (1 - percentile / 100))
    assert relevance[keep].min() >= relevance[~keep].max()  # the most relevant pixels


def test_keep_mask_with_ties_still_keeps_the_fraction():
    assert keep_mask(np.zeros((10, 10)), 90).sum() == 10
    assert keep_mask(np.zeros((10, 10)), 0).all()
    with pytest.raises(ValueError, match="percentile must be in"):
        keep_mask(np.zeros((2, 2)), 100)


def test_saliency_loop_masks_training_images_per_image_and_never_validation():
    train = [make_sample(i, 32) for i in range(3)]
    val = [make_sample(100 + i, 32) for i in range(2)]
    val_before = [s.image.copy() for s in val]
    model = UNet(1, 1, 2, base_channels=4)
    seen = []

    def train_once(keeps, iteration):
        samples = [Sample(s.name, s.image, s.mask, s.valid, keep=k) for s, k in zip(train, keeps or [None] * len(train))]
        seen.append([np.concatenate([PatchDataset([s], 32, 32)[0][0].numpy()]) for s in samples])  # the image as training reads it
        trainer = Trainer(model, build_loss("dice_bce"), TrainConfig(epochs=1, batch_size=4, plateau_patience=0),
                          lambda m: evaluate_images(m, [(s.image, s.mask, s.valid) for s in val], 1, 32))
        return trainer.fit(PatchDataset(samples, 32, 32), epoch_offset=iteration).best_metrics

    reported = []
    results = saliency_loop([s.image for s in train], train_once, model, percentile=90, iterations=2, tile=32,
                            on_iteration=lambda it, m, keeps: reported.append((it, [np.unpackbits(k, axis=-1, count=32).mean() for k in keeps])))
    assert len(results) == 3 and [it for it, _ in reported] == [0, 1, 2]
    assert all(np.array_equal(a, b.image) for a, b in zip(seen[0], train))  # iteration 0: original images
    for images in seen[1:]:
        for im in images:
            kept = (im != 0).mean()
            assert kept <= 0.1 + 1e-9 and kept > 0.05  # about 10% of each image survives (a kept pixel may be 0)
    assert all(np.array_equal(a, b.image) for a, b in zip(val_before, val))
    assert all(abs(f - 0.1) < 1e-3 for _, fracs in reported[1:] for f in fracs)


def test_saliency_off_trains_once():
    calls = []
    saliency_loop([np.zeros((1, 8, 8), np.float32)], lambda keeps, it: calls.append(it) or {}, UNet(1, 1, 1, base_channels=2), 0, 3, 8)
    saliency_loop([np.zeros((1, 8, 8), np.float32)], lambda keeps, it: calls.append(it) or {}, UNet(1, 1, 1, base_channels=2), 90, 0, 8)
    assert calls == [0, 0]
