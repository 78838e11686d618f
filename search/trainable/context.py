"""What every trial of a search shares besides its hyper-parameters: where to record, and how to train and validate."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from datasets import SegmentationData
from recipes import RecipeSettings
from search.tracking.schema import FINAL, TRIAL


@dataclass
class SearchContext:
    """What every trial of a search shares (not hyper-parameters).

    Attributes:
        tracking_uri: the MLflow tracking URI.
        experiment_id: the MLflow experiment.
        parent_run_id: the search's parent run.
        cpus_per_trial: CPU share of a trial; torch uses that many threads.
        data_digest: a hash of the dataset, logged as the runs' input.
        eval_tile / eval_overlap: full-image validation and test inference (recipes.RecipeSettings).
        outbox_dir: where a trial keeps the MLflow writes the store did not take (search.tracking.outbox); the driver sends
            what is left there after Tune ends.
        val_images: validation images scored every epoch, the first of the split (0: all).
        role: the trial runs' unet.role tag (search.tracking.schema): TRIAL for the search's trials, FINAL for its
            re-ranking at the final budget, SUPERNET for a supernet search's supernets (search.strategies.supernet).
        time_limit_s: wall seconds each training's epochs may take (RecipeSettings.time_limit_s; a budget's final
            round: its share of the time left, so epochs slower than measured still end within the budget).
    """

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    cpus_per_trial: float = 1.0
    data_digest: str = ""
    eval_tile: int = 640
    eval_overlap: float = 0.25
    outbox_dir: str = ""
    role: str = TRIAL
    val_images: int = 0
    time_limit_s: float | None = None

    @property
    def recipe(self) -> RecipeSettings:
        """How the trials train and validate (the recipe's settings): the final round's trainings close on the whole
        validation split."""
        return RecipeSettings(cpus=self.cpus_per_trial, eval_tile=self.eval_tile, eval_overlap=self.eval_overlap, val_images=self.val_images,
                              closing_val=self.role == FINAL, time_limit_s=self.time_limit_s)


def data_digest(data: SegmentationData) -> str:
    """A short hash of a dataset's training images and masks (of a stored dataset: its store, which names its files'
    sizes and times and the options, and the training images' names, without reading every pixel again)."""
    h = hashlib.sha256(data.name.encode())
    if data.store is not None:
        h.update(data.store.encode())
        h.update("\n".join(s.name for s in data.train + data.val).encode())
        return h.hexdigest()[:32]
    for s in data.train + data.val:
        h.update(s.name.encode())
        h.update(np.ascontiguousarray(s.image).tobytes())
        h.update(np.ascontiguousarray(s.mask).tobytes())
    return h.hexdigest()[:32]
