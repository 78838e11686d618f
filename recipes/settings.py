"""What a recipe needs besides the configuration: the worker's CPUs and how validation is run."""
from __future__ import annotations

from dataclasses import dataclass

# "every grid patch" (patches_per_epoch 0) stops at this many patches an epoch, drawn at random from the grid anew each
# epoch: a 1000-image folder has about a million 32-px patches at a 16-px stride, and an epoch of them took hours
EPOCH_PATCH_CAP = 4096


@dataclass(frozen=True)
class RecipeSettings:
    """How a trial trains and validates on the machine it runs on (not hyper-parameters).

    Attributes:
        cpus: the trial's CPU share; torch uses that many threads (rounded, at least 1).
        eval_tile: largest tile side of full-image validation and test inference (rounded to the trial's 2**depth):
            images up to this size are predicted in one tile, larger ones in overlapping tiles. Small tiles recompute
            the overlaps (128-pixel tiles did 2.4x the work of one tile on DRIVE's 584x565 images).
        eval_overlap: tile overlap during validation.
        val_images: validation images scored every epoch, the first of the split (0: all).
        closing_val: where val_images scores only part of the split, a training that runs all its epochs ends by scoring
            its last weights and its best epoch's on the whole split, and keeps the better (a search's final round: the
            best of many epochs on a few images is a noisy, optimistic pick of the take-home model).
        time_limit_s: wall seconds a training's epochs may take (None: none): once the next epoch would not fit (at the
            mean epoch so far, or the last one's where slower), the training ends (closing as at its last planned epoch) and its cosine is fitted to
            the epochs that do fit (unet_core.TrainConfig.time_limit_s; a budget's final round). A training with
            saliency rounds shares it among them by their epochs, each round the time its earlier ones left (recipes.rounds).
    """

    cpus: float = 1.0
    eval_tile: int = 640
    eval_overlap: float = 0.25
    val_images: int = 0
    closing_val: bool = False
    time_limit_s: float | None = None

    @property
    def threads(self) -> int:
        """torch threads of the trial."""
        return max(1, int(round(self.cpus)))
