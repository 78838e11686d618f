import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from datasets import PatchDataset
from datasets.synthetic import make_sample
from unet_core import (
    TrainConfig,
    Trainer,
    UNet,
    build_loss,
    evaluate_images,
    load_checkpoint,
    save_checkpoint,
)


def _samples(n=4, size=64):
    return [make_sample(100 + i, size) for i in range(n)]


def _validator(samples, tile=64):
    return lambda model: evaluate_images(model, [(s.image, s.mask, s.valid) for s in samples], num_classes=1, tile=tile)


def test_tiny_model_overfits_a_small_synthetic_batch():
    samples = _samples()
    model = UNet(1, 1, depth=2, skips="11", base_channels=8)
    cfg = TrainConfig(lr=1e-2, batch_size=4, epochs=60, plateau_patience=0, seed=0)
    trainer = Trainer(model, build_loss("dice_bce"), cfg, _validator(samples))
    result = trainer.fit(PatchDataset(samples, 64, 64))
    assert result.best_metrics["val_dice"] > 0.9, result.best_metrics["val_dice"]
    assert result.best_metrics["val_dice_with_background"] > result.best_metrics["val_dice"]


def test_epoch_callback_gets_metrics_and_early_stopping_stops():
    samples = _samples(2)
    seen = []
    flat = lambda model: {"dice": 0.5}  # noqa: E731 - never improves after the first epoch
    cfg = TrainConfig(epochs=20, early_stopping_patience=2, batch_size=2, plateau_patience=0)
    result = Trainer(UNet(1, 1, 1, base_channels=4), build_loss("dice"), cfg, flat, lambda e, m: seen.append((e, m))).fit(
        PatchDataset(samples, 64, 64)
    )
    assert result.stopped_early and result.epochs_run == 3
    assert [e for e, _ in seen] == [1, 2, 3]
    assert {"train_loss", "val_dice", "lr", "epoch_time_s"} <= set(seen[0][1])


def test_reduce_lr_on_plateau_cuts_the_learning_rate():
    cfg = TrainConfig(epochs=4, plateau_patience=1, plateau_factor=0.5, lr=1e-3, batch_size=2)
    result = Trainer(UNet(1, 1, 1, base_channels=4), build_loss("dice"), cfg, lambda m: {"dice": 0.5}).fit(PatchDataset(_samples(2), 64, 64))
    assert result.history[-1]["lr"] < 1e-3


def test_a_cosine_schedule_decays_the_learning_rate_to_one_percent_over_the_epochs_whatever_validation_says():
    cfg = TrainConfig(epochs=5, lr=1e-3, batch_size=2, schedule="cosine")
    result = Trainer(UNet(1, 1, 1, base_channels=4), build_loss("dice"), cfg, lambda m: {"dice": 0.5}).fit(PatchDataset(_samples(2), 64, 64))
    lrs = [h["lr"] for h in result.history]  # the rate each epoch trained at
    assert lrs[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[2] == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * 2 / 5)) / 2)
    with pytest.raises(ValueError, match="schedule must be one of plateau, cosine"):
        TrainConfig(schedule="linear")
    later = TrainConfig(epochs=2, lr=1e-3, batch_size=2, schedule="cosine", schedule_epochs=4, schedule_start=2)  # a training's 2nd phase
    result = Trainer(UNet(1, 1, 1, base_channels=4), build_loss("dice"), later, lambda m: {"dice": 0.5}).fit(PatchDataset(_samples(2), 64, 64))
    assert result.history[0]["lr"] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)  # half way through the cosine, not back at its top


class Ticking:
    """A clock that advances 1 s at every reading, `factor` s from its `slow_from`-th reading until its `slow_until`-th:
    a time-limited trainer reads it four times an epoch, so epochs take 4 s and slow down part way."""

    def __init__(self, slow_from=None, factor=1.0, slow_until=None):
        self.now, self.readings, self.slow_from, self.factor, self.slow_until = 0.0, 0, slow_from, factor, slow_until

    def __call__(self):
        self.readings += 1
        slow = self.slow_from is not None and self.slow_from < self.readings <= (self.slow_until or float("inf"))
        self.now += self.factor if slow else 1.0
        return self.now


