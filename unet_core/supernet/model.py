"""The masked-skip U-Net: every skip connection's features are multiplied by a 0/1 bit of the active pattern."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..skips import SkipSpec, all_patterns, format_skips, parse_skips
from ..unet import UNet

# residual decoders are left out: their shortcut is a 1x1 convolution when the skip doubles the input channels and the
# identity when it does not, so a masked skip would not compute what the stand-alone U-Net without that skip computes
SUPERNET_BLOCKS = ("plain", "attention")


class SkipSupernet(UNet):
    """A U-Net of one depth holding every skip pattern of that depth in one set of weights.

    Every decoder level is built with its skip on (input: skip features then up-sampled features). With pattern bit s_i
    off, level i's skip features are multiplied by 0: the decoder's weights on those channels receive zero input, so
    the output is exactly that of the stand-alone U-Net with skips `pattern` whose first decoder convolution holds the
    up-sampled channels' weights (`to_standalone` builds it). In training mode with a `sampler` set, every forward pass
    draws its own pattern (single-path one-shot training); otherwise the active `pattern` is used.

    Args:
        depth: encoder/decoder levels, 1..5.
        pattern: the active skip pattern ("1001", bits, or None for all on).
        block: "plain" or "attention" (see SUPERNET_BLOCKS).
        **unet_kwargs: the other UNet arguments (in_channels, num_classes, base_channels, upsample, batch_norm,
            dropout, padding), shared by every pattern.
    """

    def __init__(self, depth: int = 4, pattern: SkipSpec | None = None, block: str = "plain", **unet_kwargs):
        if block not in SUPERNET_BLOCKS:
            raise ValueError(f"a skip supernet needs a block of {', '.join(SUPERNET_BLOCKS)}, got {block!r}: a residual decoder's "
                             "shortcut changes with its skip, so masking the skip would not give the U-Net without it")
        unet_kwargs.pop("skips", None)
        super().__init__(depth=depth, skips=None, block=block, **unet_kwargs)
        self.unet_kwargs = {"depth": depth, "block": block, **unet_kwargs}
        self.pattern = format_skips(parse_skips(pattern, depth))
        self.sampler: Callable[[], str] | None = None

    @property
    def skips(self) -> str:
        """The active skip pattern, s1 first."""
        return self.pattern

    @property
    def patterns(self) -> list[str]:
        """Every skip pattern this supernet holds, all-off first."""
        return all_patterns(self.depth)

    def set_pattern(self, pattern: SkipSpec) -> "SkipSupernet":
        """Make `pattern` the active one (for evaluation, or training without a sampler)."""
        self.pattern = format_skips(parse_skips(pattern, self.depth))
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the active pattern (a freshly sampled one per call in training mode with a sampler)."""
        if self.training and self.sampler is not None:
            self.set_pattern(self.sampler())
        return super().forward(x)

    def skip_features(self, features: Tensor, level: int, coarse: Tensor, size: tuple[int, int]) -> Tensor:
        """The skip features where the active pattern's bit is on, zeros of their shape where it is off (the mask)."""
        if self.pattern[level - 1] == "1":
            return super().skip_features(features, level, coarse, size)
        return features.new_zeros((*features.shape[:2], *size))

    @torch.no_grad()
    def to_standalone(self, pattern: SkipSpec | None = None) -> UNet:
        """The stand-alone UNet with skips `pattern` (default: the active one) that computes what this supernet
        computes with that pattern (same weights; the up-sampled channels' slice where a skip is off)."""
        bits = parse_skips(self.pattern if pattern is None else pattern, self.depth)
        net = UNet(skips=bits, **self.unet_kwargs)
        own = self.state_dict()
        state = {}
        for key, value in net.state_dict().items():
            mine = own[key]
            if mine.shape != value.shape:  # a decoder's first convolution whose skip is off: keep the up-sampled channels
                mine = mine[:, mine.shape[1] - value.shape[1]:]
            state[key] = mine.clone()
        net.load_state_dict(state)
        return net.train(self.training)
