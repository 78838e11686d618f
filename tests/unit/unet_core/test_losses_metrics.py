import math

import numpy as np
import pytest
import torch

from unet_core import SegmentationMetrics, build_loss
from unet_core.metrics import histogram_auc

# A 1x1x2x2 binary example: probabilities p and targets t.
P = torch.tensor([[0.8, 0.4], [0.6, 0.1]])
T = torch.tensor([[1, 0], [1, 1]])
LOGITS = torch.logit(P)[None, None]
TARGET = T[None]


def test_dice_loss_matches_hand_value():
    # 2*sum(p*t) / (sum p + sum t) = 2*(0.8+0.6+0.1) / (1.9 + 3) = 3.0/4.9
    assert build_loss("dice")(LOGITS, TARGET).item() == pytest.approx(1 - 3.0 / 4.9, abs=1e-5)


def test_bce_matches_hand_value():
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.6) + math.log(0.1)) / 4
    assert build_loss("bce")(LOGITS, TARGET).item() == pytest.approx(expected, abs=1e-5)


def test_dice_bce_is_the_sum():
    total = build_loss("dice_bce")(LOGITS, TARGET).item()
    assert total == pytest.approx(build_loss("dice")(LOGITS, TARGET).item() + build_loss("bce")(LOGITS, TARGET).item(), abs=1e-6)


def test_valid_mask_excludes_pixels():
    valid = torch.tensor([[[True, False], [True, False]]])
    # only pixels (0,0) p=.8 t=1 and (1,0) p=.6 t=1 count
    assert build_loss("bce")(LOGITS, TARGET, valid).item() == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2, abs=1e-5)
    assert build_loss("dice")(LOGITS, TARGET, valid).item() == pytest.approx(1 - 2 * 1.4 / (1.4 + 2), abs=1e-5)


def test_weighted_ce_uses_total_over_class_count():
    # 1 background pixel, 3 foreground: w0 = 4/1, w1 = 4/3
    w = {0: 4.0, 1: 4.0 / 3}
    losses = {(0, 0): -math.log(0.8), (0, 1): -math.log(0.6), (1, 0): -math.log(0.6), (1, 1): -math.log(0.1)}
    num = sum(w[int(T[i, j])] * losses[(i, j)] for i in range(2) for j in range(2))
    den = sum(w[int(T[i, j])] for i in range(2) for j in range(2))
    assert build_loss("weighted_ce")(LOGITS, TARGET).item() == pytest.approx(num / den, abs=1e-5)
    assert build_loss("weighted_ce", class_weights=[4.0, 4.0 / 3])(LOGITS, TARGET).item() == pytest.approx(num / den, abs=1e-5)


def test_focal_matches_hand_value():
    pt = torch.tensor([0.8, 0.6, 0.6, 0.1])
    expected = float(((1 - pt) ** 2 * -torch.log(pt)).mean())
    assert build_loss("focal")(LOGITS, TARGET).item() == pytest.approx(expected, abs=1e-5)


def test_generalized_dice_matches_hand_value():
    p1, t1 = P.flatten(), T.flatten().float()
    p0, t0 = 1 - p1, 1 - t1
    w0, w1 = 1 / t0.sum() ** 2, 1 / t1.sum() ** 2
    num = 2 * (w0 * (p0 * t0).sum() + w1 * (p1 * t1).sum())
    den = w0 * (p0 + t0).sum() + w1 * (p1 + t1).sum()
    assert build_loss("generalized_dice")(LOGITS, TARGET).item() == pytest.approx(float(1 - num / den), abs=1e-5)


def test_multiclass_ce_and_dice():
    logits = torch.tensor([[[[2.0]], [[0.0]], [[-1.0]]]])  # 1 pixel, 3 classes
    target = torch.tensor([[[1]]])
    p = torch.softmax(logits[0, :, 0, 0], 0)
    assert build_loss("ce")(logits, target).item() == pytest.approx(float(-torch.log(p[1])), abs=1e-5)
    dice = [(2 * p[c] * (c == 1)) / (p[c] + (c == 1)) for c in range(3)]
    assert build_loss("dice")(logits, target).item() == pytest.approx(float(1 - sum(dice) / 3), abs=1e-5)


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        build_loss("l2")


