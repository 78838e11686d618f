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
