"""The search's dataset, read once on the driver, and what it allows: the settled patch size and the space's limits."""
from __future__ import annotations

from dataclasses import replace

from datasets import SegmentationData, compute_fingerprint, load_dataset
from datasets.fingerprint import Fingerprint, recommend_patch
from datasets.weights import with_border_weights
from search.config import SearchConfig
from search.errors import ConfigError
from search.spaces import SpaceLimits, create_space
from unet_core.losses import PIXEL_WEIGHTED


def load_data(cfg: SearchConfig) -> SegmentationData:
    """The dataset of the search, decoded once (DatasetError on bad input); with border weight maps where a
    border-weighted loss can be tried, computed once here for every trial."""
    data = load_dataset(cfg.dataset, cfg.data_root, seed=cfg.seed, **cfg.dataset_options)
    pool = len(data.train) + len(data.val)
    if cfg.folds > pool:
        raise ConfigError(f"--folds {cfg.folds}: {data.name} has {pool} training images (validation included); use at most {pool} folds")
    if data.objects is not None and (create_space(cfg.space).border_weights or cfg.loss in PIXEL_WEIGHTED):
        data = with_border_weights(data)
    return data


def fingerprint_at(data: SegmentationData, side: int) -> Fingerprint:
    """The dataset's fingerprint as the images look at working resolution `side` (0: as they are): shapes and structure
    width scaled, the patch recommended from those."""
    fp = compute_fingerprint(data)
    if not side:
        return fp
    scale = side / max(fp.image_shape)
    shape = lambda s: [max(1, round(v * scale)) for v in s]  # noqa: E731
    width = fp.structure_width * scale
    return replace(fp, image_shape=shape(fp.image_shape), min_shape=shape(fp.min_shape), max_shape=shape(fp.max_shape), structure_width=width,
                   recommended_patch=recommend_patch(width, min(shape(fp.min_shape))))


def settle_patch(cfg: SearchConfig, data: SegmentationData) -> SearchConfig:
    """`cfg` with an auto patch size (0) replaced by the dataset fingerprint's recommendation at the working resolution
    (ConfigError where a requested depth cannot use it)."""
    if cfg.patch_size:
        return cfg
    return replace(cfg, patch_size=fingerprint_at(data, cfg.image_side).recommended_patch)


def space_limits(cfg: SearchConfig, data: SegmentationData) -> SpaceLimits:
    """The depths and patches this dataset allows for this search (ConfigError when --depths/--skips ask too much)."""
    try:
        limits = SpaceLimits.from_fingerprint(fingerprint_at(data, cfg.image_side), requested=cfg.ablation_depths if cfg.skips else cfg.depths)
        return replace(limits, border_weights=data.objects is not None)
    except ValueError as exc:
        raise ConfigError(f"{data.name}: {exc}") from None


def prepared(cfg: SearchConfig) -> tuple[SearchConfig, SegmentationData, SpaceLimits]:
    """(cfg with its patch settled, the dataset, the space's limits on it)."""
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    return cfg, data, space_limits(cfg, data)
