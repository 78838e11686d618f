"""A dataset's cases at a working resolution (the longer side `side` px): for a stored dataset, one resized store per
side, built lazily from the original store with the same atomic writes (uint8 images stay uint8); in memory otherwise.
The original cases stay where they are: validation and test score at the original resolution."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

from unet_core.rescale import resize_image, resize_labels

from .pages import release_pages
from .store import Recipe, StoredArray, open_recipe
from .types import Sample


def resize_sample(s: Sample, side: int) -> Sample:
    """`s` with its longer side `side` px: image by area averaging (in its dtype), mask, valid and weight by nearest."""
    if not side:
        return s
    image = resize_image(np.asarray(s.image), side)
    if image.shape[1:] == s.mask.shape:
        return s
    weight = None if s.weight is None else resize_labels(np.asarray(s.weight), side)
    keep = None if s.keep is None else np.packbits(resize_labels(np.unpackbits(np.asarray(s.keep), axis=1)[:, : s.mask.shape[1]], side), axis=1)
    return Sample(s.name, image, resize_labels(np.asarray(s.mask), side), resize_labels(np.asarray(s.valid, bool), side), weight, keep)


class _Resized:
    """One split of a store, resized case by case as it is iterated (len() without decoding)."""

    def __init__(self, samples: list[Sample], side: int):
        self.samples, self.side = samples, side

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        for s in self.samples:
            yield resize_sample(s, self.side)
            release_pages()  # the base store's pages leave the process as each case is read: memory stays flat with the case count


def _from_store(base: Recipe, root: Path | None = None, side: int = 0) -> dict[str, _Resized]:
    """The base store's splits, resized (a store Recipe's loader: a node that lacks the resized store builds it here)."""
    return {split: _Resized(samples, side) for split, samples in open_recipe(base).splits().items()}


def resized_recipe(base: Recipe, side: int) -> Recipe:
    """The recipe of the store of `base`'s cases at `side` (a folder inside the base store's cache entry)."""
    path = Path(base.path + ".scaled") / f"side{side}"
    return Recipe(f"{base.name}@{side}", base.root, (("side", side),), str(path), partial(_from_store, base))


def at_side(samples: list[Sample], side: int) -> list[Sample]:
    """`samples` at working resolution `side` (0: as they are): from the resized store where they come from a store
    (built on first use), else resized in memory. Names and order are kept."""
    if not side or not samples:
        return samples
    where = getattr(samples[0].image, "_where", None) if isinstance(samples[0].image, StoredArray) else None
    if where is None:
        return [resize_sample(s, side) for s in samples]
    store = open_recipe(resized_recipe(where[0], side))  # built on first use; the base store's cases in its order: an index finds a copy
    out = []
    for s in samples:
        r = store.sample(s.image._where[1])
        out.append(Sample(s.name, r.image, r.mask, r.valid, None if s.weight is None else resize_labels(np.asarray(s.weight), side),
                          None if s.keep is None else resize_sample(s, side).keep))
    return out
