"""The saliency reduction loop: train, keep each training image's most relevant pixels, retrain."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .inference import image_tensor, sliding_window_predict


def relevance_map(probs: torch.Tensor) -> torch.Tensor:
    """Per-pixel relevance (H, W): the summed non-background probability (binary: the foreground probability)."""
    return probs[0] if probs.shape[0] == 1 else probs[1:].sum(0)


def keep_mask(relevance: np.ndarray, percentile: float) -> np.ndarray:
    """Pixels whose relevance is above the image's `percentile`-th percentile (p=90 keeps the top 10%)."""
    if not 0 <= percentile < 100:
        raise ValueError(f"saliency percentile must be in [0, 100), got {percentile}")
    if percentile == 0:
        return np.ones(relevance.shape, dtype=bool)
    flat = relevance.ravel()
    k = int(round(flat.size * (1 - percentile / 100)))
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:k]] = True  # exact count, ties broken by position
    return keep.reshape(relevance.shape)


def salient_images(
    model: nn.Module, images: Sequence[np.ndarray], percentile: float, tile: int, overlap: float = 0.5
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (masked images, keep masks): each image (C, H, W) with its non-salient pixels zeroed."""
    masked, keeps = [], []
    for image, keep in zip(images, salient_keeps(model, images, percentile, tile, overlap)):
        masked.append(np.where(keep[None], image, 0).astype(image.dtype))
        keeps.append(keep)
    return masked, keeps


def salient_keeps(model: nn.Module, images: Sequence[np.ndarray], percentile: float, tile: int, overlap: float = 0.5) -> Iterator[np.ndarray]:
    """The keep mask (H, W) of each image (C, H, W, float in [0, 1]), one image at a time."""
    for image in images:
        probs = sliding_window_predict(model, image_tensor(np.asarray(image)), tile, overlap)
        yield keep_mask(relevance_map(probs).numpy(), percentile)


def saliency_loop(
    train_images: Sequence[np.ndarray],
    train_once: Callable[[list[np.ndarray] | None, int], dict[str, float]],
    model: nn.Module,
    percentile: float,
    iterations: int,
    tile: int,
    on_iteration: Callable[[int, dict[str, float], list[np.ndarray]], None] | None = None,
) -> list[dict[str, float]]:
    """Train on the original images, then `iterations` times keep the salient pixels and retrain.

    `train_once(keeps, iteration)` trains `model` (warm-started from the previous iteration) on the training images
    with only their kept pixels (None on the first round: every pixel; else one mask per image, as packed bits
    `np.packbits(keep, axis=-1)`, 1/8 byte a pixel) and returns its validation metrics; validation data is never masked
    because only `train_images` pass through here. `train_images` (float, [0, 1]) are read one at a time, so it may be a
    lazy sequence. Saliency is always computed on the original images. p = 0 or iterations = 0 trains once.
    `on_iteration(iteration, metrics, packed keeps)` follows each round. Returns the metrics of every iteration.
    """
    if iterations < 0:
        raise ValueError(f"saliency iterations must be >= 0, got {iterations}")
    results = [train_once(None, 0)]
    if on_iteration is not None:
        on_iteration(0, results[0], [np.packbits(np.ones(im.shape[-2:], dtype=bool), axis=-1) for im in train_images])
    if percentile == 0 or iterations == 0:
        return results
    for it in range(1, iterations + 1):
        keeps = [np.packbits(keep, axis=-1) for keep in salient_keeps(model, train_images, percentile, tile)]
        results.append(train_once(keeps, it))
        if on_iteration is not None:
            on_iteration(it, results[-1], keeps)
    return results
