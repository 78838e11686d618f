"""Common random numbers for the initial weights: every layer draws from its own stream, named by seed and position."""
from __future__ import annotations

import hashlib

import torch
from torch import nn


def layer_seed(seed: int, name: str) -> int:
    """A 63-bit seed for the layer at `name` (its qualified module name) under a trial's `seed`."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little") >> 1


@torch.no_grad()
def seeded_init(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every layer of `model` from a stream of its own (see `layer_seed`), in place.

    Two U-Nets built with the same seed then start with identical weights wherever they have the same layer
    at the same place (the encoder of every skip pattern of a depth, say), whatever else differs, so their
    paired difference measures the architecture rather than the draw of the initial weights.
    """
    state = torch.random.get_rng_state()
    try:
        for name, module in model.named_modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset) and any(True for _ in module.parameters(recurse=False)):
                torch.manual_seed(layer_seed(seed, name))
                reset()
    finally:
        torch.random.set_rng_state(state)
    return model


@torch.no_grad()
def prior_bias_init(head: nn.Conv2d, class_fractions) -> nn.Conv2d:
    """Set the output layer's bias so the untrained network predicts the classes' prior frequencies (RetinaNet's
    initialisation): logit(p) of the foreground for a one-channel sigmoid head, log(p_k) for a softmax head.

    Without it a U-Net on data with ~12% foreground first learns to predict background everywhere and, in short
    budgets, often never leaves that state: on DRIVE 8 epochs left such trials at Dice 0.00-0.07 while the same
    trials with this initialisation reached 0.71-0.73."""
    p = torch.as_tensor(class_fractions, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    if head.bias is None:
        return head
    if head.out_channels == 1:
        if len(p) != 2:
            raise ValueError(f"a one-channel head needs the fractions of 2 classes, got {len(p)}")
        head.bias.fill_(float(torch.log(p[1] / p[0])))
    else:
        if len(p) != head.out_channels:
            raise ValueError(f"a {head.out_channels}-channel head needs {head.out_channels} class fractions, got {len(p)}")
        head.bias.copy_(torch.log(p / p.sum()).to(head.bias.dtype))
    return head