def test_metrics_from_confusion_counts_match_hand_values():
    m = SegmentationMetrics(num_classes=1)
    probs = torch.tensor([[[0.9, 0.8, 0.2, 0.7]]])  # (K=1, H=1, W=4): predicted 1,1,0,1
    target = torch.tensor([[1, 0, 1, 1]])
    m.update(probs, target)
    out = m.compute()
    tp, fp, fn, tn = 2, 1, 1, 0
    assert out["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert out["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert out["precision"] == pytest.approx(tp / (tp + fp))
    assert out["recall"] == pytest.approx(tp / (tp + fn))
    assert out["specificity"] == pytest.approx(0.0)
    assert out["accuracy"] == pytest.approx(0.5)
    # AUC: positives scores .9,.2,.7 vs negative .8 -> pairs won: .9>.8 only -> 1/3
    assert out["auc"] == pytest.approx(1 / 3, abs=1e-3)


def test_metrics_accumulate_over_the_split_not_per_batch():
    m = SegmentationMetrics(num_classes=1)
    # batch 1: one big perfect image; batch 2: one tiny all-wrong image
    m.update(torch.ones(1, 10, 10), torch.ones(10, 10, dtype=torch.long))
    m.update(torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.long))
    assert m.compute()["dice"] == pytest.approx(2 * 100 / (2 * 100 + 1))  # not (1 + 0) / 2


def test_metrics_ignore_pixels_outside_the_valid_mask():
    m = SegmentationMetrics(num_classes=1)
    target = torch.tensor([[1, 0], [0, 0]])
    probs = torch.tensor([[[0.9, 0.9], [0.1, 0.1]]])
    valid = torch.tensor([[True, False], [True, True]])
    m.update(probs, target, valid)
    assert m.compute()["dice"] == pytest.approx(1.0)


def test_all_pixel_dice_hides_a_poor_model_on_thin_structures():
    # a 1-pixel-wide line in a 64x64 image; the model finds a third of it
    target = torch.zeros(64, 64, dtype=torch.long)
    target[32, :] = 1
    probs = torch.zeros(1, 64, 64)
    probs[0, 32, :21] = 1.0
    m = SegmentationMetrics(num_classes=1)
    m.update(probs, target)
    out = m.compute()
    assert out["dice"] < 0.55
    assert out["dice_with_background"] > 0.74
    assert out["dice_with_background"] - out["dice"] > 0.24


def test_multiclass_foreground_mean_leaves_out_background():
    m = SegmentationMetrics(num_classes=3, background=0)
    target = torch.tensor([[0, 1, 2, 2]])
    probs = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2, 1]]), 3).permute(2, 0, 1).float()
    m.update(probs, target)
    out = m.compute()
    assert out["dice_c1"] == pytest.approx(2 / 3) and out["dice_c2"] == pytest.approx(2 / 3)
    assert out["dice"] == pytest.approx(2 / 3)
    assert out["dice_with_background"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_histogram_auc_agrees_with_the_pairwise_definition():
    rng = np.random.default_rng(0)
    pos, neg = rng.beta(5, 2, 300), rng.beta(2, 5, 400)
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (300 * 400)
    m = SegmentationMetrics(num_classes=1)
    probs = torch.tensor(np.concatenate([pos, neg]), dtype=torch.float32)[None, None]
    target = torch.tensor(np.r_[np.ones(300), np.zeros(400)], dtype=torch.long)[None]
    m.update(probs, target)
    assert m.compute()["auc"] == pytest.approx(pairwise, abs=2e-3)
    assert math.isnan(histogram_auc(np.zeros(4), np.ones(4)))


def test_each_images_dice_is_read_from_its_own_counts_as_the_split_accumulates_them():
    split = SegmentationMetrics(num_classes=3, background=0)
    images = [(torch.eye(3)[torch.tensor([[0, 1], [2, 2]])].permute(2, 0, 1), torch.tensor([[0, 1], [2, 1]])),
              (torch.eye(3)[torch.tensor([[1, 1], [0, 0]])].permute(2, 0, 1), torch.tensor([[1, 2], [0, 0]]))]
    per_image = [split.dice_of(split.update(probs, target)) for probs, target in images]
    for (probs, target), dice in zip(images, per_image):
        alone = SegmentationMetrics(num_classes=3, background=0, auc=False)
        alone.update(probs, target)
        assert dice == pytest.approx(alone.compute()["dice"])  # the image scored as its own split
    assert per_image[0] != per_image[1] and split.compute()["dice"] != pytest.approx(np.mean(per_image))  # the split is not their mean
