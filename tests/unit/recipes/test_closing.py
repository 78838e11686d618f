"""A final-round training closes on the whole validation split: it keeps its last weights or its best epoch's,
whichever scores better there, and that becomes the training's best."""

import pytest
import torch

from datasets import load_dataset
from recipes import RecipeSettings
from recipes.params import TrialParams
from recipes.validation import closing_choice


class Marked:
    """A validator whose Dice is the model's one weight: the weights it scores are visible in the score."""

    def __init__(self):
        self.last_probs, self.image_dice = [], {}

    def __call__(self, model):
        value = float(model.weight.detach().flatten()[0])
        self.last_probs, self.image_dice = [value], {"a": value, "b": value / 2}
        return {"dice": value, "iou": value / 2}


@pytest.mark.parametrize("last, best_epoch, kept", [(0.8, 0.6, "last"), (0.5, 0.7, "best_epoch"), (0.6, 0.6, "last")])
def test_the_closing_keeps_the_weights_that_score_better_on_the_whole_split(last, best_epoch, kept):
    model = torch.nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(last)
    validator = Marked()
    chosen, state, scores, pair = closing_choice(model, {"weight": torch.full((1, 1), best_epoch)}, validator)
    assert chosen == kept
    assert float(state["weight"]) == pytest.approx(max(last, best_epoch)) and scores["dice"] == pytest.approx(max(last, best_epoch))
    assert pair == pytest.approx({"closing_val_dice_last": last, "closing_val_dice_best_epoch": best_epoch})
    assert validator.last_probs == pytest.approx([max(last, best_epoch)])  # the picture is of the kept weights
    assert validator.image_dice["a"] == pytest.approx(max(last, best_epoch))  # and so are the per-image scores


def test_a_training_whose_best_epoch_is_its_last_is_scored_once():
    model = torch.nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(0.7)
    calls = []
    validator = Marked()
    counting = lambda m: calls.append(1) or validator(m)  # noqa: E731
    counting.last_probs = []
    chosen, _, scores, pair = closing_choice(model, None, counting)
    assert (chosen, len(calls), scores["dice"]) == ("last", 1, pytest.approx(0.7))
    assert pair["closing_val_dice_last"] == pair["closing_val_dice_best_epoch"]


class Keeper:
    def __init__(self):
        self.best, self.images = [], []

    def log_best(self, state, meta, validator, title):
        self.best.append((meta, title))
        self.images.append(dict(validator.image_dice))

    def log_epoch(self, metrics, step):
        pass


def _train(settings: RecipeSettings, epochs: int = 2, **saliency):
    from recipes.train import train_and_report

    data = load_dataset("synthetic", n_train=10, n_test=1, size=32)
    keeper, reports = Keeper(), []
    params = TrialParams(depth=1, skips="1", patch_size=32, patch_stride=32, epochs=epochs, patches_per_epoch=8, base_channels=4, precision="fp32",
                         **saliency)
    best = train_and_report(params, data, settings, reports.append, keeper)
    return data, best, reports, keeper


def test_a_final_training_that_scores_part_of_the_split_an_epoch_closes_on_all_of_it():
    data, best, reports, keeper = _train(RecipeSettings(val_images=1, closing_val=True))
    assert len(data.val) > 1
    pair = (best.get("closing_val_dice_last"), best.get("closing_val_dice_best_epoch"))
    last = reports[-1]
    assert last["best_val_dice"] == pytest.approx(max(last["closing_val_dice_last"], last["closing_val_dice_best_epoch"]))
    assert best["val_dice"] == last["best_val_dice"] and pair == (None, None)  # the training's best is the closing's pick
    meta, title = keeper.best[-1]
    assert meta["closing"] in ("last", "best_epoch") and f"on all {len(data.val)}" in title
    assert list(keeper.images[-1]) == [s.name for s in data.val]  # the kept weights' Dice on every validation image
    assert "closing_val_dice_last" not in reports[0]  # only the last epoch closes


def test_a_validator_scores_each_image_as_its_own_split():
    from recipes.validation import Validator

    data = load_dataset("synthetic", n_train=10, n_test=1, size=32)
    model = torch.nn.Conv2d(1, 1, 1)
    torch.nn.init.constant_(model.weight, 4.0), torch.nn.init.constant_(model.bias, -2.0)  # bright pixels: foreground
    validator = Validator(data, 32, 0.25)
    validator(model)
    assert list(validator.image_dice) == [s.name for s in data.val] and len(data.val) > 1
    for s in data.val:
        one = Validator(data, 32, 0.25)
        one.images = [s]
        assert validator.image_dice[s.name] == pytest.approx(one(model)["dice"])
    assert len(set(validator.image_dice.values())) > 1  # the images differ: no split-level figure copied onto each


def test_a_final_training_its_time_limit_ends_early_still_closes_on_the_whole_split():
    data, best, reports, keeper = _train(RecipeSettings(val_images=1, closing_val=True, time_limit_s=1e-6), epochs=5)
    assert len(reports) == 1 and reports[0]["last_epoch"] == 1  # no second epoch fits: the first is the last
    assert "closing_val_dice_last" in reports[-1] and f"on all {len(data.val)}" in keeper.best[-1][1]


def test_a_time_limited_saliency_finalist_ends_within_its_limit_and_closes_once_at_its_end():
    # no round's second epoch fits: one epoch a round (not 2 + 2), numbered on, the closing after the last
    _, _, reports, _ = _train(RecipeSettings(val_images=1, closing_val=True, time_limit_s=1e-6), epochs=2,
                              saliency_percentile=50, saliency_iterations=1, saliency_epochs=2)
    assert [r["epoch"] for r in reports] == [1, 2] and [r["last_epoch"] for r in reports] == [3, 2]
    assert ["closing_val_dice_last" in r for r in reports] == [False, True]


def test_a_search_trial_and_a_training_that_scores_every_image_do_not_close():
    for settings in (RecipeSettings(val_images=1), RecipeSettings(val_images=0, closing_val=True)):
        _, _, reports, keeper = _train(settings)
        assert "closing_val_dice_last" not in reports[-1] and all("closing" not in meta for meta, _ in keeper.best)


def test_a_searchs_final_round_closes_and_its_trials_do_not():
    from search.tracking.schema import FINAL, TRIAL
    from search.trainable.context import SearchContext

    assert SearchContext("uri", "1", "p", role=FINAL, val_images=32).recipe.closing_val
    assert not SearchContext("uri", "1", "p", role=TRIAL, val_images=32).recipe.closing_val
    assert SearchContext("uri", "1", "p", role=FINAL, time_limit_s=90.0).recipe.time_limit_s == 90.0  # a budget's final round's share
