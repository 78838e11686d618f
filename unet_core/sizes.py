"""The size rules of a U-Net: which depths a patch allows, and the tile grid that covers an image."""
from __future__ import annotations

from .skips import MAX_DEPTH

MIN_BOTTLENECK = 4  # the deepest feature map must keep at least 4x4 pixels

__all__ = ["MAX_DEPTH", "MIN_BOTTLENECK", "feasible", "tile_starts"]


def feasible(patch: int, depth: int) -> bool:
    """A patch suits a depth when it halves exactly `depth` times and keeps >= MIN_BOTTLENECK pixels at the bottom."""
    return patch % 2**depth == 0 and patch // 2**depth >= MIN_BOTTLENECK


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
