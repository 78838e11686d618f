"""Batch-norm recalibration: running statistics re-estimated for the one sub-network about to be scored."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Replace every batch-norm layer's running mean and variance with those of `model`'s current sub-network on
    `batches` (training images), averaged over all of them; weights are untouched and `model` is left in eval mode.

    A supernet's shared statistics mix every pattern's activations, which differ between patterns (a decoder with its
    skip off sees other inputs); scoring a pattern with them mis-scales its features. Returns the batches used."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, not an exponential one
        m.train()
    used = 0
    device = next(model.parameters()).device
    try:
        for batch in batches:
            model(batch.to(device))
            used += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()
    return used
