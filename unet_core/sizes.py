"""The size rules of a U-Net: which depths a patch allows, and the tile grid that covers an image."""
from __future__ import annotations

from .skips import MAX_DEPTH

MIN_BOTTLENECK = 4  # the deepest feature map must keep at least 4x4 pixels

__all__ = ["MAX_DEPTH", "MIN_BOTTLENECK", "feasible", "infeasible", "smallest_patch", "tile_starts"]


def smallest_patch(depth: int) -> int:
    """The smallest patch side a U-Net of `depth` levels takes: MIN_BOTTLENECK pixels after `depth` halvings."""
    return MIN_BOTTLENECK * 2**depth


def feasible(patch: int, depth: int) -> bool:
    """A patch suits a depth when it halves exactly `depth` times and keeps >= MIN_BOTTLENECK pixels at the bottom."""
    return patch % 2**depth == 0 and patch >= smallest_patch(depth)


def infeasible(patch: int, depth: int) -> str | None:
    """Why a `patch`-pixel side does not suit `depth` levels and what would, in words (None where it suits)."""
    if feasible(patch, depth):
        return None
    return f"cannot be halved {depth} times keeping >= {MIN_BOTTLENECK} pixels: use a multiple of {2**depth} of at least {smallest_patch(depth)}"


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles of size `tile` every `stride` pixels covering [0, length); the last ends flush."""
    if tile < 1 or stride < 1:
        raise ValueError(f"tile and stride must be positive, got tile={tile}, stride={stride}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts
