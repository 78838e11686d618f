"""Training for a wall-clock budget, and test-time augmentation over the 8 flips/rotations."""

import pytest
import torch
from torch.utils.data import DataLoader

from datasets import RandomPatchDataset, load_dataset
from unet_core import (
    BudgetConfig,
    UNet,
    build_loss,
    dihedral_predict,
    evaluate_images,
    sliding_window_predict,
    train_for,
)


def test_cosine_budget_warms_up_peaks_and_decays_to_the_floor():
    cfg = BudgetConfig(seconds=10, lr=1e-2, warmup_fraction=0.1, min_lr_fraction=0.01)
    assert cfg.lr_at(0.05) == pytest.approx(5e-3)
    assert cfg.lr_at(0.1) == pytest.approx(1e-2)
    assert cfg.lr_at(0.55) == pytest.approx((1e-2 + 1e-4) / 2)
    assert cfg.lr_at(1.0) == pytest.approx(1e-4)
    assert BudgetConfig(seconds=10, lr=1e-3, schedule="constant").lr_at(0.9) == 1e-3
    with pytest.raises(ValueError, match="schedule must be one of"):
        BudgetConfig(seconds=10, schedule="step")


class Ticks:
    """A clock that moves `step` seconds each time it is read (one read per training step): the budget in steps, on any machine."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_training_for_a_budget_stops_on_time_follows_the_schedule_and_learns():
    torch.manual_seed(0)
    data = load_dataset("synthetic", n_train=8, n_test=2, size=64)
    loader = DataLoader(RandomPatchDataset(data.train, 32, 64, seed=0), batch_size=8)
    model = UNet(1, 1, depth=2, skips="11", base_channels=8)
    before = evaluate_images(model, [(s.image, s.mask, s.valid) for s in data.test], 1, 64)["dice"]
    config = BudgetConfig(seconds=4.0, lr=1e-2)
    lrs = []
    step = torch.optim.Adam.step

    def recording(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    torch.optim.Adam.step = recording
    try:
        done = train_for(model, build_loss("dice_bce"), loader, config, clock=Ticks(0.0625))
    finally:
        torch.optim.Adam.step = step
    # the clock is read once before training and once before each step: 4 s of 1/16-s ticks is 63 steps, then it stops
    assert done["steps"] == 63 and done["seconds"] == pytest.approx(4.0)
    assert done["steps"] > 8  # the 8-batch loader was re-iterated until the budget ran out
    assert lrs == pytest.approx([config.lr_at(0.0625 * (i + 1) / 4.0) for i in range(63)])  # the cosine schedule over the budget spent
    after = evaluate_images(model, [(s.image, s.mask, s.valid) for s in data.test], 1, 64)["dice"]
    assert after > max(before, 0.5)


def test_bf16_channels_last_budget_computes_in_bf16_keeps_float32_weights_and_learns():
    torch.manual_seed(0)
    data = load_dataset("synthetic", n_train=8, n_test=2, size=64)
    loader = DataLoader(RandomPatchDataset(data.train, 32, 64, seed=0), batch_size=8)
    model = UNet(1, 1, depth=2, skips="11", base_channels=8)
    seen = set()
    hook = model.register_forward_hook(lambda module, args, out: seen.add((out.dtype, out.is_contiguous(memory_format=torch.channels_last))))
    done = train_for(model, build_loss("dice_bce"), loader, BudgetConfig(seconds=4.0, lr=1e-2, bf16=True, channels_last=True), clock=Ticks(0.0625))
    assert done["steps"] == 63  # the same steps on a CPU with native bf16 as on one that emulates it (about 6x slower a step)
    hook.remove()
    assert seen == {(torch.bfloat16, True)}  # every training forward ran in bf16 on NHWC tensors
    assert all(p.dtype == torch.float32 for p in model.parameters())
    after = evaluate_images(model, [(s.image, s.mask, s.valid) for s in data.test], 1, 64)["dice"]  # float32 inference
    assert after > 0.5


def test_eight_view_prediction_is_rotation_and_flip_equivariant():
    torch.manual_seed(0)
    model = UNet(1, 1, depth=2, skips="11", base_channels=4).eval()
    image = torch.rand(1, 40, 56)
    probs = dihedral_predict(model, image, 64)
    assert probs.shape == (1, 40, 56)
    rotated = dihedral_predict(model, torch.rot90(image, 1, dims=(-2, -1)).contiguous(), 64)
    assert torch.allclose(rotated, torch.rot90(probs, 1, dims=(-2, -1)), atol=1e-5)
    flipped = dihedral_predict(model, image.flip(-2), 64)
    assert torch.allclose(flipped, probs.flip(-2), atol=1e-5)
    plain = sliding_window_predict(model, torch.rot90(image, 1, dims=(-2, -1)).contiguous(), 64)
    assert not torch.allclose(plain, torch.rot90(sliding_window_predict(model, image, 64), 1, dims=(-2, -1)), atol=1e-5)