def test_a_time_limited_training_ends_within_its_time_and_fits_its_cosine_to_the_epochs_that_fit():
    def fit(limit, clock):
        cfg = TrainConfig(epochs=10, lr=1e-3, batch_size=2, schedule="cosine", time_limit_s=limit)
        return Trainer(UNet(1, 1, 1, base_channels=4), build_loss("dice"), cfg, lambda m: {"dice": 0.5}, clock=clock).fit(PatchDataset(_samples(2), 64, 64))

    free = fit(None, Ticking())
    assert free.epochs_run == 10 and not free.time_limited and "last_epoch" not in free.history[-1]
    roomy = fit(1000.0, Ticking())  # the limit never binds: the same epochs and rates
    assert roomy.epochs_run == 10 and [h["lr"] for h in roomy.history] == pytest.approx([h["lr"] for h in free.history])
    assert {h["last_epoch"] for h in roomy.history} == {10}
    clock = Ticking(slow_from=12, factor=3.0)  # 4-s epochs, three times slower from the 3rd on
    slowed = fit(40.0, clock)
    assert slowed.time_limited and slowed.epochs_run < 10 and clock.now - 1 <= 40.0  # ended within its 40 s
    last = [h["last_epoch"] for h in slowed.history]
    assert last[0] == 10 and last[-1] == slowed.epochs_run and all(a >= b for a, b in zip(last, last[1:]))  # a lasting slowdown shortens it
    lrs = [h["lr"] for h in slowed.history]
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < free.history[slowed.epochs_run - 1]["lr"]  # a shorter decay
    hiccup = fit(44.0, Ticking(slow_from=9, factor=4.0, slow_until=13))  # the 3rd epoch alone takes 16 s, then 4-s epochs again
    assert [h["last_epoch"] for h in hiccup.history] == [10, 10] + [8] * 6  # 2 x 4 + 16 + 5 x 4 = 44 s: it costs only its own time
    with pytest.raises(ValueError, match="time_limit_s must be positive"):
        TrainConfig(time_limit_s=0)
    with pytest.raises(ValueError, match="one phase"):
        TrainConfig(time_limit_s=60, schedule="cosine", schedule_epochs=10, schedule_start=5)


def test_epochs_within_counts_the_epochs_that_fit_at_the_pace_so_far():
    from unet_core.schedules import epochs_within

    assert epochs_within(100.0, [10.0, 10.0, 10.0]) == 10  # 10-s epochs: 7 more fit
    assert epochs_within(100.0, [30.0, 30.0, 35.0]) == 3  # no further one: the epochs done
    assert epochs_within(100.0, [50.0, 70.0]) == 2  # already over: never fewer than done
    assert epochs_within(100.0, [10.0, 20.0, 20.0]) == 5  # slowed down to 20-s epochs: 2 more fit, not 5
    assert epochs_within(100.0, [10.0, 30.0, 10.0]) == 8  # one slow epoch: the others' pace goes on
    assert epochs_within(100.0, [10.0, 10.0, 60.0]) == 3  # the last one's pace would not fit another


def test_same_seed_same_result_whatever_the_outside_random_state():
    import random

    import numpy as np

    from unet_core import seed_everything

    def run(outside: int):
        samples = _samples(2)
        seed_everything(7)
        model = UNet(1, 1, 2, base_channels=4)  # the same initial weights in both runs
        torch.manual_seed(outside)  # then a different outside state in each run: the trainer must not draw from it
        np.random.seed(outside)
        random.seed(outside)
        cfg = TrainConfig(epochs=2, batch_size=2, seed=7, plateau_patience=0)
        return Trainer(model, build_loss("dice_bce"), cfg, _validator(samples)).fit(PatchDataset(samples, 32, 32)).history[-1]["train_loss"]

    assert run(123) == run(456)


def test_nan_loss_is_an_error_that_names_divergence():
    x = torch.full((2, 1, 16, 16), float("nan"))
    data = TensorDataset(x, torch.zeros(2, 16, 16, dtype=torch.long), torch.ones(2, 16, 16, dtype=torch.bool))
    cfg = TrainConfig(epochs=1, batch_size=2)
    with pytest.raises(FloatingPointError, match="diverged"):
        Trainer(UNet(1, 1, 1, base_channels=4), build_loss("bce"), cfg, lambda m: {"dice": 0}).fit(data)


def test_checkpoint_round_trip(tmp_path):
    model = UNet(1, 1, 2, skips="10", base_channels=4)
    save_checkpoint(tmp_path / "ck.pt", model.state_dict(), {"depth": 2, "skips": "10"})
    state, meta = load_checkpoint(tmp_path / "ck.pt")
    other = UNet(1, 1, meta["depth"], skips=meta["skips"], base_channels=4)
    other.load_state_dict(state)
    x = torch.randn(1, 1, 16, 16)
    model.eval(), other.eval()
    assert torch.equal(model(x), other(x))


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(optimizer="rmsprop"), "optimizer must be one of"), (dict(lr=-1), "lr must be a positive"), (dict(epochs=0), "epochs must be at least 1")],
)
def test_bad_train_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_channels_last_trains_like_default():
    samples = _samples(2)
    cfg = TrainConfig(epochs=1, batch_size=2, channels_last=True, plateau_patience=0)
    result = Trainer(UNet(1, 1, 2, base_channels=4), build_loss("dice"), cfg, _validator(samples)).fit(PatchDataset(samples, 32, 32))
    assert math.isfinite(result.history[0]["train_loss"]) and 0 <= result.best_metrics["val_dice"] <= 1
    assert np.isfinite(result.best_metrics["val_auc"])
