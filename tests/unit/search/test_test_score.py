"""A search scores its choice on the test split as search.predict serves it (flip TTA), and each image once beside it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from datasets import SegmentationData, full_images
from datasets.types import Sample
from search.driver import results
from unet_core import TTA_DEFAULT, evaluate_images


def test_the_test_score_is_the_served_prediction_and_the_bare_one_is_kept_beside_it():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 1, 3, padding=1).eval()  # random weights: its predictions differ from their mirror images'
    rng = np.random.default_rng(0)
    samples = [Sample(f"i{i}", rng.random((3, 32, 40), dtype=np.float32), (rng.random((32, 40)) > 0.5).astype(np.uint8),
                      np.ones((32, 40), bool)) for i in range(3)]
    with torch.no_grad():  # centre its logits: about half of each image foreground
        model.bias -= model(torch.from_numpy(np.stack([s.image for s in samples]))).mean()
    data = SegmentationData("toy", ["background", "fg"], 0, samples, samples, samples)
    scores = results.test_score(None, "run", data, trained=(model, {"eval_tile": 32}))
    with torch.no_grad():
        served = evaluate_images(model, full_images(samples), data.num_classes, 32, 0.5, 0, tta=TTA_DEFAULT, per_image=True)
        alone = evaluate_images(model, full_images(samples), data.num_classes, 32, 0.5, 0, per_image=True)
    assert TTA_DEFAULT != "none" and served["mean_dice"] != alone["mean_dice"]
    assert scores["mean_dice"] == served["mean_dice"] and scores["dice"] == served["dice"]
    assert scores["mean_dice_no_tta"] == alone["mean_dice"] and scores["dice_no_tta"] == alone["dice"]


def test_a_choice_trained_on_folds_is_scored_as_the_average_of_its_fold_models(monkeypatch):
    torch.manual_seed(1)
    first, second = (torch.nn.Conv2d(3, 1, 3, padding=1).eval() for _ in range(2))
    rng = np.random.default_rng(1)
    samples = [Sample(f"i{i}", rng.random((3, 24, 24), dtype=np.float32), (rng.random((24, 24)) > 0.5).astype(np.uint8),
                      np.ones((24, 24), bool)) for i in range(2)]
    data = SegmentationData("toy", ["background", "fg"], 0, samples, samples, samples)
    monkeypatch.setattr(results, "trained_model", lambda client, run_id: ({"f1-new": second}[run_id], {"eval_tile": 24}))
    scores = results.test_score(None, "f0", data, trained=(first, {"eval_tile": 24}), folds=("f1-new",))
    with torch.no_grad():
        both = evaluate_images([first, second], full_images(samples), data.num_classes, 24, 0.5, 0, tta=TTA_DEFAULT)
        each_once = evaluate_images([first, second], full_images(samples), data.num_classes, 24, 0.5, 0)
    assert scores["models"] == 2 and scores["dice"] == both["dice"] and scores["dice_no_tta"] == each_once["dice"]


def test_the_score_without_tta_costs_no_pass_beyond_the_served_ones():
    class Counting(torch.nn.Conv2d):
        calls = 0

        def forward(self, x):
            Counting.calls += 1
            return super().forward(x)

    model = Counting(3, 1, 3, padding=1).eval()
    samples = [Sample("i0", np.zeros((3, 24, 24), np.float32), np.zeros((24, 24), np.uint8), np.ones((24, 24), bool))]
    data = SegmentationData("toy", ["background", "fg"], 0, samples, samples, samples)
    with torch.no_grad():
        evaluate_images(model, full_images(samples), data.num_classes, 24, 0.5, 0, tta=TTA_DEFAULT)
    served, Counting.calls = Counting.calls, 0
    scores = results.test_score(None, "run", data, trained=(model, {"eval_tile": 24}))
    assert served == 4 and Counting.calls == served and "mean_dice_no_tta" in scores  # 4 mirror views, the first one as is


def test_the_other_folds_are_the_newest_finished_run_of_each_fold_but_the_best_ones():
    runs = pd.DataFrame({"run_id": ["a0", "a1-old", "a1-new", "a2"], "run_name": ["c-f0-final", "c-f1-final", "c-f1-final", "c-f2-final"],
                         "start_time": [1, 2, 5, 3]})
    assert results.other_folds(runs, runs.iloc[0]) == ("a2", "a1-new")
