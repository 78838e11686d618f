"""U-Net with a chosen depth and an on/off bit per skip connection."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import ConvBlock, Upsample
from ..skips import SkipSpec, check_depth, format_skips, parse_skips


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) whose depth and skip connections are parameters.

    Encoder level i (1..depth) is a ConvBlock with `base_channels * 2**(i-1)` channels followed by a
    2x2 max-pool; the bottleneck has `base_channels * 2**depth` channels. Decoder level i up-samples
    the coarser features to `base_channels * 2**(i-1)` channels and, when skip bit s_i is on,
    concatenates encoder level i's output before its ConvBlock (so its input has twice the channels);
    when s_i is off it gets the up-sampled features alone. A 1x1 convolution makes the logits.

    Args:
        in_channels: image channels (1 grey, 3 RGB).
        num_classes: output channels; 1 means a binary task with a sigmoid head, k >= 2 a softmax over k.
        depth: number of encoder/decoder levels n, 1..5. Inputs must be divisible by 2**n.
        skips: one bit per level, s1 nearest the input .. sn deepest: a string like "1001", a sequence
            of bools or 0/1, or None for all skips on (the classic U-Net).
        base_channels: channels of the first level (the paper's 64), doubling per level.
        upsample: "transpose" (2x2 up-convolution), "bilinear" or "nearest" (+ 1x1 convolution).
        batch_norm: batch norm after every 3x3 convolution.
        dropout: Dropout2d probability at the end of the two deepest encoder blocks and the bottleneck
            (the paper's drop-out at the end of the contracting path); 0 disables it.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        depth: int = 4,
        skips: SkipSpec | None = None,
        base_channels: int = 64,
        upsample: str = "transpose",
        batch_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_depth(depth)
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("base_channels", base_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.depth = depth
        self.skip_bits = parse_skips(skips, depth)
        self.in_channels = in_channels
        self.num_classes = num_classes

        widths = [base_channels * 2**i for i in range(depth + 1)]  # widths[i-1] = level i, widths[depth] = bottleneck
        deep = lambda level: dropout if level >= depth - 1 else 0.0  # noqa: E731
        self.encoders = nn.ModuleList()
        cin = in_channels
        for level in range(1, depth + 1):
            self.encoders.append(ConvBlock(cin, widths[level - 1], batch_norm, deep(level)))
            cin = widths[level - 1]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(widths[depth - 1], widths[depth], batch_norm, dropout)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(depth, 0, -1):
            width = widths[level - 1]
            self.ups.append(Upsample(widths[level], width, upsample))
            dec_in = width * 2 if self.skip_bits[level - 1] else width
            self.decoders.append(ConvBlock(dec_in, width, batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    @property
    def skips(self) -> str:
        """The skip pattern as a string, s1 first."""
        return format_skips(self.skip_bits)

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError if `x` is not (B, in_channels, H, W) with H and W divisible by 2**depth."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        factor = 2**self.depth
        h, w = x.shape[-2:]
        if h % factor or w % factor:
            raise ValueError(
                f"input size {h}x{w} is not divisible by 2**depth = {factor}: "
                f"use patches or padding that are multiples of {factor}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Return logits of shape (B, num_classes, H, W)."""
        self.check_input(x)
        features = []
        for enc in self.encoders:
            x = enc(x)
            features.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, level in zip(self.ups, self.decoders, range(self.depth, 0, -1)):
            x = up(x)
            if self.skip_bits[level - 1]:
                x = torch.cat([features[level - 1], x], dim=1)
            x = dec(x)
        return self.head(x)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, skips={self.skips!r}"
