"""Trial precision, common random numbers across configurations, and k-fold splits."""

import numpy as np
import pytest
import torch

from datasets import load_dataset
from datasets.splits import with_fold
from recipes.params import TrialParams
from unet_core import UNet


def test_trial_params_validate_fold_and_precision():
    assert TrialParams(depth=2, skips="11", fold=2, folds=3).run_name.endswith("-f2")
    with pytest.raises(ValueError, match="fold must be"):
        TrialParams(fold=3, folds=3)
    with pytest.raises(ValueError, match="unknown precision"):
        TrialParams(precision="half")


def test_a_trial_starts_from_the_training_masks_class_frequencies():
    import recipes.train as trial

    data = load_dataset("synthetic", n_train=6, n_test=1, size=64)
    counts = with_fold(data, 0, 2, seed=0).class_counts()
    seen = {}

    class Stop(Exception):
        pass

    def report(metrics):
        raise Stop

    original = trial.Trainer.__init__

    def capture(self, model, *args, **kwargs):
        seen["bias"] = float(model.head.bias.detach())
        original(self, model, *args, **kwargs)

    trial.Trainer.__init__ = capture
    try:
        with pytest.raises(Stop):
            trial.train_and_report(TrialParams(depth=1, skips="1", patch_size=32, patch_stride=32, epochs=1, patches_per_epoch=8, fold=0, folds=2),
                                   data, report=report)
    finally:
        trial.Trainer.__init__ = original
    assert seen["bias"] == pytest.approx(float(np.log(counts[1] / counts[0])), rel=1e-5)


def test_each_fold_draws_its_own_initial_weights_and_configurations_on_one_fold_share_them():
    from recipes.model import initialised

    data = load_dataset("synthetic", n_train=6, n_test=1, size=64)

    def first_layer(skips: str, fold: int, folds: int = 3, seed: int = 0) -> torch.Tensor:
        params = TrialParams(depth=2, skips=skips, patch_size=64, fold=fold, folds=folds, seed=seed)
        return initialised(UNet(3, 1, depth=2, skips=skips, base_channels=4), params, data).state_dict()["encoders.0.0.weight"]

    assert torch.equal(first_layer("11", 1), first_layer("01", 1))  # paired on a fold
    assert not torch.equal(first_layer("11", 0), first_layer("11", 1))  # a fold's draw is its own, as a rerun's is
    assert not torch.equal(first_layer("11", 0), first_layer("11", 0, seed=1))
    seeds = {TrialParams(depth=1, skips="1", patch_size=64, fold=f, folds=3, seed=s).train_seed for f in range(3) for s in range(3)}
    assert len(seeds) == 9 and TrialParams(depth=1, skips="1", patch_size=64, seed=5).train_seed == 5  # no folds: the seed itself


def test_a_trials_schedule_is_validated_and_reaches_its_trainer():
    from recipes.train import train_config
    from unet_core import resolve_precision

    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        TrialParams(schedule="step")
    fp32 = resolve_precision("fp32")
    assert train_config(TrialParams(schedule="cosine"), 10, 0, 1, fp32).schedule == "cosine"
    assert train_config(TrialParams(), 10, 0, 1, fp32).schedule == "plateau"
    assert "schedule" not in TrialParams().to_dict() and TrialParams(schedule="cosine").to_dict()["schedule"] == "cosine"
    assert TrialParams.from_config(TrialParams(schedule="cosine").to_dict()).schedule == "cosine"  # a checkpoint's params rebuild it
    phase = train_config(TrialParams(schedule="cosine"), 5, 0, 1, fp32, patience_epochs=12, start_epoch=7)  # a supernet's second phase
    assert (phase.schedule_epochs, phase.schedule_start) == (12, 7)


def test_a_trial_ends_where_its_time_limit_said_else_at_its_planned_epochs_saliency_rounds_included():
    from recipes.params import ends_at

    config = TrialParams(epochs=10, saliency_percentile=90, saliency_iterations=2, saliency_epochs=3).to_dict()
    assert ends_at(config, {"training_iteration": 4}, 99) == 16  # 10 + 2 rounds of 3
    assert ends_at(config, {"last_epoch": 7}, 99) == 7  # a budget's final round, its time limit ended at 7
    assert ends_at({"epochs": "many"}, None, 5) == 5  # no trial's config: the caller's default
