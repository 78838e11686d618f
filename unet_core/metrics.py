"""Segmentation metrics accumulated over a whole split from confusion counts, inside the valid mask."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

AUC_BINS = 4096


class SegmentationMetrics:
    """Accumulates a confusion matrix (and, for binary tasks, a probability histogram for ROC-AUC).

    Call `update(probs, target, valid)` per batch or image, then `compute()` once for the split:
    metrics come from the summed counts, never from per-batch averages.

    Args:
        num_classes: 1 for a binary sigmoid head (scored as 2 classes), else the number of classes.
        background: index of the class left out of the foreground mean (None: every class is foreground).
            Binary tasks always treat class 0 as background.
        auc: whether a binary task keeps the probability histogram (`auc`; off: NaN, and no histogram to fill).
    """

    def __init__(self, num_classes: int = 1, background: int | None = 0, auc: bool = True):
        self.binary = num_classes == 1
        self.classes = 2 if self.binary else num_classes
        self.background = 0 if self.binary else background
        self.confusion = np.zeros((self.classes, self.classes), dtype=np.int64)  # [true, predicted]
        self.hist = np.zeros((2, AUC_BINS), dtype=np.int64) if self.binary and auc else None

    def update(self, probs: Tensor, target: Tensor, valid: Tensor | None = None) -> np.ndarray:
        """Add a batch: probs (B, 1|K, H, W) or (1|K, H, W) probabilities, target/valid (B, H, W) or (H, W); returns the
        batch's own confusion counts [true, predicted] (one image's, for `dice_of`)."""
        if probs.ndim == 3:
            probs, target = probs[None], target[None]
            valid = None if valid is None else valid[None]
        probs = probs.detach().float().cpu()
        target = target.detach().long().cpu()
        if self.binary:
            p = probs[:, 0]
            pred = (p >= 0.5).long()
        else:
            p = None
            pred = probs.argmax(1)
        keep = torch.ones_like(target, dtype=torch.bool) if valid is None else valid.detach().cpu().bool()
        t, y = target[keep], pred[keep]
        if t.numel() and (t.min() < 0 or t.max() >= self.classes):
            raise ValueError(f"target holds class {int(t.max())} but the task has {self.classes} classes")
        counts = torch.bincount(t * self.classes + y, minlength=self.classes**2).reshape(self.classes, self.classes).numpy()
        self.confusion += counts
        if self.hist is not None:
            bins = (p[keep] * (AUC_BINS - 1)).round().long().clamp(0, AUC_BINS - 1)
            for cls in (0, 1):
                self.hist[cls] += torch.bincount(bins[t == cls], minlength=AUC_BINS).numpy()
        return counts

    def dice_of(self, counts: np.ndarray) -> float:
        """The foreground Dice of confusion `counts` alone (as `compute`'s `dice` of a split holding only them)."""
        return float(_per_class(counts)["dice"][self._foreground()].mean())

    def _foreground(self) -> list[int]:
        return [c for c in range(self.classes) if c != self.background]

    def compute(self) -> dict[str, float]:
        """Return the split's metrics.

        Keys: `dice`, `iou`, `precision`, `recall` (= sensitivity), `specificity` (foreground mean),
        the same per class as `dice_c{i}` etc., `accuracy`, `auc` (binary only), and
        `dice_with_background`: the mean Dice over all classes including background, the figure some
        published ablations quote; it stays high (~0.99) for poor models on thin structures.
        """
        cm = self.confusion.astype(np.float64)
        per = _per_class(cm)
        fg = self._foreground()
        out: dict[str, float] = {}
        for name, values in per.items():
            out[name] = float(values[fg].mean())
            for c in range(self.classes):
                out[f"{name}_c{c}"] = float(values[c])
        out["accuracy"] = float(_div(np.diag(cm).sum(), cm.sum()))
        out["dice_with_background"] = float(per["dice"].mean())
        if self.binary:
            out["auc"] = histogram_auc(self.hist[0], self.hist[1]) if self.hist is not None else float("nan")
        return out


def _div(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def _per_class(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Each class's dice, iou, precision, recall and specificity from confusion counts [true, predicted]."""
    cm = confusion.astype(np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    tn = cm.sum() - tp - fp - fn
    return {"dice": _div(2 * tp, 2 * tp + fp + fn), "iou": _div(tp, tp + fp + fn), "precision": _div(tp, tp + fp),
            "recall": _div(tp, tp + fn), "specificity": _div(tn, tn + fp)}


def histogram_auc(neg_hist: np.ndarray, pos_hist: np.ndarray) -> float:
    """ROC-AUC from histograms of negative and positive scores over the same ordered bins (ties count half)."""
    neg, pos = neg_hist.astype(np.float64), pos_hist.astype(np.float64)
    n_neg, n_pos = neg.sum(), pos.sum()
    if n_neg == 0 or n_pos == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(((neg_below + 0.5 * neg) * pos).sum() / (n_neg * n_pos))
