"""Reshuffled validation (Nagler et al. 2024): each trial validates on its own random split of the training images, so a
search cannot pick one split's luck by comparing every configuration on it."""
from __future__ import annotations

from typing import Any

import numpy as np
from ray.tune.search import Searcher

from .wrap import SearcherWrapper

VAL_SEED = "val_seed"  # the trial config's key (recipes.TrialParams.val_seed): the seed of its validation split


def split_seed_of(search_seed: int, trial_number: int) -> int:
    """The validation split seed of a search's `trial_number`-th trial: reproducible from the search's seed."""
    return int(np.random.default_rng([int(search_seed), int(trial_number), 41]).integers(2**31 - 1))


class Reshuffled(SearcherWrapper):
    """Adds `val_seed` (a per-trial split seed from `seed` and the trial's number) to each suggestion of `searcher`."""

    def __init__(self, searcher: Searcher, seed: int):
        super().__init__(searcher)
        self.seed, self.count = int(seed), 0

    def suggest(self, trial_id: str):
        """The wrapped searcher's suggestion with its own validation split seed."""
        config = self.searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        self.count += 1
        return {**config, VAL_SEED: split_seed_of(self.seed, self.count - 1)}

    def state(self) -> dict[str, Any]:
        """The trial count (it numbers the next split)."""
        return {"count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        """Restore the trial count."""
        self.count = int(state["count"])
