"""What a dataset allows a search: the depths to try and the largest patch."""
from __future__ import annotations

from dataclasses import dataclass

from datasets.fingerprint import Fingerprint
from unet_core.sizes import MAX_DEPTH, smallest_patch

PATCH_STEP = 16


@dataclass(frozen=True)
class SpaceLimits:
    """What the dataset (and the user's --depths) allows: the depths to search and the largest patch."""

    depths: tuple[int, ...]
    max_patch: int
    border_weights: bool = False  # the dataset has separable objects: border_ce joins the full space's losses

    @property
    def max_depth(self) -> int:
        """The deepest U-Net searched."""
        return max(self.depths)

    @classmethod
    def from_fingerprint(cls, fp: Fingerprint, cap_depth: int = 4, requested: tuple[int, ...] = ()) -> "SpaceLimits":
        """Depths capped at `cap_depth` (or the `requested` ones) and by the fingerprint; the largest patch a PATCH_STEP multiple."""
        max_patch = (min(fp.min_shape) // PATCH_STEP) * PATCH_STEP
        fits = [d for d in fp.feasible_depths if smallest_patch(d) <= max_patch]
        if not fits:  # a few small images among larger ones: the patcher pads them, so the typical image decides
            max_patch = (min(fp.image_shape) // PATCH_STEP) * PATCH_STEP
            fits = [d for d in range(1, MAX_DEPTH + 1) if smallest_patch(d) <= max_patch]
        too_deep = [d for d in requested if d not in fits]
        if too_deep:
            raise ValueError(f"depth {too_deep[0]} needs patches of at least {smallest_patch(too_deep[0])} pixels, "
                             f"but images of {fp.min_shape[0]}x{fp.min_shape[1]} allow depths {', '.join(map(str, fits)) or 'none'}")
        depths = list(requested) or [d for d in fits if d <= cap_depth]
        if not depths:
            raise ValueError(f"images of {fp.image_shape[0]}x{fp.image_shape[1]} (the median) are too small for any U-Net depth")
        return cls(depths=tuple(sorted(depths)), max_patch=max_patch)


def min_patch(depth: int) -> int:
    """The smallest PATCH_STEP-multiple patch that keeps >= 4 pixels after `depth` halvings."""
    need = max(smallest_patch(depth), PATCH_STEP)
    return -(-need // PATCH_STEP) * PATCH_STEP
