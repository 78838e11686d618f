"""The U-Net paper's border weight map, which makes the loss separate touching objects.

w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2)), with w_c balancing the class frequencies and
d1, d2 the distances to the nearest and second-nearest object (Ronneberger et al. 2015, eq. 2).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from .types import SegmentationData


def border_weight_map(mask: np.ndarray, object_class: int, class_weights: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The (H, W) float32 weight map of one class mask.

    Args:
        mask: (H, W) class indices.
        object_class: the class whose connected components are the objects (ISBI 2012: the cells, class 0).
        class_weights: w_c per class index.
        w0, sigma: the paper's border weight and width in pixels (10 and 5).
    """
    labels, count = ndimage.label(mask == object_class)
    weights = np.asarray(class_weights, np.float32)[mask]
    if count < 2:
        return weights
    reach = int(np.ceil(4 * sigma))  # beyond d1 + d2 > 4 sigma the term is below exp(-8)
    d1 = np.full(mask.shape, np.inf, np.float32)
    d2 = np.full(mask.shape, np.inf, np.float32)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        ys = slice(max(0, box[0].start - reach), min(mask.shape[0], box[0].stop + reach))
        xs = slice(max(0, box[1].start - reach), min(mask.shape[1], box[1].stop + reach))
        dist = ndimage.distance_transform_edt(labels[ys, xs] != index).astype(np.float32)
        near, second = d1[ys, xs], d2[ys, xs]
        d2[ys, xs] = np.where(dist < near, near, np.minimum(second, dist))
        d1[ys, xs] = np.minimum(near, dist)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    border = np.where(np.isfinite(border) & (labels == 0), border, 0.0)  # the border term lives between objects
    return (weights + border).astype(np.float32)


def balanced_class_weights(data: SegmentationData) -> np.ndarray:
    """w_c = N / (K * N_c) over the training masks' valid pixels (mean weight 1)."""
    counts = data.class_counts().astype(np.float64)
    return (counts.sum() / (len(counts) * np.maximum(counts, 1))).astype(np.float32)


def with_border_weights(data: SegmentationData, w0: float = 10.0, sigma: float = 5.0) -> SegmentationData:
    """The dataset with each training sample's weight map computed once (None objects: returned unchanged)."""
    if data.objects is None:
        return data
    cw = balanced_class_weights(data)
    train = [replace(s, weight=border_weight_map(s.mask, data.objects, cw, w0, sigma)) for s in data.train]
    return replace(data, train=train)


__all__ = ["border_weight_map", "balanced_class_weights", "with_border_weights"]
