"""Prediction pictures: image, ground truth and prediction side by side for a few validation images."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show_image(image: np.ndarray) -> np.ndarray:
    return image[0] if image.shape[0] == 1 else np.clip(image[:3].transpose(1, 2, 0), 0, 1)


def _label_map(probs: np.ndarray) -> np.ndarray:
    return (probs[0] >= 0.5).astype(np.uint8) if probs.shape[0] == 1 else probs.argmax(0)


def prediction_figure(items: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]], title: str = "") -> plt.Figure:
    """A figure with one row per (name, image (C,H,W), mask, valid, probs (K,H,W)): image | truth | prediction."""
    fig, axes = plt.subplots(len(items), 3, figsize=(9, 3 * len(items)), squeeze=False)
    for row, (name, image, mask, valid, probs) in zip(axes, items):
        pred = _label_map(probs)
        vmax = max(1, int(mask.max()), int(pred.max()))
        panels = [(_show_image(image), "gray", f"{name}"), (np.where(valid, mask, 0), "viridis", "ground truth"), (np.where(valid, pred, 0), "viridis", "prediction")]
        for ax, (arr, cmap, label) in zip(row, panels):
            ax.imshow(arr, cmap=cmap, vmin=0, vmax=None if arr.ndim == 3 or label == name else vmax, interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
