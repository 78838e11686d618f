"""Segmentation losses for binary (1 logit channel) and multi-class (k channels) heads.

Every loss is called as `loss(logits, target, valid=None)`:
- logits: (B, 1, H, W) for binary tasks, (B, K, H, W) for K >= 2 classes;
- target: (B, H, W) class indices (binary: 0/1);
- valid: optional (B, H, W) bool/0-1 mask of the pixels that count (DRIVE's field of view);
  pixels outside it contribute nothing.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Registry

_LOSSES: Registry = Registry("loss", ValueError)  # name -> a factory of the loss (class_weights) -> nn.Module
register_loss = _LOSSES.register_as
# losses whose per-pixel weights come from the data (the U-Net paper's border weight map, datasets.weights)
PIXEL_WEIGHTED = ("border_ce",)
EPS = 1e-6


def _prepare(logits: Tensor, target: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Return class probabilities (B, C, H, W) with C >= 2, one-hot targets and the valid weights (B, 1, H, W)."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, C, H, W), got {tuple(logits.shape)}")
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"target must be (B, H, W) matching logits {tuple(logits.shape)}, got {tuple(target.shape)}")
    target = target.long()
    if logits.shape[1] == 1:
        p1 = torch.sigmoid(logits.float())
        probs = torch.cat([1 - p1, p1], dim=1)
        classes = 2
    else:
        probs = torch.softmax(logits.float(), dim=1)
        classes = logits.shape[1]
    onehot = F.one_hot(target, classes).permute(0, 3, 1, 2).float()
    v = torch.ones_like(target, dtype=torch.float32) if valid is None else valid.float()
    return probs, onehot, v.unsqueeze(1)


def _dice_terms(logits: Tensor, target: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    probs, onehot, v = _prepare(logits, target, valid)
    dims = (0, 2, 3)
    inter = (probs * onehot * v).sum(dims)
    denom = ((probs + onehot) * v).sum(dims)
    return inter, denom, onehot


def _pixel_mean(values: Tensor, valid: Tensor | None, weights: Tensor | None = None) -> Tensor:
    """Average per-pixel values (B, H, W) over valid pixels, weighted by `weights` if given."""
    w = torch.ones_like(values) if valid is None else valid.float()
    if weights is not None:
        w = w * weights
    return (values * w).sum() / w.sum().clamp_min(EPS)


def _ce_per_pixel(logits: Tensor, target: Tensor) -> Tensor:
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), target.float(), reduction="none")
    return F.cross_entropy(logits.float(), target.long(), reduction="none")


class DiceLoss(nn.Module):
    """Soft Dice loss 1 - 2|P∩T| / (|P| + |T|) over the whole batch.

    Binary heads score the foreground class only; multi-class heads average the Dice of all classes.
    """

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        inter, denom, _ = _dice_terms(logits, target, valid)
        dice = (2 * inter + EPS) / (denom + EPS)
        return 1 - (dice[1] if logits.shape[1] == 1 else dice.mean())


class CrossEntropyLoss(nn.Module):
    """Binary cross-entropy (1 channel) or cross-entropy (k channels), optionally class-weighted.

    Args:
        class_weights: one weight per class (binary: [w_background, w_foreground]); the loss is the
            weighted mean sum(w_t * l) / sum(w_t) over valid pixels, as torch's weighted cross-entropy.
    """

    def __init__(self, class_weights: Sequence[float] | Tensor | None = None):
        super().__init__()
        w = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", w)

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        pixel_weights = None if self.class_weights is None else self.class_weights[target.long()]
        return _pixel_mean(_ce_per_pixel(logits, target), valid, pixel_weights)


class WeightedCrossEntropyLoss(CrossEntropyLoss):
    """Cross-entropy weighted by w_i = total pixels / pixels of class i.

    Args:
        class_weights: precomputed weights (e.g. from the training masks); if None they are computed
            from each batch's valid pixels.
    """

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        if self.class_weights is not None:
            return super().forward(logits, target, valid)
        classes = max(2, logits.shape[1])
        weights = class_weights_from_counts(_class_counts(target, valid, classes)).to(logits.device)
        return _pixel_mean(_ce_per_pixel(logits, target), valid, weights[target.long()])


class DiceBCELoss(nn.Module):
    """Dice loss plus (binary) cross-entropy, both with weight 1 by default."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0):
        super().__init__()
        self.dice, self.ce = DiceLoss(), CrossEntropyLoss()
        self.dice_weight, self.ce_weight = dice_weight, ce_weight

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        return self.dice_weight * self.dice(logits, target, valid) + self.ce_weight * self.ce(logits, target, valid)


class GeneralizedDiceLoss(nn.Module):
    """Generalized Dice (Sudre et al. 2017): classes weighted by 1 / (reference volume)^2, background included."""

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        inter, denom, onehot = _dice_terms(logits, target, valid)
        _, _, v = _prepare(logits, target, valid)
        volume = (onehot * v).sum((0, 2, 3))
        w = 1.0 / volume.clamp_min(1.0) ** 2
        return 1 - (2 * (w * inter).sum() + EPS) / ((w * denom).sum() + EPS)


class FocalLoss(nn.Module):
    """Focal loss -(1 - p_t)^gamma log p_t (Lin et al. 2017), averaged over valid pixels.

    Args:
        gamma: focusing parameter; 0 gives cross-entropy.
    """

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        ce = _ce_per_pixel(logits, target)
        p_t = torch.exp(-ce)
        return _pixel_mean((1 - p_t) ** self.gamma * ce, valid)


def _class_counts(target: Tensor, valid: Tensor | None, classes: int) -> Tensor:
    t = target.long().flatten()
    if valid is not None:
        t = t[valid.flatten().bool()]
    return torch.bincount(t, minlength=classes).float()


def class_weights_from_counts(counts: Sequence[float] | Tensor) -> Tensor:
    """w_i = total pixels / pixels of class i (a class with no pixels gets weight 0)."""
    c = torch.as_tensor(counts, dtype=torch.float32)
    return torch.where(c > 0, c.sum() / c.clamp_min(1.0), torch.zeros_like(c))


def _plain(cls: type[nn.Module]):
    """A factory of a loss that takes no class weights."""
    return lambda class_weights=None: cls()


for _name, _factory in (("dice", _plain(DiceLoss)), ("bce", _plain(CrossEntropyLoss)), ("ce", _plain(CrossEntropyLoss)),
                        ("dice_bce", _plain(DiceBCELoss)), ("weighted_ce", WeightedCrossEntropyLoss),
                        ("generalized_dice", _plain(GeneralizedDiceLoss)), ("focal", _plain(FocalLoss)),
                        ("border_ce", _plain(CrossEntropyLoss))):  # border_ce: the weights arrive as the valid map
    register_loss(_name)(_factory)
LOSSES = _LOSSES.names()


def build_loss(name: str, class_weights: Sequence[float] | None = None) -> nn.Module:
    """Make a registered loss by name: dice, bce (= ce), dice_bce, weighted_ce, generalized_dice, focal or border_ce.

    `class_weights` are used by weighted_ce (computed per batch when omitted). `border_ce` is the U-Net
    paper's weighted cross-entropy: the per-pixel weights w(x) arrive in place of the valid mask (a float
    map, zero outside it), so the loss is sum(w * l) / sum(w); the data pipeline supplies them.
    A new loss is one class and one `register_loss(name)` line.
    """
    return _LOSSES.create(name)(class_weights)
