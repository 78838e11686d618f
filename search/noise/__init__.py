"""Noise-aware evaluation: a score measured on one validation split is that split's luck as much as the configuration's.

- reshuffle: each trial validates on its own seeded random split of the training images (Reshuffled);
- race: SMAC-style intensification on the folds of one k-fold partition (Intensifier): a configuration that tops its
  ASHA rungs is scored on more folds, paired with the incumbent, before it may replace it;
- the final round's choice: the default U-Net unless a finalist beats it by more than the paired noise (choose_final).
"""
from .choice import FinalChoice, choose_best, choose_final
from .intensify import Intensifier, configuration_key
from .reshuffle import Reshuffled

__all__ = ["FinalChoice", "Intensifier", "Reshuffled", "choose_best", "choose_final", "configuration_key"]
